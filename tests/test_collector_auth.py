"""The real Collector with credentials: it sends oracle_api's token, and its own OTLP receivers
require basic auth when collector-config/overlays/receivers-auth.yaml is added (beyond loopback)."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import stack
import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.util.re import parse_env_headers
from oracle_fixtures import RunningOracle, start_oracle

CONFIG = stack.REPO / "collector-config" / "otelcol.yaml"
AUTH_OVERLAY = stack.REPO / "collector-config" / "overlays" / "receivers-auth.yaml"
TOKEN = "collector-to-oracle-s3cret"
HTPASSWD = "telemetron:agents-s3cret"
# What README tells senders to put in OTEL_EXPORTER_OTLP_HEADERS.
BASIC = "Basic " + base64.b64encode(b"telemetron:agents-s3cret").decode()
OTEL_EXPORTER_OTLP_HEADERS = "authorization=Basic%20" + base64.b64encode(b"telemetron:agents-s3cret").decode().replace(
    "=", "%3D"
)


def test_the_overlay_keeps_every_extension_of_the_main_config():
    # Lists replace when the Collector merges configs: a missing name would switch that extension off.
    main = yaml.safe_load(CONFIG.read_text())["service"]["extensions"]
    overlay = yaml.safe_load(AUTH_OVERLAY.read_text())["service"]["extensions"]
    assert set(main) < set(overlay)


def test_the_collector_with_the_overlay_and_no_credentials_refuses_to_start(collector_binary, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "TELEMETRON_COLLECTOR_STORAGE_DIR": str(tmp_path)}
    argv = [str(collector_binary), "--config", str(CONFIG), "--config", str(AUTH_OVERLAY)]
    grpc, http, health, metrics = stack.free_ports(4)
    env |= {
        "TELEMETRON_OTLP_GRPC_PORT": str(grpc),
        "TELEMETRON_OTLP_HTTP_PORT": str(http),
        "TELEMETRON_COLLECTOR_HEALTH_PORT": str(health),
        "TELEMETRON_COLLECTOR_METRICS_PORT": str(metrics),
    }
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert 'failed to create extension "basicauth/otlp_in": no credential source provided' in result.stderr
    validated = subprocess.run(
        [str(collector_binary), "validate", "--config", str(CONFIG), "--config", str(AUTH_OVERLAY)],
        env=env | {"TELEMETRON_COLLECTOR_HTPASSWD": HTPASSWD},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert validated.returncode == 0, validated.stderr


@pytest.fixture
def run_collector(collector_binary, kafka_broker, tmp_path) -> Iterator[Callable[..., stack.CollectorConfig]]:
    """``run_collector(oracle, overlay=False, **env)``: a Collector exporting to that oracle_api, stopped after the test."""
    processes: list[stack.ManagedProcess] = []

    def run(oracle: RunningOracle, overlay: bool = False, storage: str = "", **env: str) -> stack.CollectorConfig:
        grpc, http, health, metrics = stack.free_ports(4)
        storage_dir = tmp_path / (storage or f"storage-{len(processes)}")
        config = stack.CollectorConfig(
            binary=collector_binary,
            storage_dir=storage_dir,
            grpc_port=grpc,
            http_port=http,
            health_port=health,
            metrics_port=metrics,
            kafka_brokers=kafka_broker.bootstrap,
            oracle_endpoint=oracle.grpc_endpoint,
        )
        argv = [str(collector_binary), "--config", str(CONFIG)] + (["--config", str(AUTH_OVERLAY)] if overlay else [])
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRON_")} | config.env() | env
        process = stack.ManagedProcess("collector", argv, tmp_path / f"collector-{len(processes)}.log", env=child_env)
        processes.append(process)
        process.start()
        process.wait_until(lambda: _answers(config.health_url), 30, "healthy")
        return config

    def stop_all() -> None:
        for process in processes:
            process.stop()

    run.stop_all = stop_all  # type: ignore[attr-defined]
    yield run
    for process in processes:
        process.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _send_span(endpoint: str, name: str, headers: dict[str, str] | None = None) -> tuple[SpanExportResult, str]:
    """One span through the SDK's OTLP gRPC exporter; returns the export result and the trace id."""
    results: list[SpanExportResult] = []

    class Recording(OTLPSpanExporter):
        def export(self, spans):
            results.append(super().export(spans))
            return results[-1]

    provider = TracerProvider(resource=Resource.create({"service.name": "auth-probe"}))
    provider.add_span_processor(
        SimpleSpanProcessor(Recording(endpoint=endpoint, insecure=True, headers=headers, timeout=10))
    )
    with provider.get_tracer("probe").start_as_current_span(name) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    return results[0], trace_id


