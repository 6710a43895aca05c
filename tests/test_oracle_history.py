"""State over time: snapshots, ``?at=``, JSON Patch diffs, and rebuilding after a restart (store or Kafka)."""

from __future__ import annotations

import time
import uuid

import jsonpatch
import pytest
from oracle_feed import Agents, agent_of, get_state, issues_of, pod_resource, send_metrics
from oracle_fixtures import start_oracle
from telemetron_oracle_api.oracle import comparable
from telemetron_oracle_api.oracle.keyed import keyed

MIB = 1024 * 1024


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 1)) + "Z"


def state_at(oracle, at: str) -> dict | None:
    """The state as of ``at`` from snapshots; None while no snapshot that old exists yet."""
    response = oracle.client().get("/api/v1/oracle/state", params={"at": at})
    return None if response.status_code == 404 else get_state(oracle, at=at)


@pytest.fixture
def oracle(tmp_path, store_url):
    running = start_oracle(tmp_path / "t.db", snapshot_interval_s=0.2, snapshot_min_gap_s=0.1, store_url=store_url)
    yield running
    running.stop()


def test_snapshot_is_served_at_a_past_time(oracle):
    agents = Agents(oracle)
    span = agents.start_agent("writer", "t-1")
    at = oracle.wait_for(lambda: (s := state_at(oracle, now_iso())) and s["agents"] and s)
    assert at["snapshot"]["id"] >= 1 and agent_of(at, "writer")["activity"]["active_task_ids"][0]["status"] == "running"
    span.end()
    oracle.wait_for(
        lambda: (
            [t["status"] for t in agent_of(get_state(oracle), "writer")["activity"]["recent_tasks"]] == ["completed"]
        )
    )
    past = get_state(oracle, at=at["snapshot"]["taken_at"])
    assert past["snapshot"]["id"] == at["snapshot"]["id"]
    assert agent_of(past, "writer")["activity"]["active_task_ids"][0]["status"] == "running"
    listing = oracle.client().get("/api/v1/oracle/snapshots").json()
    assert listing["count"] >= 2 and listing["snapshots"][0]["id"] > at["snapshot"]["id"]
    missing = oracle.client().get("/api/v1/oracle/state", params={"at": "2001-01-01T00:00:00Z"})
    assert missing.status_code == 404 and "no snapshot" in missing.json()["detail"]


def test_diff_of_one_task_completing_is_exactly_that_change(oracle):
    agents = Agents(oracle)
    with agents.agent("planner", "p-1"):
        pass
    span = agents.start_agent("writer", "t-1")
    before = oracle.wait_for(
        lambda: (
            (s := state_at(oracle, now_iso()))
            and agent_of(s, "writer")
            and agent_of(s, "planner")
            and agent_of(s, "planner")["activity"]["counts"]["completed"] == 1
            and s
        )
    )
    span.end()
    after = oracle.wait_for(lambda: (s := get_state(oracle)) and s["counts"]["tasks_completed"] == 2 and s)
    diff = oracle.client().get("/api/v1/oracle/diff", params={"since": before["snapshot"]["id"]}).json()
    writer = agent_of(after, "writer")
    task = writer["activity"]["recent_tasks"][0]
    base = "/agents/writer/activity"  # entities keyed by identity, not by position
    expected = [
        {"op": "remove", "path": f"{base}/active_task_ids/t-1"},
        {"op": "add", "path": f"{base}/recent_tasks/t-1", "value": task},
        {"op": "replace", "path": f"{base}/updated_at", "value": writer["activity"]["updated_at"]},
        {"op": "replace", "path": f"{base}/counts/running", "value": 0},
        {"op": "replace", "path": f"{base}/counts/completed", "value": 1},
        {"op": "replace", "path": "/counts/tasks_running", "value": 0},
        {"op": "replace", "path": "/counts/tasks_completed", "value": 2},
    ]
    key = lambda op: (op["path"], op["op"])  # noqa: E731
    assert sorted(diff["patch"], key=key) == sorted(expected, key=key)
    assert diff["operations"] == len(expected) and diff["since"]["id"] == before["snapshot"]["id"]
    assert jsonpatch.apply_patch(keyed(comparable(before)), diff["patch"]) == keyed(comparable(after))


def test_diff_names_an_entity_added_before_others_once_not_as_renames(oracle):
    agents = Agents(oracle)
    for name in ("planner", "writer"):
        with agents.agent(name, f"{name}-1"):
            pass
    before = oracle.wait_for(lambda: (s := state_at(oracle, now_iso())) and s["counts"]["tasks_completed"] == 2 and s)
    with agents.agent("analyst", "analyst-1"):  # sorts first: by position, every agent after it would change
        pass
    after = oracle.wait_for(lambda: (s := get_state(oracle)) and s["counts"]["tasks_completed"] == 3 and s)
    diff = oracle.client().get("/api/v1/oracle/diff", params={"since": before["snapshot"]["id"]}).json()
    agent_ops = [op for op in diff["patch"] if op["path"].startswith("/agents")]
    assert agent_ops == [{"op": "add", "path": "/agents/analyst", "value": keyed(agent_of(after, "analyst"))}]
    assert "keyed by identity" in diff["keyed_by"]


