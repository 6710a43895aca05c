"""The Oracle state document (oracle-state.schema.json) assembled from the trackers, and its log form.

Lists are sorted so that one change in the system is one small change in the document (which
keeps JSON Patch diffs readable), and capped so the document stays small; ``counts`` says how
much was left out.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, cast

from ..formats import compact_json, iso
from .tasks import COMPLETED, FAILED, RUNNING, WAITING
from .window import NS, percentile
from .workload import mib, quantity_cpu, quantity_memory

if TYPE_CHECKING:
    from .view import StateView

_PRIORITY_RANK = {"critical": 0, "high": 1, "normal": 2, "low": 3}


def build(view: StateView, now_ns: int) -> tuple[dict, bytes, str]:
    """The whole state, its JSON encoding and a hash of its content; call with the Oracle's lock held.

    Agents are the bulk of the document and change one at a time, so each agent's part is
    rendered (and encoded) only when that agent changed; the rest is assembled around it.
    """
    settings = view.settings
    agents, agent_bytes, totals = _agents(view, now_ns)
    workload = _workload(view, now_ns)
    queues = _queues(view, now_ns)
    litellm = _litellm(view, now_ns)
    state: dict = {"id": settings.system_id, "generated_at": iso(now_ns)}
    if view.workload.cluster_names:
        state["cluster_name"] = view.workload.cluster_names.most_common(1)[0][0]
    if view.workload.namespaces:
        state["namespace"] = view.workload.namespaces.most_common(1)[0][0]
    state["agents"] = agents[: settings.state_max_agents]
    state["workload"] = workload
    state["queues"] = queues
    state["litellm"] = litellm
    state["counts"] = {
        "agents": len(agents),
        "agents_shown": len(state["agents"]),
        "tasks_running": totals[RUNNING],
        "tasks_waiting": totals[WAITING],
        "tasks_completed": totals[COMPLETED],
        "tasks_failed": totals[FAILED],
        "queued_tasks": sum(q["counts"]["pending"] for q in queues),
        "deployments": len(workload),
        "pods": sum(len(w["pods"]) for w in workload),
        "models": len(litellm),
    }
    parts = []
    content = hashlib.blake2b(digest_size=16)  # of everything but generated_at: "did anything change?"
    for key, value in state.items():
        if key == "agents":
            encoded = b"[" + b",".join(agent_bytes[: settings.state_max_agents]) + b"]"
        else:
            encoded = compact_json(value).encode()
        part = compact_json(key).encode() + b":" + encoded
        if key != "generated_at":
            content.update(part)
        parts.append(part)
    return state, b"{" + b",".join(parts) + b"}", content.hexdigest()


def _task_json(task, status: str) -> dict:
    if task.rendered is not None:
        return task.rendered
    item = {"id": task.task_id, "started_on": iso(task.started_ns), "status": status, "trace_id": task.trace_id}
    if status in (RUNNING, WAITING) and task.span_id:
        item["last_seen"] = iso(task.last_seen_ns)
    if task.blocked_by:
        item["blocked_by"] = task.blocked_by
    if task.ended_ns is not None:
        item["ended_on"] = iso(task.ended_ns)
        item["duration_ms"] = round((task.ended_ns - task.started_ns) / 1e6, 1)
    if task.error:
        item["error"] = task.error[:200]
    if status in (COMPLETED, FAILED):
        task.rendered = item
    return item


def _agents(view: StateView, now_ns: int) -> tuple[list[dict], list[bytes], dict]:
    settings = view.settings
    totals = {RUNNING: 0, WAITING: 0, COMPLETED: 0, FAILED: 0}
    items, encoded = [], []
    blocking = _blocking(view)
    for name in sorted(view.agents.agents):
        agent = view.agents.agents[name]
        blocked = any(t.blocked_by for t in agent.running.values())
        own = tuple(blocking.get(name, ()))
        key = (agent.revision, view.outcomes.revision if blocked else 0, settings.state_max_tasks_per_agent, own)
        cached = agent.rendered
        if cached is None or cached[0] != key or not agent.updated_ns:
            item, counts = _agent_json(view, agent, now_ns, own)
            cached = agent.rendered = (key, item, compact_json(item).encode(), counts)
        items.append(cached[1])
        encoded.append(cached[2])
        for status, value in cached[3].items():
            totals[status] += value
    return items, encoded, totals


def _blocking(view: StateView) -> dict[str, list[tuple[str, int]]]:
    """agent -> [(its failed task id, how many tasks wait on it)]: a root cause stays in view while it blocks."""
    waiting: dict[str, int] = dict(view.queues.waiting_on)
    for other in view.agents.agents.values():
        for task in other.running.values():
            if task.blocked_by:
                waiting[task.blocked_by] = waiting.get(task.blocked_by, 0) + 1
    out: dict[str, list[tuple[str, int]]] = {}
    for task_id, count in sorted(waiting.items()):
        outcome = view.outcomes.get(task_id)
        if outcome is not None and outcome.status == FAILED and outcome.agent:
            out.setdefault(outcome.agent, []).append((task_id, count))
    return out


def _agent_json(view: StateView, agent, now_ns: int, blocking: tuple = ()) -> tuple[dict, dict]:
    settings = view.settings
    horizon = now_ns - int(settings.completed_task_retention_s * NS)
    open_tasks = [(t, view.agents.status_of(t)) for t in agent.running.values()]
    open_tasks += [(t, WAITING) for t in agent.handed_off.values()]
    done = [(t, t.status) for t in agent.done if (t.ended_ns or 0) >= horizon]
    counts = {RUNNING: 0, WAITING: 0, COMPLETED: 0, FAILED: 0}
    for _, status in open_tasks:
        counts[status] += 1
    for _, status in done:
        counts[status] += 1
    # active_task_ids holds open work only (up to the cap); the most recent finished work fills the
    # rest of the cap in recent_tasks, so `.active_task_ids | length` is what is running or waiting.
    cap = settings.state_max_tasks_per_agent
    open_tasks.sort(key=lambda ts: (ts[0].started_ns, ts[0].key))
    shown = open_tasks[:cap]
    recent = sorted(done, key=lambda ts: (ts[0].ended_ns, ts[0].key))[-(cap - len(shown)) :] if len(shown) < cap else []
    recent.sort(key=lambda ts: (ts[0].started_ns, ts[0].key))
    item: dict = {"name": agent.name}
    if agent.agent_id:
        item["agent_id"] = agent.agent_id
    if agent.description:
        item["description"] = agent.description
    if agent.max_parallel is not None:
        item["max_parallel_invocations"] = agent.max_parallel
    item["deployment_name"] = agent.deployment
    item["models"] = agent.models
    item["activity"] = {
        "active_task_ids": [_task_json(t, status) for t, status in shown],
        "recent_tasks": [_task_json(t, status) for t, status in recent],
        "updated_at": iso(agent.updated_ns or now_ns),
        "counts": {**counts, "shown": len(shown) + len(recent)},
    }
    if blocking:
        item["activity"]["blocking"] = [_blocking_json(view, task_id, count) for task_id, count in blocking[:20]]
    return item, counts


def _blocking_json(view: StateView, task_id: str, count: int) -> dict:
    outcome = view.outcomes.get(task_id)
    item: dict = {"id": task_id, "status": FAILED, "blocked_tasks": count}
    if outcome is not None:
        item.update(trace_id=outcome.trace_id, ended_on=iso(outcome.ended_ns), error=(outcome.error or "")[:200])
    return item


def _workload(view: StateView, now_ns: int) -> list[dict]:
    workload_tracker = view.workload
    by_deployment: dict[str, list] = {}
    for pod in workload_tracker.live_pods(now_ns):
        by_deployment.setdefault(pod.deployment, []).append(pod)
    names = set(by_deployment)
    names.update(
        d.name
        for d in workload_tracker.deployments.values()
        if d.desired is not None and d.updated_ns >= now_ns - workload_tracker.stale_ns
    )
    out = []
    for name in sorted(names):
        deployment = workload_tracker.deployments.get(name)
        pods = sorted(by_deployment.get(name, []), key=lambda p: p.pod_id)
        desired = deployment.desired if deployment else None
        available = deployment.available if deployment else None
        running = sum(1 for p in pods if p.phase == "Running")
        updated = max([p.updated_ns for p in pods] + [deployment.updated_ns if deployment else 0])
        item: dict = {
            "deployment_name": name,
            "max_pods": max(0, desired if desired is not None else len(pods)),
        }
        memory_limits = [p.memory_limit for p in pods if p.memory_limit]
        cpu_limits = [p.cpu_limit for p in pods if p.cpu_limit]
        if memory_limits:
            item["pod_max_ram"] = quantity_memory(max(memory_limits))
        if cpu_limits:
            item["pod_max_cpu"] = quantity_cpu(max(cpu_limits))
        live: dict = {
            "active_pods": max(0, available if available is not None else running),
            "updated_at": iso(updated),
        }
        if deployment and deployment.image:
            live["image"] = deployment.image
        if deployment and deployment.rolled_out_at_ns:
            live["rolled_out_at"] = iso(deployment.rolled_out_at_ns)
        item["live"] = live
        item["pods"] = [_pod_json(p) for p in pods]
        item["kubernetes"] = bool(deployment and deployment.kubernetes)
        out.append(item)
    return out


def _pod_json(pod) -> dict:
    cpu, memory = pod.cpu_cores(), pod.memory_bytes()
    item: dict = {
        "pod_id": pod.pod_id,
        "cpu": round(cpu * 1000, 1) if cpu is not None else 0.0,
        "memory": mib(memory) if memory is not None else 0.0,
        "status": pod.phase or "Unknown",
        "updated_at": iso(pod.updated_ns),
    }
    rx, tx = pod.network.get("receive"), pod.network.get("transmit")
    if rx and rx[2] is not None:
        item["network_in"] = round(rx[2], 1)
    if tx and tx[2] is not None:
        item["network_out"] = round(tx[2], 1)
    ready = pod.ready()
    if ready is not None:
        item["ready"] = ready
    restarts = [c.restarts for c in pod.containers.values() if c.restarts is not None]
    if restarts:
        item["restarts"] = sum(restarts)
    reasons = sorted({c.status_reason or c.last_terminated_reason for c in pod.containers.values()} - {None})
    if reasons:
        item["reasons"] = reasons
    return item


def _queues(view: StateView, now_ns: int) -> list[dict]:
    cap = view.settings.state_max_queue_tasks
    out = []
    for name in sorted(view.queues.queues):
        queue = view.queues.queues[name]
        tasks = sorted(queue.tasks.values(), key=lambda t: (_PRIORITY_RANK[t.priority], t.submitted_ns, t.id))
        shown = []
        for t in tasks[:cap]:
            priority: dict = {
                "level": t.priority,
                "waiting_since_mins": round(max(0, now_ns - t.submitted_ns) / 60e9, 2),
            }
            if t.blocked_by:
                priority["blocked_task"] = t.blocked_by
            item: dict = {"id": t.id, "priority": priority, "submitted_at": iso(t.submitted_ns), "trace_id": t.trace_id}
            if t.invoked_by:
                item["invoked_by"] = t.invoked_by
            if t.prompt:
                item["prompt"] = t.prompt
            if t.args is not None:
                item["args"] = t.args
            shown.append(item)
        oldest = min((t.submitted_ns for t in tasks), default=None)
        out.append(
            {
                "name": name,
                "updated_at": iso(queue.updated_ns or now_ns),
                "tasks": shown,
                "counts": {"pending": len(tasks), "shown": len(shown)},
                "oldest_wait_mins": round((now_ns - oldest) / 60e9, 2) if oldest else 0.0,
            }
        )
    return out


def _litellm(view: StateView, now_ns: int) -> list[dict]:
    out = []
    for key in sorted(view.llm.models):
        stats = view.llm.models[key]
        tokens, requests = view.llm.window(stats, now_ns)
        tpm_max, rpm_max = view.llm.limits(stats)
        item: dict = {
            "model": stats.model,
            "provider": stats.provider,
            "tpm": tokens,
            "rpm": requests,
            "tpm_max": tpm_max,
            "rpm_max": rpm_max,
        }
        if stats.tokens_remaining is not None:
            item["tokens_remaining"] = stats.tokens_remaining
        if stats.requests_remaining is not None:
            item["requests_remaining"] = stats.requests_remaining
        item["requests_total"] = stats.requests_total
        item["tokens_total"] = stats.tokens_total
        # Unknown is not zero: calls that reported no usage are counted apart, not as 0 tokens.
        estimated, without_usage = view.llm.usage_gaps(stats, now_ns)
        item["tpm_estimated"] = estimated
        item["calls_without_usage"] = without_usage
        item["calls_without_usage_total"] = stats.without_usage_total
        item["calls_with_estimated_usage_total"] = stats.estimated_total
        item["rate_limited_total"] = stats.rate_limited_total
        item["server_errors_total"] = stats.server_errors_total
        item["cost_usd"] = round(stats.cost_total, 6)
        item["errors"] = dict(stats.error_counts.most_common(10))
        if stats.last_error:
            last = stats.last_error
            item["last_error"] = {
                "type": last["type"],
                "message": last["message"],
                "trace_id": last["trace_id"],
                "at": iso(last["time_ns"]),
            }
        latencies = sorted(stats.latencies_ms)
        if latencies:
            # cast: percentile is None only for an empty sample, and latencies is non-empty here.
            item["latency_ms"] = {
                q: round(cast(float, percentile(latencies, n, ordered=True)), 1)
                for q, n in (("p50", 50), ("p95", 95), ("p99", 99))
            }
        item["agents"] = sorted(stats.agents)[:20]
        item["updated_at"] = iso(stats.last_seen_ns)
        out.append(item)
    return out


def filter_state(state: dict, *, agent: str | None = None, deployment: str | None = None) -> dict:
    """Narrow a state to one agent (its deployment's workload and the models it used) or one deployment."""
    if not agent and not deployment:
        return state
    out = dict(state)
    agents = state["agents"]
    if agent:
        agents = [a for a in agents if a["name"] == agent]
    if deployment:
        agents = [a for a in agents if a["deployment_name"] == deployment]
    deployments = {deployment} if deployment else {a["deployment_name"] for a in agents}
    out["agents"] = agents
    out["workload"] = [w for w in state["workload"] if w["deployment_name"] in deployments]
    if agent:
        out["litellm"] = [m for m in state["litellm"] if agent in m.get("agents", ())]
        out["queues"] = [_queue_of(q, agent) for q in state["queues"]]
    out["filter"] = {k: v for k, v in (("agent", agent), ("deployment", deployment)) if v}
    return out


def _queue_of(queue: dict, agent: str) -> dict:
    """A queue narrowed to the tasks ``agent`` submitted; its counts describe what is listed."""
    tasks = [t for t in queue["tasks"] if t.get("invoked_by") == agent]
    counts = {"pending": len(tasks), "shown": len(tasks), "pending_all_agents": queue["counts"]["pending"]}
    return {**queue, "tasks": tasks, "counts": counts}


# --- the compact log ------------------------------------------------------------------------------


def _number(value: float) -> str:
    """A number for the log: no exponent, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def _hms(stamp: str | None) -> str:
    return stamp[11:19] if stamp else "-"


def render_log(state: dict, issues: list[dict] | None = None) -> str:
    """One line per entity, for humans and for pasting into a chat with a coding assistant."""
    counts = state.get("counts", {})
    lines = [
        f"[{state.get('generated_at')}] STATE id={state['id']} agents={len(state['agents'])} "
        f"running={counts.get('tasks_running', 0)} waiting={counts.get('tasks_waiting', 0)} "
        f"queued={counts.get('queued_tasks', 0)} deployments={len(state['workload'])} "
        f"models={len(state['litellm'])} issues={len(issues or [])}"
    ]
    for a in state["agents"]:
        agent_counts = a["activity"].get("counts", {})
        limit = a.get("max_parallel_invocations")
        lines.append(
            f"AGENT {a['name']} deploy={a['deployment_name']} running={agent_counts.get('running', 0)}"
            + (f"/{limit}" if limit is not None else "")
            + f" waiting={agent_counts.get('waiting', 0)} done={agent_counts.get('completed', 0)}"
            + f" failed={agent_counts.get('failed', 0)}"
            + f" models={','.join(a['models']) or '-'}"
        )
        for b in a["activity"].get("blocking", []):
            lines.append(
                f"  BLOCKING {b['id']} failed at {_hms(b.get('ended_on'))} error={b.get('error', '-')}"
                f" blocks={b['blocked_tasks']} trace={b.get('trace_id', '-')}"
            )
        for t in [*a["activity"]["active_task_ids"], *a["activity"].get("recent_tasks", ())]:
            if t["status"] in (RUNNING, WAITING) or t["status"] == FAILED:
                extra = f" blocked_by={t['blocked_by']}" if t.get("blocked_by") else ""
                extra += f" error={t['error']}" if t.get("error") else ""
                lines.append(
                    f"  TASK {t['id']} {t['status']} since {_hms(t['started_on'])}"
                    f" trace={t.get('trace_id', '-')}{extra}"
                )
    for w in state["workload"]:
        lines.append(
            f"WORKLOAD {w['deployment_name']} pods={w['live']['active_pods']}/{w['max_pods']}"
            + (
                f" limit={w.get('pod_max_cpu', '-')}/{w.get('pod_max_ram', '-')}"
                if "pod_max_ram" in w or "pod_max_cpu" in w
                else ""
            )
        )
        for p in w["pods"]:
            extra = f" restarts={p['restarts']}" if p.get("restarts") else ""
            extra += f" reasons={','.join(p['reasons'])}" if p.get("reasons") else ""
            extra += " NOT-READY" if p.get("ready") is False else ""
            lines.append(
                f"  POD {p['pod_id']} {p['status']} cpu={_number(p['cpu'])}m mem={_number(p['memory'])}Mi{extra}"
            )
    for q in state["queues"]:
        lines.append(
            f"QUEUE {q['name']} pending={q['counts']['pending']} oldest={_number(q.get('oldest_wait_mins', 0))}m"
        )
        for t in q["tasks"][:10]:
            priority = t["priority"]
            blocked = f" blocked_by={priority['blocked_task']}" if priority.get("blocked_task") else ""
            lines.append(
                f"  QTASK {t['id']} {priority['level']} waiting={_number(priority.get('waiting_since_mins', 0))}m"
                f" by={t.get('invoked_by', '-')}{blocked}"
            )
    for m in state["litellm"]:
        lat = m.get("latency_ms", {})
        errors = sum(m.get("errors", {}).values())
        lines.append(
            f"LLM {m['provider']}/{m['model']} tpm={_number(m['tpm'])}/{_number(m['tpm_max'])}"
            f" rpm={_number(m['rpm'])}/{_number(m['rpm_max'])}"
            f" cost=${m.get('cost_usd', 0):.4f} errors={errors} p95={lat.get('p95', '-')}ms"
        )
    for i in issues or []:
        lines.append(
            f"ISSUE {i['severity'].upper()} {i['kind']} {i['entity']['type']}={i['entity']['name']}:"
            f" {i['probable_cause']}"
        )
    return "\n".join(lines)
