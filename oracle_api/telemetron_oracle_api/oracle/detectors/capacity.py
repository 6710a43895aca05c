"""Agents running more invocations at once than they declared they can."""

from __future__ import annotations

from ..issues import MAX_LISTED, Issue
from ..view import StateView


def agent_capacity(view: StateView, now_ns: int) -> list[Issue]:
    out = []
    for agent in view.agents.agents.values():
        if agent.max_parallel is None or len(agent.running) <= agent.max_parallel:
            continue
        running = sorted(agent.running.values(), key=lambda t: t.started_ns)
        out.append(
            Issue(
                "agent_over_capacity",
                "error",
                "agent",
                agent.name,
                f"{len(running)} invocations of {agent.name} are open at once, above its declared "
                f"max_parallel_invocations={agent.max_parallel}: callers are not limiting concurrency",
                trace_ids=[t.trace_id for t in running],
                numbers={"running": len(running), "max_parallel_invocations": agent.max_parallel},
                details={"task_ids": [t.task_id for t in running][:MAX_LISTED], "deployment": agent.deployment},
                hint=f"telemetron agents {agent.name}",
            )
        )
    return out