def test_diff_since_a_time_and_bad_since_values(oracle):
    Agents(oracle).start_agent("writer", "t-1")
    oracle.wait_for(lambda: oracle.client().get("/api/v1/oracle/snapshots").json()["count"])
    client = oracle.client()
    assert client.get("/api/v1/oracle/diff", params={"since": now_iso()}).status_code == 200
    # a duration ago: once 0.1 s ago is after the first snapshot, the state then is that snapshot
    past = oracle.wait_for(
        lambda: (r := client.get("/api/v1/oracle/state", params={"at": "0.1s"})).status_code == 200 and r.json()
    )
    assert past["snapshot"]["id"] >= 1
    assert client.get("/api/v1/oracle/diff", params={"since": "0.1s"}).status_code == 200
    assert client.get("/api/v1/oracle/diff", params={"since": "999999"}).status_code == 404
    # a stack younger than the asked-for time diffs from its first snapshot, and says so
    young = client.get("/api/v1/oracle/diff", params={"since": "10m"})
    assert young.status_code == 200 and "diffed from the first snapshot" in young.json()["since"]["note"]
    assert (
        young.json()["since"]["id"]
        == client.get("/api/v1/oracle/snapshots", params={"limit": 1000}).json()["snapshots"][-1]["id"]
    )
    bad = client.get("/api/v1/oracle/diff", params={"since": "last tuesday"})
    assert bad.status_code == 400 and "ISO 8601" in bad.json()["detail"]


def test_state_is_rebuilt_from_the_store_after_a_restart(tmp_path, store_url):
    db = tmp_path / "t.db"
    first = start_oracle(db, tool_failure_threshold=2, store_url=store_url)
    try:
        agents = Agents(first, "agents", **{"k8s.deployment.name": "agents"})
        running = agents.start_agent("writer", "t-2", max_parallel=3, models=["gpt-4o"])
        with agents.agent("writer", "t-1") as done:
            agents.llm("gpt-4o-mini", parent=done, cost=0.25, input_tokens=1000, output_tokens=10)
            agents.tool("search_web", parent=done, error="TimeoutError")
            agents.tool("search_web", parent=done, error="TimeoutError")
        agents.send("review", "rev-1", parent=running, priority="high")
        send_metrics(
            first.grpc_endpoint,
            pod_resource("agents", "agents-7d9c8b6f5d-aaaaa"),
            [("k8s.pod.phase", 2), ("k8s.pod.memory.working_set", 200 * MIB)],
        )
        before = first.wait_for(
            lambda: (
                (s := get_state(first))
                and s["queues"]
                and s["workload"]
                and s["litellm"]
                and agent_of(s, "writer")["activity"]["counts"]["completed"]
                and s
            )
        )
        issue_before = first.wait_for(lambda: issues_of(first, "tool_failing"))[0]
    finally:
        first.stop()
    second = start_oracle(db, tool_failure_threshold=2, store_url=store_url)
    try:
        after = get_state(second)
        assert agent_of(after, "writer") == agent_of(before, "writer")
        assert after["workload"] == before["workload"]
        assert [t["id"] for t in after["queues"][0]["tasks"]] == ["rev-1"]
        model = after["litellm"][0]
        assert (model["requests_total"], model["tokens_total"], model["cost_usd"]) == (1, 1010, 0.25)
        [issue_after] = issues_of(second, "tool_failing")
        assert issue_after["first_seen"] == issue_before["first_seen"]
        health = second.client().get("/api/v1/oracle/health").json()
        assert health["rebuild"]["store"]["active_spans"] == 1 and health["rebuild"]["store"]["spans"] >= 5
        agents.retarget(second)
        running.end()  # the task that was open across the restart completes in the new process
        second.wait_for(lambda: agent_of(get_state(second), "writer")["activity"]["counts"]["running"] == 0)
    finally:
        second.stop()


def test_state_is_rebuilt_from_kafka_when_the_store_is_lost(tmp_path, kafka_broker):
    """The Collector's kafka exporter writes TracesData (otlp_proto) to agent-telemetry-spans; replay it."""
    from confluent_kafka import Producer
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    name = f"replayed-{uuid.uuid4().hex[:6]}"
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(
        f"invoke_agent {name}",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name, "telemetron.task.id": "k-1"},
    ):
        with tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.provider.name": "openai",
            },
        ):
            pass
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    for span in memory.get_finished_spans():  # one trace per message, as partition_traces_by_id does
        message = TracesData(resource_spans=encode_spans([span]).resource_spans)
        producer.produce(
            "agent-telemetry-spans",
            key=bytes.fromhex(format(span.context.trace_id, "032x")),
            value=message.SerializeToString(),
        )
    assert producer.flush(30) == 0
    oracle = start_oracle(
        tmp_path / "new.db", kafka_bootstrap=kafka_broker.bootstrap, oracle_kafka_rebuild="if_store_missing"
    )
    try:
        state = oracle.wait_for(lambda: (s := get_state(oracle)) and agent_of(s, name) and s, timeout=60)
        replayed = agent_of(state, name)
        assert replayed["models"] == ["gpt-4o"]
        assert [(t["id"], t["status"]) for t in replayed["activity"]["recent_tasks"]] == [("k-1", "completed")]
        trace_id = replayed["activity"]["recent_tasks"][0]["trace_id"]
        assert oracle.client().get(f"/api/v1/traces/{trace_id}").status_code == 200  # the store is restored too
    finally:
        oracle.stop()