def _trace_stored(oracle: RunningOracle, trace_id: str, token: str | None = None) -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return oracle.client(headers=headers).get(f"/api/v1/traces/{trace_id}").status_code == 200


def test_the_collector_sends_oracle_apis_token_and_spans_arrive(run_collector, tmp_path):
    oracle = start_oracle(tmp_path / "guarded.db", api_token=TOKEN)
    try:
        collector = run_collector(oracle, TELEMETRON_API_TOKEN=TOKEN)
        result, trace_id = _send_span(collector.otlp_grpc_endpoint, "through-with-token")
        assert result is SpanExportResult.SUCCESS
        oracle.wait_for(lambda: _trace_stored(oracle, trace_id, TOKEN), timeout=30)
        assert oracle.oracle.services.grpc_refusals.unauthenticated == 0
    finally:
        oracle.stop()


def test_a_collector_with_the_wrong_token_is_refused_and_loses_nothing_once_it_is_fixed(run_collector, tmp_path):
    oracle = start_oracle(tmp_path / "guarded.db", api_token=TOKEN)
    try:
        collector = run_collector(oracle, storage="queue", TELEMETRON_API_TOKEN="not-the-token")
        result, trace_id = _send_span(collector.otlp_grpc_endpoint, "wrong-token")
        assert result is SpanExportResult.SUCCESS  # the Collector acknowledged it, then oracle_api refused it
        oracle.wait_for(lambda: oracle.oracle.services.grpc_refusals.unauthenticated >= 2, timeout=30)  # retried
        assert oracle.oracle.store.committed_spans == 0
        # The refusal is retryable, so the span waits in the Collector's on-disk queue for the right token.
        run_collector.stop_all()
        run_collector(oracle, storage="queue", TELEMETRON_API_TOKEN=TOKEN)
        oracle.wait_for(lambda: _trace_stored(oracle, trace_id, TOKEN), timeout=60)
    finally:
        oracle.stop()


def test_without_a_token_the_collectors_empty_header_is_harmless(run_collector, oracle_server):
    collector = run_collector(oracle_server)  # TELEMETRON_API_TOKEN unset: sends "Bearer "
    result, trace_id = _send_span(collector.otlp_grpc_endpoint, "no-token-anywhere")
    assert result is SpanExportResult.SUCCESS
    oracle_server.wait_for(lambda: _trace_stored(oracle_server, trace_id), timeout=30)


def test_receivers_with_auth_refuse_exports_without_credentials_and_take_them_with(run_collector, oracle_server):
    collector = run_collector(oracle_server, overlay=True, TELEMETRON_COLLECTOR_HTPASSWD=HTPASSWD)

    refused, _ = _send_span(collector.otlp_grpc_endpoint, "no-credentials")
    assert refused is SpanExportResult.FAILURE
    wrong, _ = _send_span(
        collector.otlp_grpc_endpoint, "wrong", {"authorization": "Basic " + base64.b64encode(b"telemetron:x").decode()}
    )
    assert wrong is SpanExportResult.FAILURE
    accepted, trace_id = _send_span(
        collector.otlp_grpc_endpoint, "with-credentials", parse_env_headers(OTEL_EXPORTER_OTLP_HEADERS, liberal=True)
    )
    assert accepted is SpanExportResult.SUCCESS
    oracle_server.wait_for(lambda: _trace_stored(oracle_server, trace_id), timeout=30)

    body = _raw_request(0xC0FFEE)
    url = collector.otlp_http_endpoint + "/v1/traces"
    protobuf = {"Content-Type": "application/x-protobuf"}
    assert httpx.post(url, content=body, headers=protobuf).status_code == 401
    assert (
        httpx.post(url, content=body, headers=protobuf | {"Authorization": "Bearer agents-s3cret"}).status_code == 401
    )
    assert httpx.post(url, content=body, headers=protobuf | {"Authorization": BASIC}).status_code == 200
    oracle_server.wait_for(lambda: _trace_stored(oracle_server, f"{0xC0FFEE:032x}"), timeout=30)
    assert oracle_server.oracle.store.committed_spans == 2  # only the two sent with credentials


def _raw_request(trace: int) -> bytes:
    now = time.time_ns()
    span = Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=(7).to_bytes(8, "big"),
        name="over-http",
        start_time_unix_nano=now - 1_000_000,
        end_time_unix_nano=now,
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    ).SerializeToString()


def test_the_readme_header_line_is_what_the_sdk_sends():
    assert parse_env_headers(OTEL_EXPORTER_OTLP_HEADERS, liberal=True) == {"authorization": BASIC}
