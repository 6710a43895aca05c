"""Running tasks that went silent, run far longer than usual, or wait on a task that failed."""

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
        p95 = None
        if len(agent.durations_ms) >= settings.slow_task_min_samples:
            p95 = percentile(agent.durations_ms, 95)
        for task in agent.running.values():
            silent_ns = now_ns - task.last_seen_ns
            running_s = (now_ns - task.started_ns) / NS
            entity_extra = {"agent": agent.name}
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
                    )
                )
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
                    )
                )
            if task.blocked_by:
                out.extend(blocked(view, task.task_id, task.blocked_by, task.trace_id, {"agent": agent.name}))
    return out


def blocked(view: StateView, task_id: str, blocked_by: str, trace_id: str, where: dict) -> list[Issue]:
    outcome = view.outcomes.get(blocked_by)
    if outcome is None or outcome.status != FAILED:
        return []
    return [
        Issue(
            "task_blocked_on_failed",
            "error",
            "task",
            task_id,
            f"task {task_id} waits for {blocked_by}, which failed ({outcome.error}): it will never be unblocked",
            trace_ids=[outcome.trace_id, trace_id],
            numbers={},
            details={"blocked_by": blocked_by, "blocking_error": outcome.error, **where},
            entity_extra=where,
            hint=f"telemetron trace {outcome.trace_id}",
        )
    ]
