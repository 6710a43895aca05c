"""The Oracle's live state, fed over real OTLP gRPC: each part of the document as data arrives."""

from __future__ import annotations

import time

import pytest
from oracle_feed import Agents, agent_of, assert_valid, get_state, pod_resource, send_metrics

MIB = 1024 * 1024


def test_running_agent_shows_declared_facts_and_observed_models(oracle_server):
    agents = Agents(oracle_server, "writer-svc", **{"k8s.deployment.name": "writer"})
    span = agents.start_agent("writer", "task-1", max_parallel=4, models=["gpt-4o"], description="Writes reports")
    agents.llm("gpt-4o-mini", parent=span)
    state = oracle_server.wait_for(lambda: (s := get_state(oracle_server)) and s["litellm"] and s)
    writer = agent_of(state, "writer")
    assert writer["description"] == "Writes reports"
    assert writer["max_parallel_invocations"] == 4
    assert writer["deployment_name"] == "writer"
    assert writer["models"] == ["gpt-4o", "gpt-4o-mini"]
    [task] = writer["activity"]["active_task_ids"]
    assert task["id"] == "task-1" and task["status"] == "running"
    assert task["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_llm_span_is_attributed_to_its_nearest_agent_ancestor_even_when_it_arrives_first(oracle_server):
    agents = Agents(oracle_server)
    outer = agents.start_agent("planner", pending=False)
    inner = agents.start_agent("researcher", parent=outer, pending=False)
    step = agents.tracer.start_span(
        "retrieve", context=__import__("opentelemetry.trace").trace.set_span_in_context(inner)
    )
    agents.llm("claude-sonnet-4", parent=step, provider="anthropic")  # ends before any ancestor is known
    step.end()
    inner.end()
    outer.end()
    state = oracle_server.wait_for(lambda: (s := get_state(oracle_server)) and len(s["agents"]) == 2 and s)
    assert agent_of(state, "researcher")["models"] == ["claude-sonnet-4"]
    assert agent_of(state, "planner")["models"] == []
    assert state["litellm"][0]["agents"] == ["researcher"]


def test_observed_model_matching_a_declared_provider_prefixed_model_is_not_listed_twice(oracle_server):
    agents = Agents(oracle_server)
    with agents.agent("writer", models=["openai/gpt-4o"]) as span:
        agents.llm("gpt-4o", parent=span)
        agents.llm("gpt-4o-mini", parent=span)
    state = oracle_server.wait_for(lambda: (s := get_state(oracle_server)) and len(s["litellm"]) == 2 and s)
    assert agent_of(state, "writer")["models"] == ["openai/gpt-4o", "gpt-4o-mini"]


def test_deployment_falls_back_to_agent_attribute_then_service_name(oracle_server):
    agents = Agents(oracle_server, "svc-a")
    with agents.agent("declared", deployment="declared-deploy"):
        pass
    with agents.agent("plain"):
        pass
    state = oracle_server.wait_for(lambda: (s := get_state(oracle_server)) and len(s["agents"]) == 2 and s)
    assert agent_of(state, "declared")["deployment_name"] == "declared-deploy"
    assert agent_of(state, "plain")["deployment_name"] == "svc-a"


def test_finished_tasks_stay_with_status_and_trace_id_for_the_retention(make_oracle):
    oracle = make_oracle(completed_task_retention_s=1.5)
    agents = Agents(oracle)
    with agents.agent("coder", "ok-1") as ok:
        pass
    with agents.agent("coder", "bad-1", error="ValueError"):
        pass
    state = oracle.wait_for(
        lambda: (s := get_state(oracle)) and agent_of(s, "coder")["activity"]["counts"]["failed"] and s
    )
    activity = agent_of(state, "coder")["activity"]
    assert activity["active_task_ids"] == []  # finished work is not active
    tasks = {t["id"]: t for t in activity["recent_tasks"]}
    assert tasks["ok-1"]["status"] == "completed"
    assert tasks["ok-1"]["trace_id"] == format(ok.get_span_context().trace_id, "032x")
    assert tasks["bad-1"]["status"] == "failed" and tasks["bad-1"]["error"] == "ValueError"
    oracle.wait_for(lambda: not agent_of(get_state(oracle), "coder")["activity"]["recent_tasks"], timeout=5)


def test_task_blocked_by_an_unfinished_task_is_waiting_until_it_completes(oracle_server):
    agents = Agents(oracle_server)
    blocked = agents.start_agent("reviewer", "review-1", blocked_by="draft-1")
    status = lambda: agent_of(get_state(oracle_server), "reviewer")["activity"]["active_task_ids"][0]["status"]  # noqa: E731
    oracle_server.wait_for(lambda: agent_of(get_state(oracle_server), "reviewer") and status() == "waiting")
    with agents.agent("writer", "draft-1"):
        pass
    oracle_server.wait_for(lambda: status() == "running")
    blocked.end()


def test_handed_off_task_waits_at_its_target_until_the_target_starts_it(oracle_server):
    agents = Agents(oracle_server)
    triage = agents.start_agent("triage", "ticket-7")
    agents.handoff("triage", "billing", "ticket-7", parent=triage)
    billing = lambda: agent_of(get_state(oracle_server), "billing")  # noqa: E731
    oracle_server.wait_for(lambda: billing() and billing()["activity"]["active_task_ids"])
    assert [(t["id"], t["status"]) for t in billing()["activity"]["active_task_ids"]] == [("ticket-7", "waiting")]
    work = agents.start_agent("billing", "ticket-7", parent=triage)
    oracle_server.wait_for(lambda: billing()["activity"]["active_task_ids"][0]["status"] == "running")
    work.end()
    triage.end()


def test_llm_usage_window_limits_cost_errors_and_latency(oracle_server):
    agents = Agents(oracle_server)
    limits = {"tokens.limit": 10_000, "tokens.remaining": 8_000, "requests.limit": 100, "requests.remaining": 90}
    with agents.agent("writer") as span:
        agents.llm(
            "gpt-4o", parent=span, input_tokens=300, output_tokens=100, cost=0.02, ratelimit=limits, duration_s=0.2
        )
        agents.llm(
            "gpt-4o", parent=span, input_tokens=100, output_tokens=100, cost=0.01, ratelimit=limits, duration_s=0.4
        )
        agents.llm("gpt-4o", parent=span, error="InternalServerError", input_tokens=0, output_tokens=0)
    state = oracle_server.wait_for(
        lambda: (s := get_state(oracle_server)) and s["litellm"] and s["litellm"][0]["rpm"] == 3 and s
    )
    [model] = state["litellm"]
    assert (model["model"], model["provider"]) == ("gpt-4o", "openai")
    assert (model["tpm"], model["rpm"], model["tpm_max"], model["rpm_max"]) == (600, 3, 10_000, 100)
    assert model["tokens_remaining"] == 8_000 and model["requests_remaining"] == 90
    assert model["cost_usd"] == pytest.approx(0.03)
    assert model["errors"] == {"InternalServerError": 1}
    assert model["last_error"]["type"] == "InternalServerError"
    assert 190 <= model["latency_ms"]["p95"] <= 1000
    assert model["agents"] == ["writer"]


def test_configured_limits_apply_when_responses_carry_no_rate_limit_headers(make_oracle):
    oracle = make_oracle(llm_rate_limits='{"anthropic/claude-sonnet-4": {"tpm": 40000, "rpm": 50}}')
    Agents(oracle).llm("claude-sonnet-4", provider="anthropic")
    state = oracle.wait_for(lambda: (s := get_state(oracle)) and s["litellm"] and s)
    assert (state["litellm"][0]["tpm_max"], state["litellm"][0]["rpm_max"]) == (40000, 50)


def test_kubernetes_workload_from_k8s_cluster_and_kubeletstats_metrics(oracle_server):
    endpoint = oracle_server.grpc_endpoint
    send_metrics(
        endpoint,
        {"k8s.deployment.name": "writer", "k8s.namespace.name": "agents", "k8s.cluster.name": "kind"},
        [("k8s.deployment.desired", 3), ("k8s.deployment.available", 2)],
    )
    for pod, phase, cpu, mem in (
        ("writer-7d9c8b6f5d-aaaaa", 2, 0.25, 300 * MIB),
        ("writer-7d9c8b6f5d-bbbbb", 1, 0.0, 0),
    ):
        send_metrics(
            endpoint,
            pod_resource("writer", pod),
            [("k8s.pod.phase", phase), ("k8s.pod.cpu.usage", cpu), ("k8s.pod.memory.working_set", mem)],
        )
        send_metrics(
            endpoint,
            pod_resource("writer", pod, "app", **{"container.image.name": "agents", "container.image.tag": "1.2"}),
            [
                ("k8s.container.cpu_limit", 0.5),
                ("k8s.container.memory_limit", 2 * 1024 * MIB),
                ("k8s.container.restarts", 1),
                ("k8s.container.ready", 1),
            ],
        )
    state = oracle_server.wait_for(
        lambda: (s := get_state(oracle_server)) and s["workload"] and len(s["workload"][0]["pods"]) == 2 and s
    )
    [writer] = state["workload"]
    assert (writer["deployment_name"], writer["max_pods"], writer["live"]["active_pods"]) == ("writer", 3, 2)
    assert (writer["pod_max_cpu"], writer["pod_max_ram"]) == ("500m", "2Gi")
    assert writer["live"]["image"] == "agents:1.2"
    running, pending = writer["pods"]
    assert (running["pod_id"], running["status"], running["cpu"], running["memory"]) == (
        "writer-7d9c8b6f5d-aaaaa",
        "Running",
        250.0,
        300.0,
    )
    assert running["restarts"] == 1 and running["ready"] is True
    assert pending["status"] == "Pending"
    assert (state["cluster_name"], state["namespace"]) == ("kind", "agents")


def test_semantic_convention_spellings_are_accepted(oracle_server):
    endpoint = oracle_server.grpc_endpoint
    send_metrics(
        endpoint,
        {"k8s.deployment.name": "coder"},
        [("k8s.deployment.desired_pods", 2), ("k8s.deployment.available_pods", 1)],
    )
    pod = pod_resource("coder", "coder-5f6d7c8b9a-ccccc")
    send_metrics(
        endpoint,
        pod,
        [
            ("k8s.pod.status.phase", 0, {"k8s.pod.status.phase": "pending"}),
            ("k8s.pod.status.phase", 1, {"k8s.pod.status.phase": "running"}),
            ("k8s.pod.memory.usage", 64 * MIB),
        ],
    )
    send_metrics(
        endpoint,
        {**pod, "k8s.container.name": "app"},
        [("k8s.container.restart.count", 4), ("k8s.container.memory.limit", 512 * MIB)],
    )
    state = oracle_server.wait_for(
        lambda: (
            (s := get_state(oracle_server))
            and s["workload"]
            and s["workload"][0]["pods"]
            and s["workload"][0]["pods"][0].get("restarts")
            and s
        )
    )
    [coder] = state["workload"]
    assert (coder["max_pods"], coder["live"]["active_pods"], coder["pod_max_ram"]) == (2, 1, "512Mi")
    assert (
        coder["pods"][0]["status"] == "Running"
        and coder["pods"][0]["memory"] == 64.0
        and coder["pods"][0]["restarts"] == 4
    )


def test_pods_without_a_deployment_attribute_map_through_their_replicaset_name(oracle_server):
    send_metrics(
        oracle_server.grpc_endpoint,
        {"k8s.pod.name": "planner-6b7c8d9f4e-xyz12", "k8s.namespace.name": "agents"},
        [("k8s.pod.phase", 2)],
    )
    state = oracle_server.wait_for(lambda: (s := get_state(oracle_server)) and s["workload"] and s)
    assert state["workload"][0]["deployment_name"] == "planner"


def test_process_metrics_outside_kubernetes_are_keyed_by_service_name(oracle_server):
    resource = {"service.name": "local-agents", "service.instance.id": "worker-1"}
    t0 = time.time_ns() - 10**9
    send_metrics(
        oracle_server.grpc_endpoint,
        resource,
        [("process.cpu.time", 10.0, {"cpu.mode": "user"}, "sum"), ("process.memory.usage", 128 * MIB)],
        time_ns=t0,
    )
    send_metrics(
        oracle_server.grpc_endpoint,
        resource,
        [("process.cpu.time", 10.25, {"cpu.mode": "user"}, "sum")],
        time_ns=t0 + 5 * 10**8,
    )
    state = oracle_server.wait_for(
        lambda: (s := get_state(oracle_server)) and s["workload"] and s["workload"][0]["pods"][0]["cpu"] and s
    )
    [local] = state["workload"]
    assert local["deployment_name"] == "local-agents" and local["max_pods"] == 1 and local["live"]["active_pods"] == 1
    [pod] = local["pods"]
    assert pod["pod_id"] == "worker-1" and pod["status"] == "Running" and pod["memory"] == 128.0
    assert pod["cpu"] == 500.0  # 0.25 s of CPU in 0.5 s: half a core


def test_queue_send_without_process_is_pending_and_process_takes_it_out(oracle_server):
    agents = Agents(oracle_server)
    with agents.agent("planner", "plan-1") as planner:
        first = agents.send("research", "r-1", parent=planner, priority="high", prompt="find sources")
        agents.send("research", "r-2", parent=planner, blocked_by="r-1", submitted_by="operator")
    state = oracle_server.wait_for(
        lambda: (s := get_state(oracle_server)) and s["queues"] and len(s["queues"][0]["tasks"]) == 2 and s
    )
    [queue] = state["queues"]
    high, normal = queue["tasks"]
    assert (high["id"], high["priority"]["level"], high["invoked_by"], high["prompt"]) == (
        "r-1",
        "high",
        "planner",
        "find sources",
    )
    assert high["priority"]["waiting_since_mins"] >= 0
    assert (normal["id"], normal["priority"]["blocked_task"], normal["invoked_by"]) == ("r-2", "r-1", "operator")
    agents.process("research", "r-1", first)
    state = oracle_server.wait_for(lambda: (s := get_state(oracle_server)) and len(s["queues"][0]["tasks"]) == 1 and s)
    assert [t["id"] for t in state["queues"][0]["tasks"]] == ["r-2"]


def test_agent_and_deployment_filters(oracle_server):
    a = Agents(oracle_server, "svc-a", **{"k8s.deployment.name": "dep-a"})
    b = Agents(oracle_server, "svc-b", **{"k8s.deployment.name": "dep-b"})
    with a.agent("alpha") as span:
        a.llm("gpt-4o", parent=span)
    with b.agent("beta") as span:
        b.llm("gpt-4o-mini", parent=span)
    for dep in ("dep-a", "dep-b"):
        send_metrics(oracle_server.grpc_endpoint, pod_resource(dep, f"{dep}-6b7c8d9f4e-abcde"), [("k8s.pod.phase", 2)])
    oracle_server.wait_for(
        lambda: (
            (s := get_state(oracle_server))
            and len(s["agents"]) == 2
            and len(s["workload"]) == 2
            and len(s["litellm"]) == 2
        )
    )
    only_alpha = get_state(oracle_server, agent="alpha")
    assert [a["name"] for a in only_alpha["agents"]] == ["alpha"]
    assert [w["deployment_name"] for w in only_alpha["workload"]] == ["dep-a"]
    assert [m["model"] for m in only_alpha["litellm"]] == ["gpt-4o"]
    only_b = get_state(oracle_server, deployment="dep-b")
    assert [a["name"] for a in only_b["agents"]] == ["beta"] and [w["deployment_name"] for w in only_b["workload"]] == [
        "dep-b"
    ]


def test_log_format_system_state_alias_and_validate_endpoint(oracle_server):
    agents = Agents(oracle_server)
    running = agents.start_agent("writer", "t-1", max_parallel=2)
    oracle_server.wait_for(lambda: get_state(oracle_server)["agents"])
    client = oracle_server.client()
    log = client.get("/api/v1/oracle/state", params={"format": "log"}).json()["log"]
    assert "AGENT writer" in log and "running=1/2" in log and "TASK t-1 running" in log
    system = assert_valid(client.get("/system/state").json())
    assert [a["name"] for a in system["agents"]] == ["writer"]
    assert client.get("/api/v1/oracle/validate").json() == {
        "valid": True,
        "errors": [],
        "schema": "oracle-state.schema.json",
    }
    running.end()


def test_validation_lists_what_breaks_the_contract():
    from telemetron_oracle_api.oracle import validation_errors

    broken = {
        "id": "x",
        "agents": [{"name": "a", "models": "gpt-4o", "activity": {"active_task_ids": [], "updated_at": "yesterday"}}],
        "workload": [],
        "queues": [],
        "litellm": [],
    }
    problems = {(e["path"], e["message"].split(" ")[-1]) for e in validation_errors(broken)}
    assert ("/agents/0", "property") in problems  # deployment_name is required
    assert any(path == "/agents/0/models" for path, _ in problems)
    assert any(path == "/agents/0/activity/updated_at" for path, _ in problems)


def test_outputs_are_bounded_with_counts(make_oracle):
    oracle = make_oracle(state_max_tasks_per_agent=3)
    agents = Agents(oracle)
    spans = [agents.start_agent("busy", f"t-{n}") for n in range(5)]
    state = oracle.wait_for(
        lambda: (s := get_state(oracle)) and s["agents"] and s["agents"][0]["activity"]["counts"]["running"] == 5 and s
    )
    activity = state["agents"][0]["activity"]
    assert [t["id"] for t in activity["active_task_ids"]] == ["t-0", "t-1", "t-2"]
    assert activity["counts"]["shown"] == 3 and state["counts"]["tasks_running"] == 5
    for span in spans:
        span.end()


AGENT_PROCESS = """
import sys
from telemetron_instrumentation import configure, enqueue, invoke_agent
telemetry = configure("librarian-svc", endpoint=sys.argv[1], protocol="grpc", heartbeat_seconds=0.3,
                      instrument_litellm=False, instrument_httpx=False)
with invoke_agent("librarian", description="Finds books", models=["gpt-4o"], max_parallel_invocations=1, task_id="lib-1"):
    enqueue("shelving", "shelve-1", priority="low", submitted_by="librarian")
    print("started", flush=True)
    sys.stdin.readline()
telemetry.shutdown()
"""


def test_agent_instrumented_with_telemetron_instrumentation_is_seen_running_then_done(oracle_server):
    """The agent-side library (pending spans with heartbeats, queue spans) and the Oracle agree."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", AGENT_PROCESS, f"http://{oracle_server.grpc_endpoint}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "started"
        librarian = lambda: agent_of(get_state(oracle_server), "librarian")  # noqa: E731
        first = oracle_server.wait_for(lambda: librarian() and librarian()["activity"]["active_task_ids"][0])
        assert (first["id"], first["status"]) == ("lib-1", "running")
        assert librarian()["description"] == "Finds books" and librarian()["deployment_name"] == "librarian-svc"
        oracle_server.wait_for(lambda: librarian()["activity"]["active_task_ids"][0]["last_seen"] > first["last_seen"])
        queue = oracle_server.wait_for(lambda: get_state(oracle_server)["queues"])[0]
        assert [(t["id"], t["priority"]["level"], t["invoked_by"]) for t in queue["tasks"]] == [
            ("shelve-1", "low", "librarian")
        ]
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
        done = oracle_server.wait_for(
            lambda: [t["status"] for t in librarian()["activity"]["recent_tasks"]] == ["completed"] and librarian()
        )
        assert done["activity"]["active_task_ids"] == []
        assert done["activity"]["counts"] == {"running": 0, "waiting": 0, "completed": 1, "failed": 0, "shown": 1}
    finally:
        proc.kill()
