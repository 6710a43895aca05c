"""Running tasks that went silent, hang while alive, run far longer than usual, or wait on a failed task."""

from __future__ import annotations

from ...formats import iso
from ..issues import Issue
from ..tasks import FAILED
from ..view import StateView
from ..window import NS, percentile


def stuck_or_slow_tasks(view: StateView, now_ns: int) -> list[Issue]:
    settings = view.settings
    stuck_ns = settings.stuck_task_after_s * NS
    out = []
    for agent in view.agents.agents.values():
        if not agent.running:
            continue  # nothing to judge: skip sorting its durations
        samples = len(agent.durations_ms)
        agent_p95 = percentile(agent.durations_ms, 95)
        p95 = agent_p95 if samples >= settings.slow_task_min_samples else None
        peers_p95 = agent_p95 if samples >= settings.hung_min_samples else None
        for task in agent.running.values():
            silent_ns = now_ns - task.last_seen_ns
            running_s = (now_ns - task.started_ns) / NS
            entity_extra = {"agent": agent.name}
            cause = blocker_id(view, task.blocked_by)
            if silent_ns >= stuck_ns:
                out.append(
                    Issue(
                        "task_stuck",
                        "error",
                        "task",
                        task.task_id,
                        f"{agent.name} has sent no heartbeat for task {task.task_id} in {silent_ns / NS:.0f}s: "
                        "the worker hung or died without ending its span",
                        trace_ids=[task.trace_id],
                        numbers={
                            "silent_s": round(silent_ns / NS, 1),
                            "running_s": round(running_s, 1),
                            "threshold_s": settings.stuck_task_after_s,
                        },
                        details={"agent": agent.name, "span_id": task.span_id, "last_seen": iso(task.last_seen_ns)},
                        entity_extra=entity_extra,
                        hint=f"telemetron trace {task.trace_id}",
                        explained_by=cause,
                    )
                )
                continue
            hung = _hung(view, agent.name, task, peers_p95, now_ns)
            if hung is not None:
                hung.explained_by = cause
                out.append(hung)
            elif (
                p95 is not None
                and running_s >= settings.slow_task_min_s
                and running_s * 1000 > settings.slow_task_factor * p95
            ):
                out.append(
                    Issue(
                        "task_slow",
                        "warning",
                        "task",
                        task.task_id,
                        f"task {task.task_id} of {agent.name} has run {running_s:.0f}s, over "
                        f"{settings.slow_task_factor:g}x the agent's p95 of {p95 / 1000:.1f}s",
                        trace_ids=[task.trace_id],
                        numbers={
                            "running_s": round(running_s, 1),
                            "p95_s": round(p95 / 1000, 3),
                            "samples": len(agent.durations_ms),
                        },
                        details={"agent": agent.name, "span_id": task.span_id},
                        entity_extra=entity_extra,
                        hint=f"telemetron trace {task.trace_id}",
                        explained_by=cause,
                    )
                )
    return out


def _threshold_s(view: StateView, p95_ms: float | None) -> float:
    """How old an open span may get: k x its peers' p95 (never below the minimum), else the ceiling."""
    settings = view.settings
    if p95_ms is None:
        return settings.hung_task_ceiling_s
    return max(settings.hung_task_min_s, settings.hung_task_factor * p95_ms / 1000)


def _hung(view: StateView, agent: str, task, peers_p95_ms: float | None, now_ns: int) -> Issue | None:
    """A task whose heartbeats arrive while nothing under it starts or finishes, far past what its peers take."""
    settings = view.settings
    running_s = (now_ns - task.started_ns) / NS
    moved_ns = max(task.started_ns, view.progress.last_moved(task.trace_id))
    still_s = (now_ns - moved_ns) / NS
    if still_s < settings.hung_no_progress_s:
        return None
    calls = sorted(view.progress.open_calls(task.trace_id), key=lambda s: s.started_ns)
    call = calls[0] if calls else None
    call_numbers: dict = {}
    call_hung = False
    if call is not None:
        samples = _call_samples(view, call)
        call_p95 = percentile(samples, 95) if len(samples) >= settings.hung_min_samples else None
        call_open_s = (now_ns - call.started_ns) / NS
        call_hung = call_open_s >= _threshold_s(view, call_p95)
        call_numbers = {f"{call.kind}_open_s": round(call_open_s, 1)}
        if call_p95 is not None:
            call_numbers[f"{call.kind}_p95_s"] = round(call_p95 / 1000, 3)
    threshold_s = _threshold_s(view, peers_p95_ms)
    if running_s < threshold_s and not call_hung:
        return None
    numbers = {
        "running_s": round(running_s, 1),
        "threshold_s": round(threshold_s, 1),
        "since_progress_s": round(still_s, 1),
        "heartbeat_age_s": round((now_ns - task.last_seen_ns) / NS, 1),
        **call_numbers,
    }
    peers = "no finished peers"
    if peers_p95_ms is not None:
        numbers["peers_p95_s"] = round(peers_p95_ms / 1000, 3)
        peers = f"its peers' p95 is {peers_p95_ms / 1000:.3g}s"
    where = ""
    if call is not None:
        what = f"tool {call.name}" if call.kind == "tool" else f"the LLM call to {'/'.join(call.name)}"
        where = f"; {what} has been open {call_numbers[f'{call.kind}_open_s']:.0f}s"
    return Issue(
        "task_hung",
        "error",
        "task",
        task.task_id,
        f"task {task.task_id} of {agent} has run {running_s:.0f}s ({peers}) and nothing under it has started or "
        f"finished for {still_s:.0f}s while its heartbeats keep arriving{where}: hung but alive "
        "(a blocking call without a timeout?)",
        trace_ids=[task.trace_id],
        numbers=numbers,
        details={
            "agent": agent,
            "span_id": task.span_id,
            "last_progress": iso(moved_ns),
            **_call_evidence(call),
        },
        entity_extra={"agent": agent},
        hint=f"telemetron trace {task.trace_id}",
    )


