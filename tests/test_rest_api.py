"""The seed's REST API (/api/v1): trace search, trace by id, timeline, agent graph, metrics, simulate-trace.

A scripted multi-agent run goes in as OTLP through the real receiver: a workflow whose
orchestrator calls a model, hands off to a researcher in another service (which calls a model
and a failing tool), queues a task and delegates to a writer.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from otlp_builders import TRACE_EXPORT, kv

MS = 1_000_000
T0 = time.time_ns() - 120 * 10**9  # two minutes ago: inside a 15 minute metrics window
RUN = "00000000000000000000000000000a01"


def sp(
    trace: str,
    n: int,
    parent: int | None,
    name: str,
    start_ms: float,
    end_ms: float,
    *,
    kind=Span.SPAN_KIND_INTERNAL,
    error: str | None = None,
    events=(),
    **attrs,
) -> Span:
    span = Span(
        trace_id=bytes.fromhex(trace),
        span_id=n.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name=name,
        kind=kind,
        start_time_unix_nano=T0 + int(start_ms * MS),
        end_time_unix_nano=T0 + int(end_ms * MS),
        attributes=[kv(k, v) for k, v in attrs.items()],
    )
    if error:
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error))
    for at_ms, event_name, event_attrs in events:
        span.events.add(
            time_unix_nano=T0 + int(at_ms * MS), name=event_name, attributes=[kv(k, v) for k, v in event_attrs.items()]
        )
    return span


def agent(trace, n, parent, name, start, end, **kw):
    return sp(
        trace,
        n,
        parent,
        f"invoke_agent {name}",
        start,
        end,
        **{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name},
        **kw,
    )


def llm(trace, n, parent, model, start, end, tokens_in, tokens_out, cost, **kw):
    return sp(
        trace,
        n,
        parent,
        f"chat {model}",
        start,
        end,
        kind=Span.SPAN_KIND_CLIENT,
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": tokens_in,
            "gen_ai.usage.output_tokens": tokens_out,
            "telemetron.llm.cost.usd": cost,
            "gen_ai.conversation.id": "conv-42",
        },
        **kw,
    )


def tool(trace, n, parent, name, start, end, **kw):
    return sp(
        trace,
        n,
        parent,
        f"execute_tool {name}",
        start,
        end,
        **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name},
        **kw,
    )


def resource(service: str, spans: list[Span]) -> ResourceSpans:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    rs.resource.attributes.append(kv("service.name", service))
    return rs


def multi_agent_run() -> ExportTraceServiceRequest:
    r = RUN
    orchestrator = [
        sp(r, 1, None, "invoke_workflow report", 0, 1000, **{"gen_ai.operation.name": "invoke_workflow"}),
        agent(r, 2, 1, "orchestrator", 10, 990),
        llm(r, 3, 2, "gpt-4o", 20, 120, 100, 20, 0.01),
        tool(
            r,
            4,
            2,
            "transfer_to_researcher",
            130,
            600,
            **{"gen_ai.agent.handoff.source.name": "orchestrator", "gen_ai.agent.handoff.target.name": "researcher"},
        ),
        sp(
            r,
            8,
            2,
            "send tasks",
            610,
            612,
            kind=Span.SPAN_KIND_PRODUCER,
            **{"messaging.operation.type": "send", "messaging.destination.name": "tasks"},
        ),
        agent(r, 9, 2, "writer", 620, 980),
        llm(r, 10, 9, "gpt-4o", 630, 900, 300, 60, 0.03),
    ]
    workers = [
        agent(r, 5, 4, "researcher", 140, 590, kind=Span.SPAN_KIND_SERVER),
        llm(
            r,
            6,
            5,
            "claude-sonnet",
            150,
            300,
            200,
            50,
            0.02,
            events=[(200, "gen_ai.response.first_chunk", {"gen_ai.response.time_to_first_chunk": 0.05})],
        ),
        tool(
            r,
            7,
            5,
            "search_web",
            310,
            580,
            error="timeout",
            events=[(579, "exception", {"exception.type": "TimeoutError"})],
        ),
    ]
    other = [
        sp(
            "00000000000000000000000000000b01",
            1,
            None,
            "GET /health",
            500,
            501,
            kind=Span.SPAN_KIND_SERVER,
            **{"http.route": "/health", "customer.tier": "gold"},
        ),
        sp("00000000000000000000000000000b02", 1, None, "nightly batch", 700, 5700, error="disk full"),
    ]
    return ExportTraceServiceRequest(
        resource_spans=[
            resource("orchestrator-svc", orchestrator),
            resource("worker-svc", workers),
            resource("ops-svc", other),
        ]
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory, module_store_url):
    from oracle_fixtures import start_oracle

    running = start_oracle(tmp_path_factory.mktemp("rest") / "t.db", store_url=module_store_url)
    channel = grpc.insecure_channel(running.grpc_endpoint)
    channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)(
        multi_agent_run().SerializeToString(), timeout=30
    )
    channel.close()
    client = running.client()
    running.wait_for(lambda: client.get("/api/v1/traces").json()["count"] == 3)
    yield running
    running.stop()


def trace_ids(server, **params) -> list[str]:
    response = server.client().get("/api/v1/traces", params=params)
    assert response.status_code == 200, response.text
    return [t["trace_id"] for t in response.json()["traces"]]


# --- search ---------------------------------------------------------------------------------------


def test_list_is_newest_first_with_summaries(server):
    body = server.client().get("/api/v1/traces").json()
    assert [t["trace_id"] for t in body["traces"]] == [
        "00000000000000000000000000000b02",
        "00000000000000000000000000000b01",
        RUN,
    ]
    run = body["traces"][2]
    assert run["root_name"] == "invoke_workflow report"
    assert run["root_service"] == "orchestrator-svc"
    assert sorted(run["services"]) == ["orchestrator-svc", "worker-svc"]
    assert (run["span_count"], run["error_count"], run["duration_ms"]) == (10, 1, 1000.0)


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"service": "worker-svc"}, [RUN]),
        ({"agent": "researcher"}, [RUN]),
        ({"model": "claude-sonnet"}, [RUN]),
        ({"conversation_id": "conv-42"}, [RUN]),
        ({"operation": "execute_tool"}, [RUN]),
        ({"status": "error"}, ["00000000000000000000000000000b02", RUN]),
        ({"status": "ok"}, ["00000000000000000000000000000b01"]),
        ({"min_duration_ms": 2000}, ["00000000000000000000000000000b02"]),
        ({"max_duration_ms": 10}, ["00000000000000000000000000000b01"]),
        ({"attributes": json.dumps({"customer.tier": "gold"})}, ["00000000000000000000000000000b01"]),
        ({"attributes": json.dumps({"gen_ai.usage.input_tokens": 200})}, [RUN]),  # an int attribute
        # Conditions may hold on different spans of the trace: the agent span and the LLM span.
        ({"agent": "writer", "model": "claude-sonnet"}, [RUN]),
        ({"agent": "writer", "service": "ops-svc"}, []),
    ],
)
def test_filters(server, params, expected):
    assert trace_ids(server, **params) == expected


def test_time_range_filter(server):
    from datetime import datetime

    def at(ms: float) -> str:
        return datetime.fromtimestamp((T0 + ms * MS) / 1e9, tz=UTC).isoformat()

    assert trace_ids(server, start=at(1100), end=at(6000)) == ["00000000000000000000000000000b02"]
    assert trace_ids(server, end=at(100)) == [RUN]


def test_cursor_pages_through_every_trace_once(server):
    client = server.client()
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/traces", params=params).json()
        seen += [t["trace_id"] for t in body["traces"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == trace_ids(server)
    assert client.get("/api/v1/traces", params={"cursor": "garbage"}).status_code == 400


# --- one trace ------------------------------------------------------------------------------------


def test_trace_by_id_with_parentage(server):
    client = server.client()
    trace = client.get(f"/api/v1/traces/{RUN}").json()
    assert len(trace["spans"]) == 10
    assert trace["roots"] == ["0000000000000001"]
    by_id = {s["span_id"]: s for s in trace["spans"]}
    assert by_id["0000000000000005"]["parent_span_id"] == "0000000000000004"
    assert sorted(by_id["0000000000000002"]["children"]) == [
        "0000000000000003",
        "0000000000000004",
        "0000000000000008",
        "0000000000000009",
    ]
    assert client.get(f"/api/v1/traces/{RUN[16:]}").json()["trace_id"] == RUN  # 16 hex digits work too
    assert client.get("/api/v1/traces/ffffffffffffffffffffffffffffffff").status_code == 404
    assert client.get("/api/v1/traces/xyz").status_code == 400


def test_timeline_labels_each_step_with_its_agent(server):
    body = server.client().get(f"/api/v1/traces/{RUN}/timeline").json()
    steps = body["steps"]
    assert [s["start_ns"] for s in steps] == sorted(s["start_ns"] for s in steps)
    spans = [(s["name"], s["step"], s["agent"]) for s in steps if s["type"] == "span"]
    assert spans == [
        ("invoke_workflow report", "other", None),
        ("invoke_agent orchestrator", "agent", "orchestrator"),
        ("chat gpt-4o", "llm", "orchestrator"),
        ("execute_tool transfer_to_researcher", "handoff", "orchestrator"),
        ("invoke_agent researcher", "agent", "researcher"),
        ("chat claude-sonnet", "llm", "researcher"),
        ("execute_tool search_web", "tool", "researcher"),
        ("send tasks", "queue", "orchestrator"),
        ("invoke_agent writer", "agent", "writer"),
        ("chat gpt-4o", "llm", "writer"),
    ]
    events = [(s["name"], s["step"], s["agent"], s["span_id"]) for s in steps if s["type"] == "event"]
    assert events == [
        ("gen_ai.response.first_chunk", "llm", "researcher", "0000000000000006"),
        ("exception", "tool", "researcher", "0000000000000007"),
    ]
    handoff = next(s for s in steps if s["step"] == "handoff")
    assert handoff["details"]["source"] == "orchestrator" and handoff["details"]["target"] == "researcher"
    failed = next(s for s in steps if s["name"] == "execute_tool search_web")
    assert failed["error"] and failed["status_message"] == "timeout"
    llm_step = next(s for s in steps if s["name"] == "chat claude-sonnet")
    assert llm_step["details"]["input_tokens"] == 200 and llm_step["details"]["cost_usd"] == 0.02
    assert next(s for s in steps if s["name"] == "invoke_agent researcher")["parent_agent"] == "orchestrator"


def test_graph_has_delegation_handoff_and_call_edges(server):
    graph = server.client().get(f"/api/v1/traces/{RUN}/graph").json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert set(nodes) == {
        "agent:orchestrator",
        "agent:researcher",
        "agent:writer",
        "model:gpt-4o",
        "model:claude-sonnet",
        "tool:search_web",
    }
    edges = {(e["source"], e["target"], e["type"]): e for e in graph["edges"]}
    assert set(edges) == {
        ("agent:orchestrator", "agent:researcher", "delegation"),
        ("agent:orchestrator", "agent:researcher", "handoff"),
        ("agent:orchestrator", "agent:writer", "delegation"),
        ("agent:orchestrator", "model:gpt-4o", "call"),
        ("agent:writer", "model:gpt-4o", "call"),
        ("agent:researcher", "model:claude-sonnet", "call"),
        ("agent:researcher", "tool:search_web", "call"),
    }
    handoff = edges[("agent:orchestrator", "agent:researcher", "handoff")]
    assert (handoff["count"], handoff["total_duration_ms"], handoff["avg_duration_ms"]) == (1, 470.0, 470.0)
    assert edges[("agent:researcher", "tool:search_web", "call")]["errors"] == 1
    assert nodes["model:gpt-4o"]["count"] == 2
    assert server.client().get("/api/v1/traces/ffffffffffffffffffffffffffffffff/graph").status_code == 404


# --- metrics --------------------------------------------------------------------------------------


def test_metrics_per_agent_model_and_tool(server):
    body = server.client().get("/api/v1/metrics", params={"window": "15m"}).json()
    agents = {a["name"]: a for a in body["agents"]}
    models = {m["name"]: m for m in body["models"]}
    tools = {t["name"]: t for t in body["tools"]}
    assert set(agents) == {"orchestrator", "researcher", "writer"}
    assert agents["researcher"]["calls"] == 1
    assert agents["researcher"]["tokens"] == {"input": 200, "output": 50}  # its own LLM call only
    assert agents["orchestrator"]["cost_usd"] == pytest.approx(0.01)
    gpt = models["gpt-4o"]
    assert (gpt["calls"], gpt["errors"], gpt["tokens"]) == (2, 0, {"input": 400, "output": 80})
    assert gpt["cost_usd"] == pytest.approx(0.04)
    assert gpt["latency_ms"] == {"p50": 100.0, "p95": 270.0, "p99": 270.0, "avg": 185.0}
    assert tools["search_web"]["errors"] == 1 and tools["search_web"]["error_rate"] == 1.0
    assert tools["transfer_to_researcher"]["calls"] == 1


def test_metrics_window_excludes_older_spans(server):
    body = server.client().get("/api/v1/metrics", params={"window": "30s"}).json()
    assert body["agents"] == [] and body["models"] == [] and body["tools"] == []
    assert server.client().get("/api/v1/metrics", params={"window": "soon"}).status_code == 400


# --- simulate -------------------------------------------------------------------------------------


def test_simulate_trace_travels_through_the_otlp_receiver(tmp_path):
    from oracle_fixtures import start_oracle

    running = start_oracle(tmp_path / "sim.db")
    try:
        services = running.oracle.services
        # Point the simulator at this server's own receiver instead of the Collector.
        services.settings = services.settings.model_copy(update={"simulate_otlp_endpoint": running.grpc_endpoint})
        client = running.client()
        response = client.post("/api/v1/debug/simulate-trace", json={"error": True})
        assert response.status_code == 200, response.text
        trace_id = response.json()["trace_id"]
        assert response.json()["spans"] == 12
        running.wait_for(
            lambda: (
                client.get(f"/api/v1/traces/{trace_id}").status_code == 200
                and len(client.get(f"/api/v1/traces/{trace_id}").json()["spans"]) == 12
            )
        )
        assert running.oracle.receiver.stats.traces.accepted >= 12  # it came in over gRPC
        steps = {s["step"] for s in client.get(f"/api/v1/traces/{trace_id}/timeline").json()["steps"]}
        assert {"agent", "tool", "llm", "handoff", "queue"} <= steps
        graph = client.get(f"/api/v1/traces/{trace_id}/graph").json()
        assert {e["type"] for e in graph["edges"]} == {"delegation", "handoff", "call"}
        spans = client.get(f"/api/v1/traces/{trace_id}").json()["spans"]
        llm_span = next(s for s in spans if s["gen_ai"]["operation"] == "chat")
        assert llm_span["gen_ai"]["provider"] and llm_span["gen_ai"]["input_tokens"] > 0
        assert "telemetron.llm.cost.usd" in llm_span["attributes"]
        assert client.get(f"/api/v1/traces/{trace_id}").json()["summary"]["error_count"] >= 1
    finally:
        running.stop()


def test_simulate_reports_an_unreachable_collector(tmp_path):
    from oracle_fixtures import free_port, start_oracle

    running = start_oracle(tmp_path / "sim.db", simulate_otlp_endpoint=f"127.0.0.1:{free_port()}")
    try:
        response = running.client().post("/api/v1/debug/simulate-trace")
        assert response.status_code == 502
        assert "TELEMETRON_SIMULATE_OTLP_ENDPOINT" in response.json()["detail"]
    finally:
        running.stop()


def test_trace_by_id_gives_back_every_value_and_the_parentage(oracle_server):
    """GET /api/v1/traces/{id}: free text, big ints and floats come back as sent; orphans are roots."""
    weird = 'say "hi"\n\\ ünïcode \x01 </script>'
    trace = "00000000000000000000000000000c01"
    spans = [
        sp(
            trace,
            1,
            None,
            weird,
            0,
            1.5,
            error=weird,
            **{
                "gen_ai.agent.name": weird,
                "gen_ai.operation.name": "invoke_agent",
                "note": weird,
                "big": 2**62,
                "f": 0.1,
            },
        ),
        sp(trace, 2, 1, "child", 0.000001, 0.000002, events=[(0.0000015, weird, {"k": weird})]),
        sp(trace, 3, 99, "orphan", 1, 2),
    ]
    channel = grpc.insecure_channel(oracle_server.grpc_endpoint)
    channel.unary_unary(TRACE_EXPORT)(
        ExportTraceServiceRequest(resource_spans=[resource(weird, spans)]).SerializeToString(), timeout=30
    )
    channel.close()
    client = oracle_server.client()
    oracle_server.wait_for(lambda: client.get(f"/api/v1/traces/{trace}").status_code == 200)
    served = client.get(f"/api/v1/traces/{trace}").json()
    assert served["roots"] == ["0000000000000001", "0000000000000003"]
    first, child, orphan = served["spans"]
    assert first["name"] == weird and first["service_name"] == weird and first["kind"] == "INTERNAL"
    assert first["attributes"] == {
        "gen_ai.agent.name": weird,
        "gen_ai.operation.name": "invoke_agent",
        "note": weird,
        "big": 2**62,
        "f": 0.1,
    }
    assert first["gen_ai"]["agent_name"] == weird and first["gen_ai"]["operation"] == "invoke_agent"
    assert first["status"] == {"code": "ERROR", "message": weird}
    assert first["start_ns"] == T0 and first["end_ns"] == T0 + int(1.5 * MS) and first["duration_ms"] == 1.5
    assert first["start_time"] == datetime.fromtimestamp(T0 // 10**9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{T0 // 1000 % 10**6:06d}Z" if T0 // 1000 % 10**6 else "Z"
    )
    assert first["children"] == ["0000000000000002"] and first["is_root"] and first["parent_span_id"] is None
    assert child["events"][0]["name"] == weird and child["events"][0]["attributes"] == {"k": weird}
    assert child["is_root"] is False and child["parent_span_id"] == "0000000000000001"
    assert orphan["is_root"] and orphan["parent_span_id"] == f"{99:016x}" and orphan["children"] == []
    assert served["summary"]["span_count"] == 3 and served["summary"]["error_count"] == 1
    assert served["summary"]["root_name"] == weird and served["summary"]["services"] == [weird]
    assert [r["service_name"] for r in served["resources"].values()] == [weird]
    assert served["active_spans"] == []
