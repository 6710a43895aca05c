"""Realistic fault scenarios for the Oracle's incident tests, each sent through the real OTLP path.

Each function plays one fault the way a user's system produces it; ``background`` is the healthy
traffic of other agents around it. They return what the test needs to check the incident.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

from opentelemetry import trace
from oracle_feed import Agents, pod_resource, send_metrics
from telemetron_instrumentation import semconv as sc

NS = 1_000_000_000
_serial = itertools.count()


def background(oracle, rounds: int = 4) -> None:
    """Healthy agents at work: planning with an LLM and a tool, handing off, queueing and processing."""
    agents = Agents(oracle, "background", **{"service.instance.id": "background-1"})
    for _ in range(rounds):
        n = next(_serial)
        with agents.agent("planner", f"bg-plan-{n}") as planner:
            agents.llm("gpt-4o", parent=planner, cost=0.001)
            agents.tool("search_web", parent=planner)
            with agents.agent("summarizer", f"bg-sum-{n}", parent=planner) as summarizer:
                agents.llm("gpt-4o", parent=summarizer, cost=0.001)
            send = agents.send("archive", f"bg-archive-{n}", parent=planner, submitted_by="planner")
            agents.process("archive", f"bg-archive-{n}", send)
    agents.close()


def _open_span(agents: Agents, name: str, attributes: dict, started_ns: int, parent=None):
    context = trace.set_span_in_context(parent) if parent is not None else None
    return agents.tracer.start_span(name, context=context, attributes=attributes, start_time=started_ns)


def _hung(agents: Agents, agent: str, task_id: str, task_min: int, call: str, attributes: dict, call_min: int):
    """An open invocation started ``task_min`` minutes ago with an open call under it since ``call_min``, both beating."""
    now = time.time_ns()
    task = _open_span(
        agents,
        f"invoke_agent {agent}",
        {sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT, sc.GEN_AI_AGENT_NAME: agent, sc.TASK_ID: task_id},
        now - task_min * 60 * NS,
    )
    child = _open_span(agents, call, attributes, now - call_min * 60 * NS, parent=task)
    agents.heartbeat(task)
    agents.heartbeat(child)
    return task


def hung_task(oracle, task_id: str = "crawl-7") -> dict:
    """A fetcher whose tool call has hung for 26 minutes while its heartbeats keep arriving."""
    agents = Agents(oracle, "fetcher-svc", **{"service.instance.id": "fetcher-1"})
    for n in range(5):
        with agents.agent("fetcher", f"fetch-{next(_serial)}-{n}") as span:
            agents.tool("http_get", parent=span)
    tool = {sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: "http_get"}
    task = _hung(agents, "fetcher", task_id, 27, "execute_tool http_get", tool, 26)
    return {"task_id": task_id, "trace_id": format(task.get_span_context().trace_id, "032x")}


def hung_llm_call(oracle, task_id: str = "answer-3") -> None:
    """An answerer whose chat call has hung for 19 minutes (a provider that never answers), heartbeats arriving."""
    agents = Agents(oracle, "answerer-svc", **{"service.instance.id": "answerer-1"})
    for n in range(5):
        with agents.agent("answerer", f"answer-quick-{next(_serial)}-{n}") as span:
            agents.llm("gpt-4o-mini", parent=span, duration_s=0.5)
    chat = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    }
    _hung(agents, "answerer", task_id, 20, "chat gpt-4o-mini", chat, 19)


def backlog_behind_failed_task(oracle, blocked: int = 35) -> dict:
    """A writer's draft fails; the planner has queued ``blocked`` reviews that wait on it."""
    writer = Agents(oracle, "writer-svc", **{"service.instance.id": "writer-1"})
    with writer.agent("writer", "draft-1", error="ContextWindowExceeded") as failed:
        pass
    planner = Agents(oracle, "planner-svc", **{"service.instance.id": "planner-1"})
    for n in range(blocked):
        planner.send("review", f"review-{n}", blocked_by="draft-1", submitted_by="planner")
    return {"trace_id": format(failed.get_span_context().trace_id, "032x")}


def crashed_pod(oracle, lost: int = 2) -> dict:
    """Pod worker-abc dies with ``lost`` invocations open; its replacement worker-def takes new work."""
    now = time.time_ns()
    old = Agents(
        oracle,
        "worker",
        **{"service.instance.id": "worker-abc", **pod_resource("worker", "worker-abc")},
    )
    for n in range(lost):
        span = _open_span(
            old,
            "invoke_agent worker",
            {
                sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT,
                sc.GEN_AI_AGENT_NAME: "worker",
                sc.TASK_ID: f"job-{n}",
                sc.AGENT_MAX_PARALLEL: 2,
            },
            now - 90 * NS,
        )
        old.heartbeat(span, at_ns=now - 60 * NS)
    send_metrics(oracle.grpc_endpoint, pod_resource("worker", "worker-def"), [("k8s.pod.phase", 2)])
    new = Agents(oracle, "worker", **{"service.instance.id": "worker-def", **pod_resource("worker", "worker-def")})
    return {"new": [new.start_agent("worker", f"job-new-{n}", max_parallel=2) for n in range(2)]}


def oom_killed_near_its_limit(oracle, deployment: str = "embedder") -> None:
    """A container restarts with its pod's memory at 500 of its 512 MiB limit, as the kubelet reports it."""
    mib = 1024 * 1024
    pod = pod_resource(deployment, f"{deployment}-5f6d7c8b9a-eeeee")
    container = {**pod, "k8s.container.name": "app"}
    send_metrics(
        oracle.grpc_endpoint, container, [("k8s.container.memory_limit", 512 * mib), ("k8s.container.restarts", 2)]
    )
    send_metrics(oracle.grpc_endpoint, pod, [("k8s.pod.memory.working_set", 500 * mib)])
    send_metrics(oracle.grpc_endpoint, container, [("k8s.container.restarts", 3)])


LITELLM_AGENTS = """
import os, sys
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm
from telemetron_instrumentation import configure, invoke_agent
telemetry = configure("support-svc", endpoint=sys.argv[1], protocol="grpc", heartbeat_seconds=0.5,
                      instrument_httpx=False)
litellm.suppress_debug_info = True
plan = [("support", sys.argv[4], int(sys.argv[3])), ("router", "mock-gpt-4o-mini", 20),
        ("support", "mock-gpt-4o-mini", 8)]
n = 0
for agent, model, count in plan:
    for _ in range(count):
        n += 1
        try:
            with invoke_agent(agent, task_id=f"{agent}-{n}"):
                litellm.completion(model="openai/" + model, api_base=sys.argv[2], api_key="sk-test",
                                   messages=[{"role": "user", "content": f"question {n}"}], max_retries=0)
        except Exception:
            pass
telemetry.shutdown()
"""


def model_error_storm(oracle, api_base: str, failing_calls: int = 12, model: str = "mock-500") -> None:
    """Real LiteLLM calls through the callback: ``model`` fails (mock-500: 500s, mock-429: rate limits), the
    other model of the same provider is fine."""
    subprocess.run(
        [sys.executable, "-c", LITELLM_AGENTS, f"http://{oracle.grpc_endpoint}", api_base, str(failing_calls), model],
        check=True,
        timeout=120,
    )