def _call_samples(view: StateView, call) -> list:
    """Durations (ms) of finished calls of the same tool or model: the open call's peers."""
    if call.kind == "tool":
        stats = view.tools.tools.get(call.name)
        return list(stats.durations_ms) if stats is not None else []
    model = view.llm.models.get(call.name)
    return list(model.latencies_ms) if model is not None else []


def _call_evidence(call) -> dict:
    if call is None:
        return {}
    if call.kind == "tool":
        return {"tool": {"name": call.name, "span_id": call.span_id}}
    return {"llm_call": {"provider": call.name[0], "model": call.name[1], "span_id": call.span_id}}


def blocker_id(view: StateView, blocked_by: str | None) -> str | None:
    """The id of the blocked-on-failed incident a task waiting on ``blocked_by`` belongs to, if that task failed."""
    if not blocked_by:
        return None
    outcome = view.outcomes.get(blocked_by)
    return f"task_blocked_on_failed:task:{blocked_by}" if outcome is not None and outcome.status == FAILED else None


def blocked_on_failed(view: StateView, now_ns: int) -> list[Issue]:
    """One incident per failed task that others wait on: how many wait, since when, and where."""
    waiting: dict[str, list[tuple[str, dict, str, int]]] = {}  # blocker -> (task id, where, trace id, since)
    for agent in view.agents.agents.values():
        for task in agent.running.values():
            if task.blocked_by:
                waiting.setdefault(task.blocked_by, []).append(
                    (task.task_id, {"agent": agent.name}, task.trace_id, task.started_ns)
                )
    failed = {b for b in view.queues.waiting_on if blocker_id(view, b)}  # kept as tasks come and go: no scan
    for queue in view.queues.queues.values() if failed else ():
        for queued in queue.tasks.values():
            if queued.blocked_by and queued.blocked_by in failed:
                waiting.setdefault(queued.blocked_by, []).append(
                    (queued.id, {"queue": queued.queue}, queued.trace_id, queued.submitted_ns)
                )
    listed = view.settings.symptoms_listed
    out = []
    for blocker, tasks in waiting.items():
        outcome = view.outcomes.get(blocker)
        if outcome is None or outcome.status != FAILED:
            continue
        tasks.sort(key=lambda t: (t[3], t[0]))
        oldest_s = (now_ns - tasks[0][3]) / NS
        places: dict[str, int] = {}
        for _, where, _, _ in tasks:
            place = next(iter(where.values()))
            places[place] = places.get(place, 0) + 1
        owner = f" ({outcome.agent})" if outcome.agent else ""
        issue = Issue(
            "task_blocked_on_failed",
            "error",
            "task",
            blocker,
            f"{len(tasks)} task(s) wait behind {blocker}{owner}, which failed at {(iso(outcome.ended_ns) or '')[11:19]} "
            f"with {outcome.error}: they will never run unless it is retried or they are released "
            f"(oldest waits {oldest_s:.0f}s)",
            trace_ids=[outcome.trace_id] + [t[2] for t in tasks],
            numbers={
                "blocked": len(tasks),
                "oldest_wait_s": round(oldest_s, 1),
                "failed_ago_s": round((now_ns - outcome.ended_ns) / NS, 1),
            },
            details={
                "blocked_by": blocker,
                "blocking_error": outcome.error,
                "failed_at": iso(outcome.ended_ns),
                "waiting_in": places,
            },
            entity_extra={"agent": outcome.agent} if outcome.agent else {},
            hint=f"telemetron trace {outcome.trace_id}",
        )
        for task_id, where, _, since_ns in tasks:
            issue.add_symptom(
                {
                    "kind": "task_waiting_on_failed",
                    "entity": {"type": "task", "name": task_id, **where},
                    "waiting_s": round((now_ns - since_ns) / NS, 1),
                },
                listed,
            )
        out.append(issue)
    return out
