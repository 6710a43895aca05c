"""The live stream at /ws/debug/{client_id}: filtered delivery, work in progress, and slow clients.

Data goes in as OTLP through the real receiver; clients are real WebSocket connections.
Throughput with and without a stalled client is measured in bench/bench_queries.py, not here.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from otlp_builders import TRACE_EXPORT, kv
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

MS = 1_000_000


def sp(
    trace: int, n: int, parent: int | None, name: str, error: bool = False, attrs: dict[str, str] | None = None
) -> Span:
    t0 = time.time_ns()
    span = Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=t0 + n * MS,
        end_time_unix_nano=t0 + n * MS + MS,
        attributes=[kv(k, v) for k, v in (attrs or {}).items()],
    )
    if error:
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="boom"))
    return span


def request(*spans: Span, service: str = "agents") -> bytes:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    rs.resource.attributes.append(kv("service.name", service))
    return ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString()


def run(trace: int) -> bytes:
    """An orchestrator that calls a model and hands off to a researcher, whose tool fails."""
    return request(
        sp(
            trace,
            1,
            None,
            "invoke_agent orchestrator",
            attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "orchestrator"},
        ),
        sp(trace, 2, 1, "chat gpt-4o", attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}),
        sp(
            trace,
            3,
            1,
            "execute_tool transfer_to_researcher",
            attrs={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "transfer_to_researcher",
                "gen_ai.agent.handoff.target.name": "researcher",
            },
        ),
        sp(
            trace,
            4,
            3,
            "invoke_agent researcher",
            attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher"},
        ),
        sp(trace, 5, 4, "chat claude", attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": "claude"}),
        sp(
            trace,
            6,
            4,
            "execute_tool search",
            error=True,
            attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
        ),
    )


@pytest.fixture
def export(oracle_server):
    channel = grpc.insecure_channel(oracle_server.grpc_endpoint)
    call = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
    yield lambda raw: call(raw, timeout=60)
    channel.close()


def ws_url(server, client_id: str, query: str = "") -> str:
    return server.http_url.replace("http://", "ws://") + f"/ws/debug/{client_id}" + (f"?{query}" if query else "")


def receive(ws, count: int, timeout: float = 10.0, types=("span", "pending", "issue", "gap")) -> list[dict]:
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            message = json.loads(ws.recv(timeout=remaining))
        except TimeoutError:
            break
        if message["type"] in types:
            out.append(message)
    return out


def subscribed(ws) -> dict:
    message = json.loads(ws.recv(timeout=10))
    assert message["type"] == "subscribed"
    return message


def test_each_client_gets_only_what_its_filters_select(oracle_server, export):
    with (
        connect(ws_url(oracle_server, "everything")) as everything,
        connect(ws_url(oracle_server, "researcher", "agent=researcher")) as researcher,
        connect(ws_url(oracle_server, "errors", "errors_only=true")) as errors,
        connect(ws_url(oracle_server, "by-message")) as llm_only,
        connect(ws_url(oracle_server, "one-trace", f"trace_id={7:032x}")) as one_trace,
    ):
        for ws in (everything, researcher, errors, llm_only, one_trace):
            subscribed(ws)
        llm_only.send(json.dumps({"kind": "llm"}))  # filters may also come as a message
        assert subscribed(llm_only)["filters"]["kind"] == ["llm"]
        export(run(7))
        export(run(8))
        got = receive(everything, 12)
        assert len(got) == 12 and {m["type"] for m in got} == {"span"}
        by_name = {(m["trace_id"], m["name"]): m for m in got}
        chat = by_name[(f"{7:032x}", "chat claude")]
        assert (chat["step"], chat["agent"], chat["model"]) == ("llm", "researcher", "claude")
        assert by_name[(f"{7:032x}", "execute_tool transfer_to_researcher")]["step"] == "handoff"
        mine = receive(researcher, 9, timeout=1)
        # The researcher's own spans, its calls, and the handoff that targets it; twice (two runs).
        assert sorted(m["name"] for m in mine) == sorted(
            ["invoke_agent researcher", "chat claude", "execute_tool search", "execute_tool transfer_to_researcher"] * 2
        )
        failed = receive(errors, 3, timeout=1)
        assert [m["name"] for m in failed] == ["execute_tool search"] * 2 and all(m["error"] for m in failed)
        llm = receive(llm_only, 5, timeout=1)
        assert sorted(m["name"] for m in llm) == sorted(["chat gpt-4o", "chat claude"] * 2)
        traced = receive(one_trace, 7, timeout=1)
        assert len(traced) == 6 and {m["trace_id"] for m in traced} == {f"{7:032x}"}


def test_work_in_progress_arrives_as_pending(oracle_server, export):
    with connect(ws_url(oracle_server, "wip", "types=pending")) as ws:
        subscribed(ws)
        pending = sp(
            9,
            11,
            10,
            "invoke_agent planner",
            attrs={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "planner",
                "telemetron.span_type": "pending_span",
            },
        )
        export(request(pending, sp(9, 12, None, "unrelated")))
        (message,) = receive(ws, 1)
        assert message["type"] == "pending"
        assert (message["span_id"], message["name"], message["agent"]) == (
            f"{10:016x}",
            "invoke_agent planner",
            "planner",
        )


def test_bad_filters_are_refused_with_a_message(oracle_server):
    with connect(ws_url(oracle_server, "bad")) as ws:
        subscribed(ws)
        ws.send(json.dumps({"kind": "nonsense"}))
        reply = json.loads(ws.recv(timeout=10))
        assert reply["type"] == "error" and "nonsense" in reply["message"]


class StalledClient:
    """A WebSocket client that completes the handshake and then does not read, as a hung browser
    tab would. Its small receive buffer turns off Linux's autotuning (up to 32 MB here), so the
    server's writes back up after a few kilobytes. ``messages()`` reads the backlog later."""

    def __init__(self, server, client_id: str) -> None:
        host, port = server.http_url.removeprefix("http://").split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /ws/debug/{client_id} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def messages(self, timeout: float = 10.0):
        """Server frames are unmasked: opcode, 7/16/64-bit length, payload (RFC 6455 section 5.2)."""
        self.sock.settimeout(timeout)
        while True:
            b0, b1 = self._read(2)
            length = b1 & 0x7F
            if length == 126:
                length = int.from_bytes(self._read(2), "big")
            elif length == 127:
                length = int.from_bytes(self._read(8), "big")
            payload = self._read(length)
            if b0 & 0x0F == 0x8:  # close
                return
            if b0 & 0x0F == 0x1:
                yield json.loads(payload)

    def close(self) -> None:
        self.sock.close()


