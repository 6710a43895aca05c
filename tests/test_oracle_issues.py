"""Issue detection scenarios: each drives one kind of trouble through real OTLP and reads /api/v1/oracle/issues."""

from __future__ import annotations

import time

import pytest
from incident_scenarios import oom_killed_near_its_limit
from oracle_feed import Agents, get_state, issues_of, pod_resource, send_metrics

MIB = 1024 * 1024


@pytest.fixture
def make_oracle(make_oracle):
    """The shared factory, plus: each oracle's final state must still obey the schema."""
    started = []

    def make(**overrides):
        started.append(make_oracle(**overrides))
        return started[-1]

    yield make
    for running in started:
        get_state(running)


def wait_issue(oracle, kind: str) -> dict:
    return oracle.wait_for(lambda: issues_of(oracle, kind), timeout=5)[0]


def trace_of(span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def assert_shape(issue: dict) -> None:
    assert set(issue) >= {"id", "kind", "severity", "entity", "evidence", "probable_cause", "first_seen", "last_seen"}
    assert issue["severity"] in ("info", "warning", "error", "critical")
    assert set(issue["entity"]) >= {"type", "name"} and set(issue["evidence"]) >= {"trace_ids", "numbers"}
    assert issue["probable_cause"] and "\n" not in issue["probable_cause"]
    assert (
        set(issue["symptoms"]) == {"count", "items"} and len(issue["symptoms"]["items"]) <= issue["symptoms"]["count"]
    )
    assert all(link.startswith("/api/v1/traces/") for link in issue["example_traces"])


def test_agent_over_max_parallel_invocations(make_oracle):
    oracle = make_oracle()
    agents = Agents(oracle)
    spans = [agents.start_agent("writer", f"t-{n}", max_parallel=1) for n in range(2)]
    issue = wait_issue(oracle, "agent_over_capacity")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("error", {"type": "agent", "name": "writer"})
    assert issue["evidence"]["numbers"] == {"running": 2, "max_parallel_invocations": 1}
    assert set(issue["evidence"]["trace_ids"]) == {trace_of(s) for s in spans}
    for span in spans:
        span.end()
    oracle.wait_for(lambda: not issues_of(oracle, "agent_over_capacity"), timeout=5)


def test_running_task_without_heartbeat_is_stuck(make_oracle):
    oracle = make_oracle(stuck_task_after_s=1.0)
    agents = Agents(oracle)
    span = agents.start_agent("researcher", "task-9")
    issue = wait_issue(oracle, "task_stuck")
    assert_shape(issue)
    assert issue["entity"] == {"type": "task", "name": "task-9", "agent": "researcher"}
    assert issue["evidence"]["trace_ids"] == [trace_of(span)]
    assert issue["evidence"]["numbers"]["silent_s"] >= 1.0
    first_seen = issue["first_seen"]
    (again,) = oracle.wait_for(
        lambda: [i for i in issues_of(oracle, "task_stuck") if i["last_seen"] > first_seen], timeout=5
    )
    assert again["first_seen"] == first_seen and again["id"] == issue["id"]
    agents.heartbeat(span)  # a heartbeat arrives: no longer stuck
    oracle.wait_for(lambda: not issues_of(oracle, "task_stuck"), timeout=5)
    span.end()


def test_task_running_far_longer_than_the_agents_usual(make_oracle):
    oracle = make_oracle(slow_task_factor=3.0, slow_task_min_samples=3, slow_task_min_s=0.0)
    agents = Agents(oracle)
    for n in range(3):
        with agents.agent("summarizer", f"quick-{n}"):
            time.sleep(0.01)
    slow = agents.start_agent("summarizer", "slow-1")
    issue = wait_issue(oracle, "task_slow")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == (
        "warning",
        {"type": "task", "name": "slow-1", "agent": "summarizer"},
    )
    assert issue["evidence"]["trace_ids"] == [trace_of(slow)] and issue["evidence"]["numbers"]["samples"] == 3
    slow.end()


def test_tool_failing_repeatedly(make_oracle):
    oracle = make_oracle(tool_failure_threshold=3)
    agents = Agents(oracle)
    traces = []
    for n in range(3):
        with agents.agent("researcher", f"r-{n}") as span:
            agents.tool("search_web", parent=span, error="TimeoutError")
            traces.append(trace_of(span))
    issue = wait_issue(oracle, "tool_failing")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("error", {"type": "tool", "name": "search_web"})
    assert issue["evidence"]["numbers"]["failures"] == 3 and issue["evidence"]["numbers"]["consecutive_failures"] == 3
    assert set(issue["evidence"]["trace_ids"]) == set(traces)
    assert issue["evidence"]["errors"] == ["TimeoutError"] and issue["evidence"]["agents"] == ["researcher"]


def test_llm_rate_limit_nearly_exhausted(make_oracle):
    oracle = make_oracle(ratelimit_remaining_ratio=0.1)
    Agents(oracle).llm(
        "gpt-4o",
        ratelimit={"tokens.limit": 30_000, "tokens.remaining": 1_200, "requests.limit": 500, "requests.remaining": 400},
    )
    issue = wait_issue(oracle, "llm_rate_limit_near")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("warning", {"type": "model", "name": "openai/gpt-4o"})
    assert issue["evidence"]["numbers"] == {"tokens_remaining": 1200, "tokens_limit": 30000}


def test_llm_calls_answered_with_429(make_oracle):
    oracle = make_oracle()
    agents = Agents(oracle)
    with agents.agent("writer") as span:
        agents.llm("gpt-4o-mini", parent=span, error="RateLimitError")
    issue = wait_issue(oracle, "llm_rate_limited")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("error", {"type": "model", "name": "openai/gpt-4o-mini"})
    assert issue["evidence"]["numbers"]["rate_limited"] == 1 and issue["evidence"]["trace_ids"] == [trace_of(span)]
    assert not issues_of(oracle, "llm_provider_errors")  # a 429 is a capacity problem, not a provider failure


def test_provider_returning_server_errors(make_oracle):
    oracle = make_oracle(provider_server_errors=3)
    agents = Agents(oracle)
    for error in ("InternalServerError", "503", "ServiceUnavailableError"):
        agents.llm("claude-sonnet-4", provider="anthropic", error=error)
    agents.llm("claude-sonnet-4", provider="anthropic")
    issue = wait_issue(oracle, "llm_provider_errors")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == (
        "error",
        {"type": "model", "name": "anthropic/claude-sonnet-4", "provider": "anthropic", "model": "claude-sonnet-4"},
    )
    assert issue["evidence"]["numbers"] == {"errors": 3, "server_errors": 3, "requests": 4, "error_rate": 0.75}
    assert issue["evidence"]["models"] == ["claude-sonnet-4"] and len(issue["evidence"]["trace_ids"]) == 3


def test_handoff_loop_between_two_agents(make_oracle):
    oracle = make_oracle(handoff_loop_threshold=4)
    agents = Agents(oracle)
    with agents.agent("triage", "ticket-9") as root:
        for source, target in [("triage", "billing"), ("billing", "triage")] * 2:
            agents.handoff(source, target, "ticket-9", parent=root)
    issue = wait_issue(oracle, "handoff_loop")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("error", {"type": "task", "name": "ticket-9"})
    assert issue["evidence"]["numbers"] == {"handoffs": 4}
    assert issue["evidence"]["agents"] == ["billing", "triage"] and issue["evidence"]["trace_ids"] == [trace_of(root)]


def handed_back_and_forth(agents: Agents, task_id: str, moves: list[tuple[str, str]]) -> None:
    with agents.agent(moves[0][0], task_id) as root:
        for source, target in moves:
            agents.handoff(source, target, task_id, parent=root)


def looping_tasks_once_this_loop_shows(oracle, agents: Agents) -> list[str]:
    """Four handoffs back and forth on ``anchor``, sent last: once its loop shows, everything before it was read."""
    handed_back_and_forth(agents, "anchor", [("triage", "billing"), ("billing", "triage")] * 2)
    issues = oracle.wait_for(lambda: issues_of(oracle, "handoff_loop"), timeout=5)
    return sorted(issue["entity"]["name"] for issue in issues)


def test_handoff_loop_is_not_flagged_one_handoff_before_the_threshold(make_oracle):
    oracle = make_oracle(handoff_loop_threshold=4)
    agents = Agents(oracle)
    handed_back_and_forth(agents, "ticket-3", [("triage", "billing"), ("billing", "triage"), ("triage", "billing")])
    assert looping_tasks_once_this_loop_shows(oracle, agents) == ["anchor"]


def test_handoffs_repeated_one_way_are_not_a_loop(make_oracle):
    oracle = make_oracle(handoff_loop_threshold=4)
    agents = Agents(oracle)
    handed_back_and_forth(agents, "batch-7", [("planner", "writer")] * 5)
    assert looping_tasks_once_this_loop_shows(oracle, agents) == ["anchor"]


def test_queue_backlog(make_oracle):
    oracle = make_oracle(queue_backlog_threshold=3)
    agents = Agents(oracle)
    sends = [agents.send("research", f"r-{n}") for n in range(3)]
    issue = wait_issue(oracle, "queue_backlog")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("warning", {"type": "queue", "name": "research"})
    assert issue["evidence"]["numbers"]["pending"] == 3
    assert set(issue["evidence"]["trace_ids"]) == {trace_of(s) for s in sends}


def test_task_waiting_in_queue_past_threshold(make_oracle):
    oracle = make_oracle(queue_wait_threshold_s=0.5)
    send = Agents(oracle).send("review", "rev-1", priority="critical")
    issue = wait_issue(oracle, "queue_task_waiting")
    assert_shape(issue)
    assert issue["entity"] == {"type": "queue", "name": "review"}
    assert issue["evidence"]["task_ids"] == ["rev-1"] and issue["evidence"]["trace_ids"] == [trace_of(send)]


def test_queued_task_blocked_on_a_failed_task(make_oracle):
    """The incident's subject is the failed task (the root cause); the waiting task is its symptom."""
    oracle = make_oracle()
    agents = Agents(oracle)
    with agents.agent("writer", "draft-1", error="ContextWindowExceeded") as failed:
        pass
    agents.send("review", "review-1", blocked_by="draft-1")
    issue = wait_issue(oracle, "task_blocked_on_failed")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("error", {"type": "task", "name": "draft-1", "agent": "writer"})
    assert (
        issue["evidence"]["blocked_by"] == "draft-1" and issue["evidence"]["blocking_error"] == "ContextWindowExceeded"
    )
    assert issue["evidence"]["numbers"]["blocked"] == 1
    assert issue["symptoms"]["count"] == 1 and issue["symptoms"]["items"][0]["entity"]["name"] == "review-1"
    assert trace_of(failed) in issue["evidence"]["trace_ids"]


def test_pod_not_ready_for_an_agents_deployment(make_oracle):
    oracle = make_oracle(pod_not_ready_after_s=0.0)
    with Agents(oracle, "writer", **{"k8s.deployment.name": "writer"}).agent("writer"):
        pass
    pod = "writer-7d9c8b6f5d-aaaaa"
    send_metrics(oracle.grpc_endpoint, pod_resource("writer", pod), [("k8s.pod.phase", 2)])
    send_metrics(oracle.grpc_endpoint, pod_resource("writer", pod, "app"), [("k8s.container.ready", 0)])
    issue = wait_issue(oracle, "pod_not_ready")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("error", {"type": "deployment", "name": "writer"})
    assert issue["evidence"]["pods"] == [pod] and issue["evidence"]["agents"] == ["writer"]
    send_metrics(oracle.grpc_endpoint, pod_resource("writer", pod, "app"), [("k8s.container.ready", 1)])
    oracle.wait_for(lambda: not issues_of(oracle, "pod_not_ready"), timeout=5)


def test_deployment_with_fewer_available_pods_than_desired(make_oracle):
    oracle = make_oracle(pod_not_ready_after_s=0.0)
    send_metrics(
        oracle.grpc_endpoint,
        {"k8s.deployment.name": "coder"},
        [("k8s.deployment.desired", 3), ("k8s.deployment.available", 1)],
    )
    issue = wait_issue(oracle, "deployment_degraded")
    assert_shape(issue)
    assert issue["entity"] == {"type": "deployment", "name": "coder"}
    assert issue["evidence"]["numbers"] == {"desired": 3, "available": 1}


def test_crash_looping_pod(make_oracle):
    oracle = make_oracle(crashloop_restarts=3)
    resource = pod_resource("coder", "coder-5f6d7c8b9a-ccccc", "app")
    for restarts in (0, 1, 3):
        send_metrics(oracle.grpc_endpoint, resource, [("k8s.container.restarts", restarts)])
    issue = wait_issue(oracle, "pod_crash_looping")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("critical", {"type": "deployment", "name": "coder"})
    assert issue["evidence"]["numbers"] == {"restarts_in_window": 3, "restarts_total": 3}
    assert issue["evidence"]["pods"] == ["coder-5f6d7c8b9a-ccccc"]


def test_oom_killed_pod_by_last_terminated_reason(make_oracle):
    oracle = make_oracle()
    resource = pod_resource("embedder", "embedder-5f6d7c8b9a-ddddd", "app")
    send_metrics(oracle.grpc_endpoint, resource, [("k8s.container.restarts", 0)])
    send_metrics(
        oracle.grpc_endpoint,
        {**resource, "k8s.container.status.last_terminated_reason": "OOMKilled"},
        [("k8s.container.restarts", 1)],
    )
    issue = wait_issue(oracle, "pod_oom_killed")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("critical", {"type": "deployment", "name": "embedder"})
    assert issue["evidence"]["pods"] == ["embedder-5f6d7c8b9a-ddddd"]


def test_oom_killed_pod_by_restart_with_memory_near_its_limit(make_oracle):
    oracle = make_oracle(memory_near_limit_ratio=0.9)
    oom_killed_near_its_limit(oracle)
    issue = wait_issue(oracle, "pod_oom_killed")
    assert issue["entity"] == {"type": "deployment", "name": "embedder"}
    assert issue["evidence"]["numbers"]["memory_limit_ratio"] >= 0.9


def test_error_rate_spike(make_oracle):
    oracle = make_oracle(error_rate_min_count=4, error_rate_threshold=0.5)
    agents = Agents(oracle)
    for n, error in enumerate([None, "ToolError", "ToolError", "ToolError"]):
        with agents.agent("coder", f"c-{n}", error=error):
            pass
    issue = wait_issue(oracle, "error_rate_spike")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("error", {"type": "agent", "name": "coder"})
    assert issue["evidence"]["numbers"]["failed"] == 3 and issue["evidence"]["numbers"]["total"] == 4
    assert len(issue["evidence"]["trace_ids"]) == 3


def test_cost_spike(make_oracle):
    oracle = make_oracle(cost_spike_usd_per_min=1.0)
    agents = Agents(oracle)
    with agents.agent("writer") as span:
        for _ in range(2):
            agents.llm("gpt-4o", parent=span, cost=0.6)
    issue = wait_issue(oracle, "cost_spike")
    assert_shape(issue)
    assert (issue["severity"], issue["entity"]) == ("warning", {"type": "model", "name": "openai/gpt-4o"})
    assert issue["evidence"]["numbers"]["cost_usd"] == pytest.approx(1.2)


def test_healthy_system_reports_no_issues(oracle_server):
    """Default thresholds, a busy but healthy system: no issue of any kind."""
    agents = Agents(oracle_server, "agents", **{"k8s.deployment.name": "agents"})
    for n in range(5):
        with agents.agent("planner", f"plan-{n}", max_parallel=2, models=["gpt-4o"]) as planner:
            agents.llm(
                "gpt-4o",
                parent=planner,
                cost=0.001,
                ratelimit={
                    "tokens.limit": 30_000,
                    "tokens.remaining": 29_000,
                    "requests.limit": 500,
                    "requests.remaining": 490,
                },
            )
            agents.tool("search_web", parent=planner)
            agents.handoff("planner", "writer", f"plan-{n}", parent=planner)
            with agents.agent("writer", f"plan-{n}", parent=planner):
                pass
            send = agents.send("review", f"rev-{n}", parent=planner)
            agents.process("review", f"rev-{n}", send)
    pod = "agents-7d9c8b6f5d-aaaaa"
    send_metrics(
        oracle_server.grpc_endpoint,
        {"k8s.deployment.name": "agents"},
        [("k8s.deployment.desired", 1), ("k8s.deployment.available", 1)],
    )
    send_metrics(
        oracle_server.grpc_endpoint,
        pod_resource("agents", pod),
        [("k8s.pod.phase", 2), ("k8s.pod.memory.working_set", 100 * MIB)],
    )
    send_metrics(
        oracle_server.grpc_endpoint,
        pod_resource("agents", pod, "app"),
        [("k8s.container.ready", 1), ("k8s.container.restarts", 0), ("k8s.container.memory_limit", 1024 * MIB)],
    )
    # Issues are detected on each read, from what has been read in: wait until the last metrics show.
    state = oracle_server.wait_for(
        lambda: (
            (s := get_state(oracle_server))
            and s["counts"]["tasks_completed"] == 10
            and s["workload"]
            and "pod_max_ram" in s["workload"][0]
            and s
        )
    )
    assert state["queues"][0]["tasks"] == []
    assert issues_of(oracle_server) == []
