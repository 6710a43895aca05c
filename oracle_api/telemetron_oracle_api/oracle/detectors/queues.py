"""Queues with too many tasks waiting, or tasks waiting too long.

When every task in question waits on a failed task, the queue's issue is a symptom of that
task's ``task_blocked_on_failed`` incident and is folded into it.
"""

from __future__ import annotations

from ..issues import MAX_LISTED, Issue
from ..view import StateView
from ..window import NS
from .tasks import blocker_id


def queue_waits(view: StateView, now_ns: int) -> list[Issue]:
    settings = view.settings
    wait_ns = settings.queue_wait_threshold_s * NS
    out = []
    for queue in view.queues.queues.values():
        tasks = sorted(queue.tasks.values(), key=lambda t: t.submitted_ns)
        if not tasks:
            continue
        oldest_s = (now_ns - tasks[0].submitted_ns) / NS
        causes = {t.id: blocker_id(view, t.blocked_by) for t in tasks}
        if len(tasks) >= settings.queue_backlog_threshold:
            out.append(
                Issue(
                    "queue_backlog",
                    "warning",
                    "queue",
                    queue.name,
                    f"{len(tasks)} tasks wait in {queue.name} (oldest {oldest_s:.0f}s): "
                    "consumers are too few or stalled",
                    trace_ids=[t.trace_id for t in tasks],
                    numbers={
                        "pending": len(tasks),
                        "oldest_wait_s": round(oldest_s, 1),
                        "threshold": settings.queue_backlog_threshold,
                    },
                    hint="telemetron queues",
                    explained_by=_common_cause(causes, tasks),
                )
            )
        late = [t for t in tasks if now_ns - t.submitted_ns >= wait_ns]
        if late:
            out.append(
                Issue(
                    "queue_task_waiting",
                    "warning",
                    "queue",
                    queue.name,
                    f"{len(late)} tasks in {queue.name} have waited over {settings.queue_wait_threshold_s:g}s "
                    f"(oldest {oldest_s:.0f}s)",
                    trace_ids=[t.trace_id for t in late],
                    numbers={
                        "waiting": len(late),
                        "oldest_wait_s": round(oldest_s, 1),
                        "threshold_s": settings.queue_wait_threshold_s,
                    },
                    details={"task_ids": [t.id for t in late][:MAX_LISTED]},
                    hint="telemetron queues",
                    explained_by=_common_cause(causes, late),
                )
            )
    return out


def _common_cause(causes: dict, tasks: list) -> str | None:
    """The incident most of ``tasks`` wait on, when every one of them waits on a failed task."""
    found = [causes[t.id] for t in tasks]
    if not found or None in found:
        return None
    return max(set(found), key=found.count)
