"""Incidents: each fault class, among healthy background traffic, named by its root cause within 5 s.

The data goes through real OTLP gRPC (and real LiteLLM calls through the callback against the
mock provider for the model storm); the answer is read from /api/v1/oracle/issues and
``telemetron diagnose``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from incident_scenarios import (
    background,
    backlog_behind_failed_task,
    crashed_pod,
    hung_llm_call,
    hung_task,
    model_error_storm,
)
from mock_llm_provider import MockProviderProcess
from oracle_feed import Agents, agent_of, get_state, pod_resource, send_metrics
from polling import wait_until

TELEMETRON = str(Path(sys.executable).parent / "telemetron")
DEADLINE_S = 5
SEVERITIES = ["info", "warning", "error", "critical"]


def issues(oracle, **params) -> dict:
    response = oracle.client().get("/api/v1/oracle/issues", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def incident(oracle, kind: str, name: str | None = None) -> dict:
    """The open issue of ``kind`` (and entity name), within the deadline of the data's arrival."""

    def found():
        return next(
            (
                i
                for i in issues(oracle, budget=0)["issues"]
                if i["kind"] == kind and (name is None or i["entity"]["name"] == name)
            ),
            None,
        )

    return wait_until(found, DEADLINE_S, f"a {kind} issue")


def kinds(oracle) -> list[str]:
    return [i["kind"] for i in issues(oracle, budget=0)["issues"]]


