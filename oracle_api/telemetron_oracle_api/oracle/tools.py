"""Tool calls (``execute_tool`` spans other than handoffs): calls and failures per tool."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..model import SpanRecord
from .window import Rolling


@dataclass(slots=True)
class ToolStats:
    name: str
    calls: Rolling = field(default_factory=lambda: Rolling(10, 3600))
    failures: Rolling = field(default_factory=lambda: Rolling(10, 3600))
    # (end time, trace id, error type, agent) of the latest failures
    recent_failures: deque = field(default_factory=lambda: deque(maxlen=20))
    consecutive_failures: int = 0
    agents: set = field(default_factory=set)
    durations_ms: deque = field(default_factory=lambda: deque(maxlen=200))  # peers of an open call


class ToolTracker:
    def __init__(self, max_tools: int = 10_000) -> None:
        self.tools: dict[str, ToolStats] = {}
        self._max = max_tools

    def ended(self, span: SpanRecord, agent: str | None) -> None:
        name = span.tool_name or span.name
        stats = self.tools.get(name)
        if stats is None:
            if len(self.tools) >= self._max:
                return
            stats = self.tools[name] = ToolStats(name)
        stats.calls.add(span.end_ns)
        stats.durations_ms.append((span.end_ns - span.start_ns) / 1e6)
        if agent and len(stats.agents) < 50:
            stats.agents.add(agent)
        if span.status_code == 2:
            stats.failures.add(span.end_ns)
            stats.consecutive_failures += 1
            error = span.error_type or span.status_message or "error"
            stats.recent_failures.append((span.end_ns, span.trace_id, error, agent))
        else:
            stats.consecutive_failures = 0
