"""Schemathesis against the live OpenAPI document of a real oracle_api: no 5xx, nothing outside the spec.

oracle_api runs as its own process (``python -m telemetron_oracle_api``, deploy/local/stack.py) on
free ports over a real SQLite file holding traces: an SDK's spans over OTLP gRPC, and the simulated
run that ``POST /api/v1/debug/simulate-trace`` sends to this receiver. Schemathesis' CLI generates
requests from ``/openapi.json`` (boundary and negative values, random ones, then chains of calls)
with a bounded example count, and checks each answer's status, content type, headers and body
against the document. Every operation in the document is tested; the WebSocket ``/ws/debug/{id}``
and the dashboard page are not in it (OpenAPI cannot describe a WebSocket; the page is HTML).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from stack import OracleApi, OracleApiConfig

MAX_EXAMPLES = 25  # per operation and phase: about 1,500 requests, some 20 s here
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"


@pytest.fixture
def live_oracle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = OracleApiConfig.on_free_ports(tmp_path / "telemetron.db")
    monkeypatch.setenv("TELEMETRON_SIMULATE_OTLP_ENDPOINT", config.grpc_endpoint)  # the simulated run comes back here
    monkeypatch.setenv("TELEMETRON_SNAPSHOT_INTERVAL_S", "1")  # snapshots to diff exist before Schemathesis starts
    oracle = OracleApi(config, log_path=tmp_path / "oracle_api.log")
    oracle.start()
    try:
        yield config
    finally:
        oracle.stop()


def _stored_snapshot_ids(base: str) -> list[str]:
    """Ids of the Oracle's stored snapshots, once there are at least two."""
    deadline = time.monotonic() + 30
    while True:
        snapshots = httpx.get(f"{base}/api/v1/oracle/snapshots", timeout=10).json()["snapshots"]
        if len(snapshots) >= 2:
            return [str(s["id"]) for s in snapshots]
        assert time.monotonic() < deadline, f"the Oracle took no snapshots in 30 s: {snapshots}"
        time.sleep(0.2)


def test_every_operation_answers_within_its_openapi_document(live_oracle: OracleApiConfig, tmp_path: Path):
    base = live_oracle.base_url
    for error in (False, True):
        assert httpx.post(f"{base}/api/v1/debug/simulate-trace", json={"error": error}, timeout=30).status_code == 200
    assert len(httpx.get(f"{base}/api/services", timeout=10).json()["data"]) == 2
    trace_ids = [t["trace_id"] for t in httpx.get(f"{base}/api/v1/traces", timeout=10).json()["traces"]]
    snapshot_ids = _stored_snapshot_ids(base)
    # Half of the trace and snapshot ids Schemathesis sends are stored ones, so the trace views and the Oracle's
    # history (state?at=, diff?since=&until=) are reached, not only their 404.
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f"[dictionaries.stored_traces]\nvalues = {trace_ids!r}\n\n"
        f"[dictionaries.stored_snapshots]\nvalues = {snapshot_ids!r}\n\n"
        "[parameters]\n"
        '"path.trace_id" = { dictionary = "stored_traces", probability = 0.5 }\n'
        + "".join(
            f'"query.{name}" = {{ dictionary = "stored_snapshots", probability = 0.5 }}\n'
            for name in ("since", "until", "at")
        )
    )

    report = tmp_path / "schemathesis.txt"
    with report.open("w") as out:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(config),
                "run",
                f"{base}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                str(MAX_EXAMPLES),
                "--workers",
                "1",  # two threads parsing ASTs at once trip CPython 3.11 ("AST constructor recursion depth mismatch")
                "--request-timeout",
                "30",
                "--no-color",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
            check=False,
            cwd=tmp_path,  # its cache goes there
        )
    text = report.read_text()
    assert result.returncode == 0, text[-20_000:]
    operations = len([op for item in httpx.get(f"{base}/openapi.json").json()["paths"].values() for op in item])
    assert f"Tested: {operations}" in text, text[-5_000:]  # every operation in the document
    assert "Missing test data" not in text, text[-5_000:]
