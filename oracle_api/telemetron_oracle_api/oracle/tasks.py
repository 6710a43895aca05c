"""Tasks as the Oracle tracks them, and the final outcome of every recently finished task id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .window import Lru

RUNNING, WAITING, COMPLETED, FAILED = "running", "waiting", "completed", "failed"


@dataclass(slots=True)
class Task:
    """One unit of an agent's work: an agent invocation, or a handed-off task not yet started."""

    key: str  # span id of the invocation, or "handoff:<task id>" while only handed off
    task_id: str
    trace_id: str
    started_ns: int
    last_seen_ns: int
    status: str = RUNNING
    span_id: str | None = None
    ended_ns: int | None = None
    blocked_by: str | None = None
    error: str | None = None
    rendered: dict | None = None  # the JSON of a finished task, which never changes


@dataclass(slots=True)
class Outcome:
    status: str  # completed | failed
    trace_id: str
    ended_ns: int
    error: str | None = None
    agent: str | None = None  # whose invocation it was, when an agent ran it


class Outcomes:
    """task id -> how it ended, for 'blocked on a failed task' and 'waiting' decisions.

    The oldest outcomes are forgotten past ``limit``, except a failure that still blocks other
    tasks (``blocks(task id)``): a root cause must not age out while its effect lasts.
    """

    def __init__(self, limit: int = 100_000, kept_limit: int = 10_000) -> None:
        self._by_task: Lru = Lru(limit)
        self._kept: Lru = Lru(kept_limit)  # failures evicted from _by_task while they blocked others
        self.blocks: Callable[[str], bool] = lambda task_id: False
        self.revision = 0

    def record(self, task_id: str, outcome: Outcome) -> None:
        by_task = self._by_task
        if task_id in by_task:
            by_task.move_to_end(task_id)
        by_task[task_id] = outcome
        self._kept.pop(task_id, None)
        if len(by_task) > by_task.limit:
            oldest, evicted = by_task.popitem(last=False)
            if evicted.status == FAILED and self.blocks(oldest):
                self._kept.put(oldest, evicted)
        self.revision += 1

    def get(self, task_id: str) -> Outcome | None:
        found = self._by_task.get(task_id)
        return found if found is not None else self._kept.get(task_id)

    def __len__(self) -> int:
        return len(self._by_task)
