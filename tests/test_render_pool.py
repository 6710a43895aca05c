"""Large traces read and rendered in parts on helper processes (api/render_pool.py) come out exactly as when one thread does it.

The same OTLP goes through the real receiver of two oracle_api instances, one with render helpers
and one without; every REST, Jaeger and api_v3 response must be byte for byte the same. Helpers that
die or hang must cost a counted failure, never a wrong or failed response.
"""

from __future__ import annotations

import os
import signal
import time

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
from otlp_builders import TRACE_EXPORT
from test_jaeger_mapping import T0, build_request, kvs, mk_span
from test_jaeger_mapping import TRACE_ID as SMALL_TRACE

TRACE_ID = "00000000000000000000000000c0ffee"  # printed by Jaeger with 16 hex digits
OTHER_TRACE = "0000000000000000000000000000beef"
SPANS = 450  # above the pool's 300-span threshold for splitting


def large_trace_request() -> ExportTraceServiceRequest:
    """One trace of SPANS spans over three resources and two scopes, with every feature the renderers
    treat specially: all value types, events, links (one naming the parent), errors, trace state,
    flags, and spans sharing a start time (ordered by span id)."""
    resources = []
    for service, extra in (("planner", {"host.name": "h1"}), ("workers", {"process.pid": 7}), ("tools", {})):
        rs = ResourceSpans()
        rs.resource.attributes.extend(kvs({"service.name": service, **extra}))
        rs.scope_spans.append(ScopeSpans(scope=InstrumentationScope(name="agents", version="2.0")))
        rs.scope_spans.append(ScopeSpans())
        resources.append(rs)
    for i in range(SPANS):
        span_hex = f"{i + 1:016x}"
        parent = f"{(i - 1) // 3 + 1:016x}" if i else None
        attributes = {"step": i, "agent": f"agent-{i % 7}", "cost": i / 8, "ok": i % 2 == 0}
        if i % 5 == 0:
            attributes |= {"raw": bytes([i % 256, 0]), "tags": ["a", i, True], "map": {"n": i, "z": "x"}}
        extra: dict = {"attributes": attributes, "flags": 0x101 if i % 3 else 0}
        if i % 4 == 0:
            extra["events"] = [
                (T0 + i * 1000 + 5, "tool.call", {"tool": "search", "n": i % 3}),
                (T0 + i * 1000 + 9, "retry", {}),
            ]
        if i % 9 == 0 and parent:
            extra["links"] = [
                (TRACE_ID, parent, {"opentracing.ref_type": "child_of"}),
                (OTHER_TRACE, f"{i:016x}", {"why": "batch"}),
            ]
        if i % 11 == 0:
            extra["status"] = Status(code=Status.STATUS_CODE_ERROR, message=f"failed {i}")
        if i % 13 == 0:
            extra["trace_state"] = "vendor=x"
        start = T0 + (i // 2) * 1000  # pairs of spans start together
        span = mk_span(TRACE_ID, span_hex, parent, f"step {i % 17}", start, start + 5000 + i, i % 6, **extra)
        resources[i % 3].scope_spans[i % 2].spans.append(span)
    return ExportTraceServiceRequest(resource_spans=resources)


PATHS = [
    f"/api/v1/traces/{TRACE_ID}",
    f"/api/traces/{TRACE_ID}",
    f"/api/traces/{TRACE_ID}?raw=true",
    f"/api/traces/{TRACE_ID[16:]}",
    f"/api/v3/traces/{TRACE_ID}",
    f"/api/v3/traces/{TRACE_ID}?raw_traces=true",
    "/api/traces?service=planner&limit=5",
]


def _feed(running) -> None:
    channel = grpc.insecure_channel(running.grpc_endpoint)
    export = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
    for request in (large_trace_request(), build_request()):
        response = export(request.SerializeToString(), timeout=30)
        assert not response.partial_success.rejected_spans
    channel.close()
    with running.client() as client:
        running.wait_for(lambda: client.get(f"/api/v1/traces/{TRACE_ID}").status_code == 200)


def _pool(client) -> dict:
    return client.get("/health").json()["render_pool"]


@pytest.fixture
def servers(make_oracle):
    """(with two render helpers, with none), both fed the large trace; the helpers ready."""
    pooled, single = make_oracle(render_helpers=2), make_oracle(render_helpers=0)
    for running in (pooled, single):
        _feed(running)
    with pooled.client() as client:
        pooled.wait_for(lambda: _pool(client)["ready"] == 2, timeout=60)
    return pooled, single


def _bodies(running) -> list[bytes]:
    with running.client() as client:
        responses = [client.get(path) for path in PATHS]
    assert [r.status_code for r in responses] == [200] * len(PATHS)
    return [r.content for r in responses]


def test_helpers_render_large_traces_byte_for_byte_as_one_thread_does(servers):
    pooled, single = servers
    expected = _bodies(single)
    with pooled.client() as client:
        before = _pool(client)["split_requests"]
        assert _bodies(pooled) == expected
        stats = _pool(client)
    assert stats["split_requests"] == before + len(PATHS)
    assert stats["helper_failures"] == 0
    with single.client() as client:
        assert _pool(client) == {
            "helpers": 0,
            "ready": 0,
            "ready_pids": [],
            "split_requests": 0,
            "helper_failures": 0,
            "helpers_started": 0,
        }
    # Spot checks that the comparison covers what it should: every span, in start order, one process per resource.
    trace = pooled.client().get(f"/api/traces/{TRACE_ID}").json()["data"][0]
    assert len(trace["spans"]) == SPANS
    starts = [(s["startTime"], s["spanID"]) for s in trace["spans"]]
    assert starts == sorted(starts)
    assert sorted(p["serviceName"] for p in trace["processes"].values()) == ["planner", "tools", "workers"]


def test_small_traces_are_rendered_in_one_piece(servers):
    pooled, _ = servers
    with pooled.client() as client:
        before = _pool(client)["split_requests"]
        for path in (
            f"/api/traces/{SMALL_TRACE}",
            f"/api/v3/traces/{SMALL_TRACE}",
            f"/api/v1/traces/{SMALL_TRACE}",
            "/api/traces?service=checkout",
        ):
            assert client.get(path).status_code == 200
        assert client.get(f"/api/traces/{OTHER_TRACE}").status_code == 404  # no spans stored there
        assert _pool(client)["split_requests"] == before


def test_a_killed_helper_is_replaced_and_responses_stay_exact(servers):
    pooled, single = servers
    expected = _bodies(single)
    with pooled.client() as client:
        victim = _pool(client)["ready_pids"][0]
        os.kill(victim, signal.SIGKILL)
        pooled.wait_for(lambda: _pid_gone(victim))
        assert _bodies(pooled) == expected  # rendered with the remaining helper, or here
        pooled.wait_for(lambda: _pool(client)["ready"] == 2, timeout=60)
        stats = _pool(client)
        assert stats["helpers_started"] == 3
        assert victim not in stats["ready_pids"]
        before = stats["split_requests"]
        assert _bodies(pooled) == expected
        assert _pool(client)["split_requests"] == before + len(PATHS)


def test_a_hung_helper_is_killed_after_the_timeout_and_its_part_rendered_here(servers):
    pooled, single = servers
    expected = _bodies(single)
    pooled.oracle.render_pool.timeout_s = 0.5
    with pooled.client() as client:
        hung = _pool(client)["ready_pids"][0]
        os.kill(hung, signal.SIGSTOP)
        try:
            assert _bodies(pooled) == expected
            assert _pool(client)["helper_failures"] == 1  # the first request waited; the hung one was then killed
            pooled.wait_for(lambda: _pid_gone(hung))
        finally:
            if not _pid_gone(hung):
                os.kill(hung, signal.SIGKILL)


def _pid_gone(pid: int) -> bool:
    """True once the process has exited and its parent has reaped it (or it is a zombie about to be)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_stopping_the_server_ends_its_helpers_cleanly(make_oracle):
    running = make_oracle(render_helpers=2)
    with running.client() as client:
        running.wait_for(lambda: _pool(client)["ready"] == 2, timeout=60)
    processes = [helper.process for helper in running.oracle.render_pool._helpers]
    running.oracle.render_pool.stop()
    assert [p.exitcode for p in processes] == [0, 0]  # returned on their own, not killed after the grace period


def test_helpers_exit_when_the_server_is_killed(tmp_path, monkeypatch):
    """A SIGKILLed oracle_api (a real ``python -m telemetron_oracle_api`` process) leaves no helper behind:
    each sees its pipe close and exits."""
    import httpx
    import stack

    monkeypatch.setenv("TELEMETRON_RENDER_HELPERS", "2")
    server = stack.OracleApi(stack.OracleApiConfig.on_free_ports(tmp_path / "t.db", log_level="warning"))
    server.start()
    try:
        health = f"{server.config.base_url}/health"
        deadline = time.monotonic() + 60
        while len(pids := httpx.get(health).json()["render_pool"]["ready_pids"]) < 2:
            assert time.monotonic() < deadline, "render helpers did not become ready"
            time.sleep(0.1)
        os.kill(server.process.pid, signal.SIGKILL)  # the server alone, not its process group
        deadline = time.monotonic() + 10
        while not all(_pid_gone(pid) for pid in pids):
            assert time.monotonic() < deadline, f"helpers {pids} outlived their server"
            time.sleep(0.05)
    finally:
        server.kill()
