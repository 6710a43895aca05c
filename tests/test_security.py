"""Nobody outside gets in: the rules of api/security.py and receiver/auth.py against a real oracle_api.

HTTP and WebSocket requests go over real sockets, with the headers a browser or an attacker's
DNS-rebinding page would send (a browser controls Host itself, so that rule is tested here with
raw HTTP; tests/test_security_browser.py tries the rest from a real browser). OTLP exports go over
real gRPC.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
import stack
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from oracle_fixtures import RunningOracle, free_port, start_oracle
from otlp_builders import LOGS_EXPORT, TRACE_EXPORT
from telemetron_oracle_api.server import OracleApi
from telemetron_oracle_api.settings import Settings

TOKEN = "s3cret-token"


def ws_handshake(running: RunningOracle | str, path: str = "/ws/debug/probe", **headers: str) -> int:
    """The HTTP status a WebSocket handshake gets (101 when accepted, 403 when refused for any reason), sent
    as raw bytes so that Host and Origin are exactly what a browser on another site would send."""
    port = int((running if isinstance(running, str) else running.http_url).rsplit(":", 1)[1])
    fields = {
        "Host": f"127.0.0.1:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        **headers,
    }
    request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode("latin-1"))
        status_line = sock.makefile("rb").readline().decode("latin-1")
    return int(status_line.split()[1])


def refusals(running: RunningOracle, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return running.client(headers=headers).get("/health").json()["auth_refusals"]


@pytest.fixture
def open_oracle(tmp_path):
    """oracle_api on loopback without a token, simulating into its own receiver."""
    running = start_oracle(tmp_path / "open.db")
    services = running.oracle.services
    services.settings = services.settings.model_copy(update={"simulate_otlp_endpoint": running.grpc_endpoint})
    yield running
    running.stop()


@pytest.fixture
def guarded(tmp_path):
    running = start_oracle(tmp_path / "guarded.db", api_token=TOKEN)
    yield running
    running.stop()


# --- Host: DNS rebinding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["attacker.example:8080@127.0.0.1", "127.0.0.1/x", "127.0.0.1.", "localhost.attacker.example", "127.1"]
)
def test_a_host_that_only_looks_like_loopback_is_refused(open_oracle, host):
    assert open_oracle.client().get("/api/v1/oracle/state", headers={"Host": host}).status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/oracle/state", "/", "/health", "/api/traces?service=x"])
def test_a_rebound_host_name_is_refused(open_oracle, path):
    response = open_oracle.client().get(path, headers={"Host": "attacker.example"})
    assert response.status_code == 400
    assert "attacker.example" in response.json()["detail"] and "TELEMETRON_ALLOWED_HOSTS" in response.json()["detail"]


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:8080", "LOCALHOST:9"]
)
def test_loopback_host_names_with_any_port_are_served(open_oracle, host):
    assert open_oracle.client().get("/api/v1/oracle/state", headers={"Host": host}).status_code == 200


def test_configured_host_names_are_served(make_oracle):
    running = make_oracle(allowed_hosts="telemetron.internal, Other.Example")
    client = running.client()
    assert client.get("/health", headers={"Host": "telemetron.internal:8080"}).status_code == 200
    assert client.get("/health", headers={"Host": "other.example"}).status_code == 200
    assert client.get("/health", headers={"Host": "telemetron.internal.attacker.example"}).status_code == 400


def test_a_websocket_to_a_rebound_host_name_is_refused(open_oracle):
    assert ws_handshake(open_oracle, Host="attacker.example:80") == 403
    assert ws_handshake(open_oracle) == 101


def test_host_refusals_are_counted_on_health(open_oracle):
    open_oracle.client().get("/health", headers={"Host": "attacker.example"})
    ws_handshake(open_oracle, Host="attacker.example")
    assert refusals(open_oracle)["http"]["bad_host"] == 2


# --- Origin: cross-site writes and WebSocket reads ------------------------------------------------


def test_a_websocket_from_another_origin_is_refused(open_oracle):
    port = open_oracle.http_url.rsplit(":", 1)[1]
    assert ws_handshake(open_oracle, Origin="http://evil.example") == 403
    assert ws_handshake(open_oracle, Origin=f"http://127.0.0.1:{int(port) + 1}") == 403  # another port is another site
    assert ws_handshake(open_oracle, Origin="null") == 403
    assert ws_handshake(open_oracle, Origin=f"http://127.0.0.1:{port}") == 101  # the dashboard's own origin
    assert ws_handshake(open_oracle) == 101  # not a browser: no Origin
    assert refusals(open_oracle)["http"]["bad_origin"] == 3


def test_configured_origins_may_open_the_websocket_and_post(make_oracle):
    running = make_oracle(
        allowed_origins="https://grafana.example:3000", simulate_otlp_endpoint=f"127.0.0.1:{free_port()}"
    )
    assert ws_handshake(running, Origin="https://grafana.example:3000") == 101
    assert ws_handshake(running, Origin="https://grafana.example") == 403
    response = running.client().post(
        "/api/v1/debug/simulate-trace",
        content=b"{}",
        headers={"Origin": "https://grafana.example:3000", "Content-Type": "application/json"},
    )
    assert response.status_code == 502  # past the rules: the route ran, and found no receiver there


def test_a_cross_site_post_is_refused_and_injects_nothing(open_oracle):
    client = open_oracle.client()
    response = client.post(
        "/api/v1/debug/simulate-trace",
        content=b'{"error": true}',
        headers={"Origin": "http://evil.example", "Content-Type": "application/json"},
    )
    assert response.status_code == 403
    assert (
        "http://evil.example" in response.json()["detail"] and "TELEMETRON_ALLOWED_ORIGINS" in response.json()["detail"]
    )
    assert open_oracle.oracle.receiver.stats.traces.requests == 0


def test_a_same_origin_post_goes_through(open_oracle):
    origin = open_oracle.http_url
    response = open_oracle.client().post("/api/v1/debug/simulate-trace", json={}, headers={"Origin": origin})
    assert response.status_code == 200, response.text
    assert response.json()["spans"] == 12


def test_a_cross_site_get_is_not_an_origin_matter(open_oracle):
    # A browser does not let the other site read the answer (no CORS headers); it changes nothing.
    response = open_oracle.client().get("/health", headers={"Origin": "http://evil.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


# --- JSON bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
def test_a_post_body_that_is_not_json_gets_415(open_oracle, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = open_oracle.client().post("/api/v1/debug/simulate-trace", content=b'{"error": true}', headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]
    assert open_oracle.oracle.receiver.stats.traces.requests == 0
    assert refusals(open_oracle)["http"]["not_json"] == 1


def test_json_and_empty_post_bodies_are_accepted(open_oracle):
    client = open_oracle.client()
    assert (
        client.post(
            "/api/v1/debug/simulate-trace", content=b"{}", headers={"Content-Type": "application/json; charset=utf-8"}
        ).status_code
        == 200
    )
    assert client.post("/api/v1/debug/simulate-trace").status_code == 200


# --- the token -------------------------------------------------------------------------------------


def test_a_non_ascii_token_is_refused_with_401_not_500(guarded):
    for value in ("Bearer pässwort".encode(), "Bearer \u20ac".encode(), b"Bearer \xff\xfe"):
        response = guarded.client().get("/api/v1/traces", headers={"Authorization": value})
        assert response.status_code == 401, value
    response = guarded.client().get("/api/v1/traces", headers={"X-Telemetron-Token": "é".encode()})
    assert response.status_code == 401


def test_the_token_in_a_query_string_is_refused_on_http(guarded):
    response = guarded.client().get(f"/api/v1/traces?token={TOKEN}")
    assert response.status_code == 401
    assert guarded.client().get("/api/v1/traces", headers={"X-Telemetron-Token": TOKEN}).status_code == 200


def test_the_websocket_handshake_takes_the_token_in_its_query_string_or_header(guarded):
    assert ws_handshake(guarded) == 403
    assert ws_handshake(guarded, path="/ws/debug/p?token=wrong") == 403
    assert ws_handshake(guarded, path="/ws/debug/p?token=p%C3%A4sswort") == 403
    assert ws_handshake(guarded, path=f"/ws/debug/p?token={TOKEN}") == 101
    assert ws_handshake(guarded, Authorization=f"Bearer {TOKEN}") == 101


def test_token_refusals_are_counted_on_health(guarded):
    guarded.client().get("/api/v1/traces")
    ws_handshake(guarded)
    assert refusals(guarded, TOKEN)["http"]["bad_token"] == 2


def test_a_token_in_a_websocket_url_stays_out_of_the_log(tmp_path):
    """uvicorn logs each WebSocket's path with its query string; oracle_api blanks the token."""
    config = stack.OracleApiConfig.on_free_ports(tmp_path / "t.db", api_token=TOKEN, log_level="info")
    oracle = stack.OracleApi(config, log_path=tmp_path / "oracle.log")
    oracle.start()
    try:
        assert ws_handshake(config.base_url, path=f"/ws/debug/logged?token={TOKEN}") == 101
        deadline = time.monotonic() + 10
        while "/ws/debug/logged" not in (log := (tmp_path / "oracle.log").read_text()):
            assert time.monotonic() < deadline, log
            time.sleep(0.05)
        assert "/ws/debug/logged?token=***" in log
        assert TOKEN not in log
    finally:
        oracle.stop()


