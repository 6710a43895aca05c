"""Handoffs between agents (``execute_tool transfer_to_<agent>`` spans), per task, to spot loops."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..model import SpanRecord
from .window import Lru


@dataclass(slots=True)
class Handoff:
    source: str
    target: str
    trace_id: str
    t_ns: int


@dataclass(slots=True)
class TaskHandoffs:
    task_id: str
    seen: set = field(default_factory=set)  # handoff span ids, so a pending record and its span count once
    history: deque = field(default_factory=lambda: deque(maxlen=50))
    # frozenset({a, b}) -> number of handoffs between a and b, either way
    pairs: dict = field(default_factory=dict)
    last_ns: int = 0


class HandoffTracker:
    def __init__(self, max_tasks: int = 10_000) -> None:
        self.tasks: Lru = Lru(max_tasks)

    def record(self, span: SpanRecord, real_span_id: str, source: str | None) -> Handoff | None:
        """Count one handoff (from its span or its pending record); None when already counted."""
        target = span.handoff_target
        source = span.handoff_source or source
        if not target or not source:
            return None
        task_id = span.task_id or span.trace_id
        entry = self.tasks.get(task_id)
        if entry is None:
            entry = TaskHandoffs(task_id)
            self.tasks.put(task_id, entry)
        if real_span_id in entry.seen:
            return None
        entry.seen.add(real_span_id)
        handoff = Handoff(source, target, span.trace_id, span.start_ns)
        entry.history.append(handoff)
        pair = frozenset((source, target))
        entry.pairs[pair] = entry.pairs.get(pair, 0) + 1
        entry.last_ns = max(entry.last_ns, span.start_ns)
        return handoff

    def loops(self, threshold: int, since_ns: int) -> list[tuple[TaskHandoffs, frozenset, int]]:
        """Tasks handed back and forth between the same two agents at least ``threshold`` times."""
        found = []
        for entry in self.tasks.values():
            if entry.last_ns < since_ns:
                continue
            for pair, count in entry.pairs.items():
                if count < threshold or len(pair) != 2:
                    continue
                directions = {(h.source, h.target) for h in entry.history if {h.source, h.target} == pair}
                if len(directions) == 2:
                    found.append((entry, pair, count))
        return found