def diagnose(oracle, *args: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRON_")}
    return subprocess.run(
        [TELEMETRON, "--url", oracle.http_url, "diagnose", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )


@pytest.fixture(scope="module")
def provider():
    with MockProviderProcess() as running:
        yield running


def test_hung_but_alive_task_is_named_with_its_age_its_peers_and_the_tool_that_hangs(make_oracle):
    oracle = make_oracle()
    background(oracle)
    hung = hung_task(oracle)
    issue = incident(oracle, "task_hung")
    assert issue["entity"] == {"type": "task", "name": "crawl-7", "agent": "fetcher"}
    numbers = issue["evidence"]["numbers"]
    assert 27 * 60 - 1 <= numbers["running_s"] < 28 * 60
    assert 26 * 60 - 1 <= numbers["since_progress_s"] < 27 * 60
    assert 26 * 60 - 1 <= numbers["tool_open_s"] < 27 * 60
    assert numbers["peers_p95_s"] < 1 and numbers["tool_p95_s"] < 1 and numbers["heartbeat_age_s"] < 60
    assert issue["evidence"]["tool"]["name"] == "http_get"
    assert issue["evidence"]["trace_ids"] == [hung["trace_id"]]
    assert not {"task_stuck", "task_slow"} & set(kinds(oracle))
    result = diagnose(oracle)
    assert "task_hung  task=crawl-7" in result.stdout and "no workload metrics collected" in result.stdout


def test_task_hung_on_an_llm_call_names_the_model_and_the_calls_usual_latency(make_oracle):
    oracle = make_oracle()
    background(oracle)
    hung_llm_call(oracle)
    issue = incident(oracle, "task_hung")
    assert issue["entity"] == {"type": "task", "name": "answer-3", "agent": "answerer"}
    assert issue["evidence"]["llm_call"]["model"] == "gpt-4o-mini"
    numbers = issue["evidence"]["numbers"]
    assert 19 * 60 - 1 <= numbers["llm_open_s"] < 20 * 60 and 0.4 <= numbers["llm_p95_s"] <= 0.6
    assert "the LLM call to openai/gpt-4o-mini has been open" in issue["probable_cause"]


def test_open_task_without_peers_is_hung_only_past_the_absolute_ceiling(make_oracle):
    oracle = make_oracle(hung_task_ceiling_s=3600)
    background(oracle)
    hung_task(oracle)  # 27 minutes, but its peers make 27 minutes far too long: hung
    incident(oracle, "task_hung")
    lone = make_oracle(hung_task_ceiling_s=3600, hung_min_samples=50)  # too few peers: only the ceiling counts
    hung_task(lone)
    wait_until(lambda: get_state(lone)["counts"]["tasks_running"] == 1, DEADLINE_S, "the task shows running")
    assert "task_hung" not in kinds(lone)


def test_model_error_storm_names_the_model_and_endpoint_and_folds_the_agents_failures(make_oracle, provider):
    oracle = make_oracle()
    background(oracle)
    model_error_storm(oracle, provider.api_base, failing_calls=12)
    issue = incident(oracle, "llm_provider_errors")
    assert issue["entity"] == {
        "type": "model",
        "name": "openai/mock-500",
        "provider": "openai",
        "model": "mock-500",
        "server_address": "127.0.0.1",
    }
    assert issue["evidence"]["numbers"] == {"errors": 12, "server_errors": 12, "requests": 12, "error_rate": 1.0}
    assert issue["evidence"]["status_codes"] == {"500": 12}
    assert issue["evidence"]["agents"] == ["support"]

    def folded():
        current = issues(oracle, budget=0)["issues"]
        storm = next(i for i in current if i["kind"] == "llm_provider_errors")
        return storm["symptoms"]["items"] and current

    current = wait_until(folded, DEADLINE_S, "the support agent's failures folded under the model")
    storm = next(i for i in current if i["kind"] == "llm_provider_errors")
    assert storm["symptoms"]["items"][0]["entity"] == {"type": "agent", "name": "support"}
    assert not [i for i in current if i["kind"] == "error_rate_spike" or i["entity"]["type"] == "provider"]


def test_backlog_behind_one_failed_task_is_one_incident_with_counts_that_does_not_age_out(make_oracle):
    oracle = make_oracle(queue_backlog_threshold=20, completed_task_retention_s=2)
    background(oracle)
    failed = backlog_behind_failed_task(oracle, blocked=35)
    issue = incident(oracle, "task_blocked_on_failed")
    assert issue["entity"] == {"type": "task", "name": "draft-1", "agent": "writer"}
    assert issue["evidence"]["numbers"]["blocked"] == 35 and issue["evidence"]["numbers"]["oldest_wait_s"] >= 0
    assert issue["evidence"]["blocking_error"] == "ContextWindowExceeded"
    assert issue["evidence"]["waiting_in"] == {"review": 35}
    assert issue["evidence"]["trace_ids"][0] == failed["trace_id"]
    assert "35 task(s) wait behind draft-1 (writer)" in issue["probable_cause"]
    symptoms = wait_until(
        lambda: (s := incident(oracle, "task_blocked_on_failed")["symptoms"])["count"] == 36 and s,
        DEADLINE_S,
        "the queue's backlog folded under the failed task",
    )
    assert symptoms["items"][0]["kind"] == "queue_backlog" and len(symptoms["items"]) == 10
    assert kinds(oracle).count("task_blocked_on_failed") == 1 and "queue_backlog" not in kinds(oracle)

    def aged_out():
        writer = agent_of(get_state(oracle, agent="writer"), "writer")
        return writer and writer["activity"]["counts"]["failed"] == 0 and writer

    writer = wait_until(aged_out, 15, "the failed task leaving the writer's recent tasks")
    assert [(b["id"], b["blocked_tasks"], b["error"]) for b in writer["activity"]["blocking"]] == [
        ("draft-1", 35, "ContextWindowExceeded")
    ]
    assert incident(oracle, "task_blocked_on_failed")["entity"]["name"] == "draft-1"
    for queue in get_state(oracle, agent="writer")["queues"]:
        assert len(queue["tasks"]) == queue["counts"]["shown"] == queue["counts"]["pending"]


def test_work_of_a_replaced_pod_is_closed_as_lost_once_not_stuck_nor_over_capacity(make_oracle):
    oracle = make_oracle(stuck_task_after_s=30)
    background(oracle)
    crashed_pod(oracle, lost=2)
    issue = incident(oracle, "work_lost_in_crash")
    assert issue["entity"] == {"type": "instance", "name": "worker-abc", "agent": "worker", "deployment": "worker"}
    assert issue["evidence"]["numbers"]["lost_tasks"] == 2 and issue["evidence"]["numbers"]["silent_s"] >= 59
    assert issue["evidence"]["replaced_by"] == "worker-def"
    assert sorted(issue["evidence"]["task_ids"]) == ["job-0", "job-1"] and issue["symptoms"]["count"] == 2
    assert not {"task_stuck", "agent_over_capacity"} & set(kinds(oracle))
    worker = wait_until(
        lambda: (w := agent_of(get_state(oracle), "worker")) and w["activity"]["counts"]["running"] == 2 and w,
        DEADLINE_S,
        "the state without the lost work",
    )
    assert worker["activity"]["counts"]["failed"] == 2
    activity = worker["activity"]
    lost = [t for t in [*activity["active_task_ids"], *activity["recent_tasks"]] if t["status"] == "failed"]
    assert {t["error"] for t in lost} == {"LostWithItsProcess"}


def test_work_open_when_its_container_restarted_is_closed_as_lost(make_oracle):
    oracle = make_oracle()
    background(oracle)
    resource = pod_resource("indexer", "indexer-abc")
    agents = Agents(oracle, "indexer", **resource)
    container = pod_resource("indexer", "indexer-abc", "app")
    send_metrics(oracle.grpc_endpoint, container, [("k8s.container.restarts", 0)], time.time_ns() - 120 * 10**9)
    agents.start_agent("indexer", "index-1")
    wait_until(lambda: get_state(oracle)["counts"]["tasks_running"] == 1, DEADLINE_S, "the task shows running")
    send_metrics(oracle.grpc_endpoint, container, [("k8s.container.restarts", 1)])
    issue = incident(oracle, "work_lost_in_crash")
    assert issue["evidence"]["pod"] == "indexer-abc" and issue["evidence"]["numbers"]["lost_tasks"] == 1
    assert issue["evidence"]["replaced_by"] == "indexer-abc (restarted)"


def _fifty_failing_tools(oracle) -> None:
    agents = Agents(oracle, "tools-svc")
    for n in range(50):
        for _ in range(3):
            agents.tool(f"tool-{n:02d}", parent=None, error="TimeoutError")


def test_fifty_open_incidents_give_a_bounded_answer_ranked_by_severity_and_recency(make_oracle):
    oracle = make_oracle(cost_spike_usd_per_min=1.0)
    background(oracle)
    _fifty_failing_tools(oracle)
    wait_until(lambda: issues(oracle, budget=0)["count"] >= 50, DEADLINE_S, "fifty open incidents")
    agents = Agents(oracle, "late-svc")
    with agents.agent("writer", "late-1") as span:
        agents.llm("gpt-4o-mini", parent=span, error="RateLimitError")  # a fresh error after fifty old ones
        agents.llm("o1-pro", parent=span, cost=2.0)  # and a fresh warning below fifty-one errors
    wait_until(lambda: {"llm_rate_limited", "cost_spike"} <= set(kinds(oracle)), DEADLINE_S, "the fresh issues")

    response = oracle.client().get("/api/v1/oracle/issues")
    assert len(response.text) <= 2000 * 4
    page = response.json()
    assert page["count"] == 52 and page["truncated"] and page["budget_tokens"] == 2000
    pinned = [i for i in page["more"] if i.get("out_of_order")]
    assert [(i["kind"], i["entity"]["name"]) for i in pinned] == [("cost_spike", "openai/o1-pro")]
    listed = page["issues"] + [i for i in page["more"] if not i.get("out_of_order")]
    assert listed[0]["kind"] == "llm_rate_limited"  # newest first within its severity
    assert page["next_cursor"] == len(listed) and f"cursor={len(listed)}" in page["how_to_get_more"]
    seen = [i["id"] for i in listed]
    while page["next_cursor"] is not None:
        page = issues(oracle, cursor=page["next_cursor"])
        seen += [i["id"] for i in page["issues"] + page["more"] if not i.get("out_of_order")]
    assert len(seen) == len(set(seen)) == 52
    ranks = [(-SEVERITIES.index(i["severity"]), i["first_seen"]) for i in issues(oracle, budget=0)["issues"]]
    for before, after in zip(ranks, ranks[1:], strict=False):
        assert before[0] < after[0] or (before[0] == after[0] and before[1] >= after[1])

    result = diagnose(oracle)
    assert result.returncode == 1, result.stderr
    assert len(result.stdout) <= 2000 * 4
    assert "llm_rate_limited  model=openai/gpt-4o-mini" in result.stdout
    assert "cost_spike  model=openai/o1-pro" in result.stdout
    assert "more issue(s) not shown: telemetron issues --cursor" in result.stdout


def test_four_faults_at_once_diagnose_alone_states_every_root_cause(make_oracle, provider):
    oracle = make_oracle(stuck_task_after_s=30)
    background(oracle)
    backlog_behind_failed_task(oracle, blocked=35)
    hung_task(oracle)
    crashed_pod(oracle, lost=2)
    model_error_storm(oracle, provider.api_base, failing_calls=12)
    background(oracle)
    causes = (
        "task_blocked_on_failed  task=draft-1",
        "task_hung  task=crawl-7",
        "work_lost_in_crash  instance=worker-abc",
        "llm_provider_errors  model=openai/mock-500",
    )

    def named():
        result = diagnose(oracle)
        return all(cause in result.stdout for cause in causes) and result

    result = wait_until(named, DEADLINE_S, "diagnose naming the four root causes")
    assert len(result.stdout) <= 8000, len(result.stdout)
    assert "35 task(s) wait behind draft-1" in result.stdout and "no workload metrics collected" not in result.stdout


def test_a_failure_that_still_blocks_others_is_not_forgotten_with_older_outcomes():
    from telemetron_oracle_api.oracle.tasks import COMPLETED, FAILED, Outcome, Outcomes

    outcomes = Outcomes(limit=2)
    outcomes.blocks = {"draft-1"}.__contains__
    outcomes.record("draft-1", Outcome(FAILED, "t1", 1, "ContextWindowExceeded", "writer"))
    outcomes.record("done-1", Outcome(FAILED, "t2", 2, "ToolError", "writer"))
    for n in range(3):
        outcomes.record(f"later-{n}", Outcome(COMPLETED, "t3", 3))
    assert outcomes.get("draft-1") == Outcome(FAILED, "t1", 1, "ContextWindowExceeded", "writer")
    assert outcomes.get("done-1") is None  # a failure nothing waits on ages out as before


def test_work_of_an_instance_forgotten_under_the_per_agent_cap_keeps_the_issues_answering(make_oracle):
    oracle = make_oracle()
    Agents(oracle, "churn", **{"service.instance.id": "churn-0"}).start_agent("churn", "job-open")
    wait_until(lambda: get_state(oracle)["counts"]["tasks_running"] == 1, DEADLINE_S, "the task shows running")
    for n in range(1, 202):  # more instances of one agent than the Oracle remembers: churn-0 is forgotten
        later = Agents(oracle, "churn", **{"service.instance.id": f"churn-{n}"})
        with later.agent("churn", f"job-{n}"):
            pass
        later.close()
    wait_until(lambda: get_state(oracle)["counts"]["tasks_running"] == 1 and issues(oracle), DEADLINE_S, "issues")
    assert "work_lost_in_crash" not in kinds(oracle)  # nothing left to say churn-0 died
