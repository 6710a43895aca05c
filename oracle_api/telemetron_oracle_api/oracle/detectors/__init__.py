"""The issue detectors, one module per kind of trouble; ``DETECTORS`` is the list the Oracle runs.

Each detector reads a ``StateView`` at one moment and returns ``Issue`` candidates; opening,
keeping and closing them (first and last seen) is ``IssueRegistry``'s job (``oracle/issues.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..issues import Issue
from ..view import StateView
from . import capacity, cost, crashes, error_rate, handoffs, llm, queues, rejections, tasks, tools, workload

Detector = Callable[[StateView, int], list[Issue]]

DETECTORS: tuple[Detector, ...] = (
    capacity.agent_capacity,
    tasks.stuck_or_slow_tasks,
    tasks.blocked_on_failed,
    crashes.lost_work,
    error_rate.error_rate_spike,
    tools.failing_tools,
    handoffs.handoff_loops,
    llm.llm_limits_and_errors,
    cost.cost_spike,
    queues.queue_waits,
    workload.workload_trouble,
    rejections.rejected_telemetry,
)


def detect(view: StateView, now_ns: int) -> list[Issue]:
    """Every issue in the current state; call with the Oracle's lock held."""
    found: list[Issue] = []
    for detector in DETECTORS:
        found.extend(detector(view, now_ns))
    return found
