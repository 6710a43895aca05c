"""Tasks as the Oracle tracks them, and the final outcome of every recently finished task id."""

from __future__ import annotations

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
    """task id -> how it ended, for 'blocked on a failed task' and 'waiting' decisions."""

    def __init__(self, limit: int = 100_000) -> None:
        self._by_task: Lru = Lru(limit)
        self.revision = 0

    def record(self, task_id: str, outcome: Outcome) -> None:
        self._by_task.put(task_id, outcome)
        self.revision += 1

    def get(self, task_id: str) -> Outcome | None:
        return self._by_task.get(task_id)

    def __len__(self) -> int:
        return len(self._by_task)