def test_a_stalled_client_gets_a_gap_and_ingestion_completes(oracle_server, export):
    # The stalled client's socket fills, then its bounded buffer on the server (1000 messages).
    stalled = StalledClient(oracle_server, "stalled")
    with connect(ws_url(oracle_server, "live", "types=span")) as live:
        subscribed(live)
        received = []

        def read_live() -> None:
            try:
                while True:
                    received.append(live.recv(timeout=30))
            except (TimeoutError, ConnectionClosed):
                pass

        reader = threading.Thread(target=read_live, daemon=True)
        reader.start()
        requests, per_request = 10, 1000
        for r in range(requests):
            export(
                request(
                    *(sp(100 + r, i + 1, None, f"step {i}", attrs={"payload": "x" * 300}) for i in range(per_request))
                )
            )
        stats = oracle_server.client().get("/health").json()
        assert stats["committed_spans"] == requests * per_request  # every span was stored
        stream_stats = oracle_server.client().get("/api/v1/stream/stats").json()
        dropped = {c["client_id"]: c["dropped"] for c in stream_stats["clients"]}
        assert dropped.get("stalled", 0) > 0
        # Once the stalled client reads again it is told how much it missed.
        gap = next((m for m in stalled.messages() if m["type"] == "gap"), None)
        assert gap is not None and gap["dropped"] > 0
        stalled.close()
    reader.join(timeout=30)
    assert len(received) > 0


class _Issues:
    """Stands in for the Oracle engine: the stream only calls ``issues()``."""

    def __init__(self) -> None:
        self.current: list[dict] = []

    def issues(self) -> list[dict]:
        return list(self.current)


def _issue(severity: str) -> dict:
    return {
        "id": "tool_failures:tool:search",
        "kind": "tool_failures",
        "severity": severity,
        "entity": {"type": "tool", "name": "search"},
        "evidence": {"trace_ids": [f"{7:032x}"], "numbers": {"failures": 3}},
        "probable_cause": "search keeps timing out",
    }


def test_oracle_issues_are_streamed_as_they_open_and_resolve(oracle_server):
    stream = oracle_server.oracle.services.stream
    fake = _Issues()
    previous = stream.issues
    stream.issues = fake.issues
    stream.issue_poll_s = 0.05
    try:
        with connect(ws_url(oracle_server, "issues", "types=issue")) as ws:
            subscribed(ws)
            fake.current = [_issue("high")]
            (opened,) = receive(ws, 1)
            assert (opened["type"], opened["status"], opened["id"]) == ("issue", "opened", "tool_failures:tool:search")
            assert opened["issue"]["probable_cause"] == "search keeps timing out"
            fake.current = []
            (resolved,) = receive(ws, 1)
            assert (resolved["status"], resolved["id"]) == ("resolved", "tool_failures:tool:search")
    finally:
        stream.issues = previous