# --- OTLP gRPC -------------------------------------------------------------------------------------


def _span_request(trace: int) -> bytes:
    span = Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=(1).to_bytes(8, "big"),
        name="probe",
        start_time_unix_nano=time.time_ns() - 1_000_000,
        end_time_unix_nano=time.time_ns(),
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    ).SerializeToString()


def _export(endpoint: str, raw: bytes, token: str | None, method: str = TRACE_EXPORT) -> None:
    metadata = [("authorization", f"Bearer {token}")] if token is not None else []
    with grpc.insecure_channel(endpoint) as channel:
        call = channel.unary_unary(method, response_deserializer=ExportTraceServiceResponse.FromString)
        call(raw, metadata=metadata, timeout=10)


def test_otlp_exports_need_the_token_when_one_is_set(guarded):
    for token in (None, "wrong", ""):
        with pytest.raises(grpc.RpcError) as error:
            _export(guarded.grpc_endpoint, _span_request(0xA1), token)
        assert error.value.code() is grpc.StatusCode.UNAVAILABLE  # so a Collector retries instead of dropping
        assert "authorization: Bearer" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:  # every OTLP service, not only traces
        _export(guarded.grpc_endpoint, ExportLogsServiceRequest().SerializeToString(), None, LOGS_EXPORT)
    assert error.value.code() is grpc.StatusCode.UNAVAILABLE
    assert guarded.oracle.store.committed_spans == 0
    assert refusals(guarded, TOKEN)["grpc"]["unauthenticated"] == 4

    _export(guarded.grpc_endpoint, _span_request(0xA2), TOKEN)
    assert (
        guarded.client(headers={"Authorization": f"Bearer {TOKEN}"}).get(f"/api/v1/traces/{0xA2:032x}").status_code
        == 200
    )


