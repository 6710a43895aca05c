"""A varied agent system fed through oracle_api's real gRPC receiver, for the dashboard's browser tests.

Running and finished agents with capacity, LLM calls on two models (tokens, cost, a rate-limit
header, a 429), a handoff, a queue with a waiting task blocked by another, failures, and the
simulator's multi-agent traces: enough for every view to have something to show.
"""

from __future__ import annotations

from oracle_feed import Agents, end


def feed(running) -> dict:
    """Send the data; returns what the tests look for (trace ids, names)."""
    services = running.oracle.services
    services.settings = services.settings.model_copy(update={"simulate_otlp_endpoint": running.grpc_endpoint})
    client = running.client()
    simulated = [
        client.post("/api/v1/debug/simulate-trace", json={"error": e}).json()["trace_id"] for e in (False, True)
    ]
    agents = Agents(running, service="research-agents")
    ratelimit = {"requests.limit": 100, "requests.remaining": 7, "tokens.limit": 10000, "tokens.remaining": 900}
    with agents.agent("planner", "task-1", max_parallel=2, models=["gpt-4o"]) as planner:
        agents.llm(
            "gpt-4o",
            parent=planner,
            input_tokens=1200,
            output_tokens=300,
            cost=0.012,
            ratelimit=ratelimit,
            duration_s=0.8,
        )
        agents.llm("gpt-4o-mini", parent=planner, input_tokens=400, output_tokens=90, cost=0.0004, duration_s=0.2)
        agents.llm("gpt-4o", parent=planner, error="RateLimitError", input_tokens=0, output_tokens=0, duration_s=0.1)
        agents.tool("search_web", parent=planner, error="TimeoutError")
        parse = agents.start(
            "execute_tool parse_pdf",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "parse_pdf"},
            parent=planner,
            pending=False,
        )
        try:
            int("page eleven")
        except ValueError as exc:
            parse.record_exception(exc)
            end(parse, "ValueError")
        agents.handoff("planner", "writer", "task-2", parent=planner)
        failed_trace = format(planner.get_span_context().trace_id, "032x")
    with agents.agent("writer", "task-2", error="ValueError"):
        pass
    blocker = agents.send("work", "job-a", priority="high", submitted_by="planner")
    agents.send("work", "job-b", priority="normal", blocked_by="job-a", submitted_by="planner")
    agents.send("work", "job-c", priority="low", blocked_by="job-b", submitted_by="writer")
    agents.process("work", "job-a", blocker)
    for i in range(8):  # short runs: enough traces for more than one page of search results
        with agents.agent("indexer", f"index-{i}"):
            pass
    long_running = agents.start_agent("reviewer", "task-9", max_parallel=1)  # started, not ended: running
    return {"simulated": simulated, "failed_trace": failed_trace, "agents": agents, "running": long_running}
