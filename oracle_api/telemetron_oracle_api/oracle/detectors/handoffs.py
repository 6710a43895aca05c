"""Tasks handed back and forth between the same two agents."""

from __future__ import annotations

from ..issues import MAX_LISTED, Issue
from ..view import StateView
from ..window import NS


def handoff_loops(view: StateView, now_ns: int) -> list[Issue]:
    settings = view.settings
    out = []
    for entry, pair, count in view.handoffs.loops(
        settings.handoff_loop_threshold, now_ns - int(settings.issue_window_s * NS)
    ):
        agents = sorted(pair)
        traces = [h.trace_id for h in entry.history]
        out.append(
            Issue(
                "handoff_loop",
                "error",
                "task",
                entry.task_id,
                f"task {entry.task_id} was handed between {agents[0]} and {agents[1]} {count} times: "
                "neither agent accepts it (conflicting instructions or a missing exit condition)",
                trace_ids=list(reversed(traces)),
                numbers={"handoffs": count},
                details={
                    "agents": agents,
                    "sequence": [f"{h.source}->{h.target}" for h in list(entry.history)[-MAX_LISTED:]],
                },
                hint=f"telemetron trace {traces[-1]}" if traces else "",
            )
        )
    return out
