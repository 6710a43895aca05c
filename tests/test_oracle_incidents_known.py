"""The fault classes the Oracle already named, replayed among healthy background traffic: still named within 5 s."""

from __future__ import annotations

import pytest
from incident_scenarios import background, model_error_storm, oom_killed_near_its_limit
from mock_llm_provider import MockProviderProcess
from oracle_feed import Agents
from polling import wait_until

DEADLINE_S = 5


def open_issues(oracle) -> list[dict]:
    response = oracle.client().get("/api/v1/oracle/issues", params={"budget": 0})
    assert response.status_code == 200, response.text
    return response.json()["issues"]


def incident(oracle, kind: str) -> dict:
    return wait_until(lambda: [i for i in open_issues(oracle) if i["kind"] == kind], DEADLINE_S, f"a {kind} issue")[0]


@pytest.fixture(scope="module")
def provider():
    with MockProviderProcess() as running:
        yield running


def test_failing_tool_is_the_cause_and_its_agents_failures_are_folded_under_it(make_oracle):
    oracle = make_oracle(error_rate_min_count=8)
    background(oracle)
    agents = Agents(oracle, "research-svc")
    for n in range(10):
        with agents.agent("researcher", f"research-{n}", error="ToolError") as span:
            agents.tool("fetch_page", parent=span, error="TimeoutError")
    background(oracle)
    issue = incident(oracle, "tool_failing")
    assert issue["entity"] == {"type": "tool", "name": "fetch_page"}
    assert issue["evidence"]["numbers"] == {"failures": 10, "calls": 10, "consecutive_failures": 10}

    def folded():
        current = open_issues(oracle)
        tool = next(i for i in current if i["kind"] == "tool_failing")
        return tool["symptoms"]["count"] and current

    current = wait_until(folded, DEADLINE_S, "the researcher's failures folded under the tool")
    tool = next(i for i in current if i["kind"] == "tool_failing")
    assert tool["symptoms"]["items"][0]["entity"] == {"type": "agent", "name": "researcher"}
    assert "error_rate_spike" not in [i["kind"] for i in current]


def test_rate_limited_model_through_real_litellm_calls(make_oracle, provider):
    oracle = make_oracle()
    background(oracle)
    model_error_storm(oracle, provider.api_base, failing_calls=5, model="mock-429")
    issue = incident(oracle, "llm_rate_limited")
    assert issue["entity"] == {"type": "model", "name": "openai/mock-429"}
    assert issue["evidence"]["numbers"] == {"rate_limited": 5, "requests": 5}
    assert "llm_provider_errors" not in [i["kind"] for i in open_issues(oracle)]  # a 429 is capacity, not failure


def test_handoff_loop_among_background_traffic(make_oracle):
    oracle = make_oracle(handoff_loop_threshold=4)
    background(oracle)
    agents = Agents(oracle, "support-svc")
    with agents.agent("triage", "ticket-9") as root:
        for source, target in [("triage", "billing"), ("billing", "triage")] * 3:
            agents.handoff(source, target, "ticket-9", parent=root)
    issue = incident(oracle, "handoff_loop")
    assert issue["entity"] == {"type": "task", "name": "ticket-9"} and issue["evidence"]["numbers"] == {"handoffs": 6}


def test_agent_over_capacity_among_background_traffic(make_oracle):
    oracle = make_oracle()
    background(oracle)
    agents = Agents(oracle, "coder-svc")
    spans = [agents.start_agent("coder", f"code-{n}", max_parallel=2) for n in range(3)]
    issue = incident(oracle, "agent_over_capacity")
    assert issue["entity"] == {"type": "agent", "name": "coder"}
    assert issue["evidence"]["numbers"] == {"running": 3, "max_parallel_invocations": 2}
    for span in spans:
        span.end()


def test_cost_spike_among_background_traffic(make_oracle):
    oracle = make_oracle(cost_spike_usd_per_min=1.0)
    background(oracle)
    agents = Agents(oracle, "writer-svc")
    with agents.agent("writer", "essay-1") as span:
        for _ in range(3):
            agents.llm("gpt-4o-2024", parent=span, cost=0.5)
    issue = incident(oracle, "cost_spike")
    assert issue["entity"] == {"type": "model", "name": "openai/gpt-4o-2024"}
    assert issue["evidence"]["numbers"]["cost_usd"] == pytest.approx(1.5)


def test_oom_killed_pod_as_the_kubelet_and_cluster_receivers_report_it(make_oracle):
    oracle = make_oracle(memory_near_limit_ratio=0.9)
    background(oracle)
    oom_killed_near_its_limit(oracle)
    background(oracle)
    issue = incident(oracle, "pod_oom_killed")
    assert issue["entity"] == {"type": "deployment", "name": "embedder"}
    assert issue["evidence"]["numbers"]["memory_limit_ratio"] >= 0.9
