"""A trace viewed, then sent more spans, is shown with them: rendered traces are kept by span count.

Real oracle_api (in-process, real gRPC and HTTP) over a real SQLite file; REST, Jaeger v1 and
api_v3 each render a trace, are asked again (the kept rendering), then after more spans arrive.
"""

from __future__ import annotations

import time

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from oracle_fixtures import start_oracle
from otlp_builders import TRACE_EXPORT, kv
from telemetron_oracle_api.api.trace_cache import MAX_BYTES, RenderedTraces, rendered
from telemetron_oracle_api.settings import Settings

TRACE = "00000000000000000000000000ca0e01"
T0 = time.time_ns() - 60 * 10**9


def send(endpoint: str, *span_numbers: int) -> None:
    spans = [
        Span(
            trace_id=bytes.fromhex(TRACE),
            span_id=n.to_bytes(8, "big"),
            parent_span_id=b"" if n == 1 else (1).to_bytes(8, "big"),
            name=f"step {n}",
            start_time_unix_nano=T0 + n * 10**6,
            end_time_unix_nano=T0 + n * 10**6 + 500,
            attributes=[kv("n", n)],
        )
        for n in span_numbers
    ]
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    rs.resource.attributes.append(kv("service.name", "cache-test"))
    with grpc.insecure_channel(endpoint) as channel:
        channel.unary_unary(TRACE_EXPORT)(
            ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString(), timeout=30
        )


def span_names(client) -> dict[str, list[str]]:
    rest = client.get(f"/api/v1/traces/{TRACE}").json()["spans"]
    jaeger = client.get(f"/api/traces/{TRACE}").json()["data"][0]["spans"]
    v3 = client.get(f"/api/v3/traces/{TRACE}").json()["result"]["resourceSpans"]
    return {
        "rest": sorted(s["name"] for s in rest),
        "jaeger": sorted(s["operationName"] for s in jaeger),
        "v3": sorted(s["name"] for r in v3 for scope in r["scopeSpans"] for s in scope["spans"]),
    }


def test_a_trace_shown_again_after_more_spans_arrive_has_them(tmp_path):
    running = start_oracle(tmp_path / "cache.db")
    try:
        client = running.client()
        send(running.grpc_endpoint, 1, 2)
        two = ["step 1", "step 2"]
        running.wait_for(lambda: client.get(f"/api/v1/traces/{TRACE}").status_code == 200)
        assert span_names(client) == {"rest": two, "jaeger": two, "v3": two}
        assert span_names(client) == {"rest": two, "jaeger": two, "v3": two}  # the kept renderings
        send(running.grpc_endpoint, 3)
        three = ["step 1", "step 2", "step 3"]
        running.wait_for(lambda: span_names(client) == {"rest": three, "jaeger": three, "v3": three})
        summary = client.get(f"/api/v1/traces/{TRACE}").json()["summary"]
        assert summary["span_count"] == 3 and summary["root_name"] == "step 1"
    finally:
        running.stop()


def test_rendered_traces_stay_within_their_budget_dropping_the_least_recently_used() -> None:
    cache = RenderedTraces(max_bytes=100)
    for key in "abcd":
        cache.put(key, f"text {key}", 30)
    assert cache.get("a") is None and cache.size_bytes == 90  # a fourth text of 30 pushed the first out
    assert cache.get("b") == "text b"  # b is now the most recently used
    cache.put("e", "text e", 30)
    assert [k for k in "bcde" if cache.get(k)] == ["b", "d", "e"]
    cache.put("huge", "too big", 101)  # larger than the whole budget: not kept, nothing dropped for it
    assert cache.get("huge") is None and cache.size_bytes == 90
    cache.resize(40)
    assert cache.size_bytes <= 40 and cache.get("e") == "text e"
    cache.resize(0)
    assert cache.size_bytes == 0 and cache.get("e") is None


def test_the_servers_rendered_trace_budget_follows_its_setting(tmp_path) -> None:
    running = start_oracle(tmp_path / "budget.db", rendered_trace_cache_mb=3)
    try:
        assert rendered.max_bytes == 3 << 20
    finally:
        running.stop()
        rendered.resize(MAX_BYTES)


def test_the_rendered_trace_budget_outside_a_server_is_the_settings_default() -> None:
    assert Settings().rendered_trace_cache_mb << 20 == MAX_BYTES