def test_otlp_exports_need_no_token_when_none_is_set(open_oracle):
    _export(open_oracle.grpc_endpoint, _span_request(0xB1), None)
    _export(open_oracle.grpc_endpoint, _span_request(0xB2), "")  # what the Collector sends with no token set
    client = open_oracle.client()
    assert client.get(f"/api/v1/traces/{0xB1:032x}").status_code == 200
    assert client.get(f"/api/v1/traces/{0xB2:032x}").status_code == 200
    assert refusals(open_oracle)["grpc"]["unauthenticated"] == 0


def test_the_receiver_beyond_loopback_without_a_token_does_not_start(tmp_path):
    with pytest.raises(ValueError, match="OTLP gRPC on 0.0.0.0.*TELEMETRON_API_TOKEN"):
        OracleApi(Settings(grpc_host="0.0.0.0", grpc_port=free_port(), db_path=tmp_path / "x.db"))
    env = {
        **os.environ,
        "TELEMETRON_GRPC_HOST": "0.0.0.0",
        "TELEMETRON_DB_PATH": str(tmp_path / "y.db"),
        "TELEMETRON_GRPC_PORT": str(free_port()),
        "TELEMETRON_HTTP_PORT": str(free_port()),
    }
    env.pop("TELEMETRON_API_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "telemetron_oracle_api"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "telemetron serve: error: oracle_api would listen beyond loopback (OTLP gRPC on 0.0.0.0) without a "
        "token: set TELEMETRON_API_TOKEN (every HTTP request, WebSocket handshake and OTLP export must then "
        "carry it), or listen on 127.0.0.1"
    )
    assert not Path(tmp_path / "y.db").exists()
