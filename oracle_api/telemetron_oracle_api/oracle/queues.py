"""Task queues from messaging spans: a ``send`` with no matching ``process`` is waiting in its queue.

A process span names the task by ``messaging.message.id`` or links to the send span; either
matches. Process records may arrive before the send (different processes, different batches),
so consumed ids are remembered for a while.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import telemetron_semconv as sc

from ..model import SpanRecord
from . import _attrs
from .tasks import COMPLETED, FAILED, Outcome, Outcomes
from .window import Lru

_PROMPT_CHARS = 500
_ARGS_CHARS = 2000
_MAX_TASKS_PER_QUEUE = 100_000


@dataclass(slots=True)
class QueuedTask:
    id: str
    queue: str
    priority: str
    submitted_ns: int
    trace_id: str
    span_id: str
    invoked_by: str | None = None
    prompt: str | None = None
    blocked_by: str | None = None
    args: dict | None = None


@dataclass(slots=True)
class Queue:
    name: str
    tasks: dict[str, QueuedTask] = field(default_factory=dict)
    updated_ns: int = 0


def _priority(value: object) -> str:
    if isinstance(value, str) and value.lower() in sc.PRIORITY_LEVELS:
        return value.lower()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return sc.PRIORITY_LEVELS[max(0, min(len(sc.PRIORITY_LEVELS) - 1, int(value)))]
    return "normal"


def _args(value: object) -> dict | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        if len(value) > _ARGS_CHARS:
            return {"truncated": value[:_ARGS_CHARS]}
        try:
            parsed = json.loads(value)
            return parsed if isinstance(parsed, dict) else None
        except json.JSONDecodeError:
            return None
    return None


def queue_name(span: SpanRecord) -> str:
    return _attrs.text(span.attributes, sc.MESSAGING_DESTINATION_NAME) or span.name.partition(" ")[2] or "default"


class QueueTracker:
    def __init__(self, outcomes: Outcomes, memory: int = 100_000) -> None:
        self.queues: dict[str, Queue] = {}
        self.outcomes = outcomes
        self._consumed: Lru = Lru(memory)  # (queue, message id) and ("span", send span id)
        self._sends: Lru = Lru(memory)  # send span id -> (queue, message id)
        self.waiting_on: Counter = Counter()  # task id -> queued tasks blocked by it

    def sent(self, span: SpanRecord, agent: str | None) -> None:
        attrs = span.attributes
        name = queue_name(span)
        message_id = _attrs.text(attrs, sc.MESSAGING_MESSAGE_ID) or span.task_id or span.span_id
        self._sends.put(span.span_id, (name, message_id))
        if (name, message_id) in self._consumed or ("span", span.span_id) in self._consumed:
            return
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = Queue(name)
        if message_id in queue.tasks or len(queue.tasks) >= _MAX_TASKS_PER_QUEUE:
            return
        prompt = _attrs.text(attrs, sc.TASK_PROMPT)
        queue.tasks[message_id] = QueuedTask(
            id=message_id,
            queue=name,
            priority=_priority(attrs.get(sc.TASK_PRIORITY)),
            submitted_ns=span.start_ns,
            trace_id=span.trace_id,
            span_id=span.span_id,
            invoked_by=_attrs.text(attrs, sc.TASK_SUBMITTED_BY) or agent or span.resource.service_name,
            prompt=prompt[:_PROMPT_CHARS] if prompt else None,
            blocked_by=span.blocked_by,
            args=_args(attrs.get(sc.TASK_ARGS)),
        )
        if span.blocked_by:
            self.waiting_on[span.blocked_by] += 1
        queue.updated_ns = max(queue.updated_ns, span.start_ns)

    def consumed(self, span: SpanRecord, *, ended: bool) -> None:
        """A process span (ended) or its pending record (started): the task has left its queue."""
        attrs = span.attributes
        keys: list[tuple[str, str]] = []
        message_id = _attrs.text(attrs, sc.MESSAGING_MESSAGE_ID) or span.task_id
        name = queue_name(span)
        if message_id:
            keys.append((name, message_id))
        for link in span.links:
            send = self._sends.get(link.get("span_id"))
            if send is not None:
                keys.append(send)
            self._consumed.put(("span", link.get("span_id")), True)
        for key in keys:
            self._consumed.put(key, True)
            queue = self.queues.get(key[0])
            taken = queue.tasks.pop(key[1], None) if queue is not None else None
            if queue is not None and taken is not None:
                queue.updated_ns = max(queue.updated_ns, span.start_ns)
                if taken.blocked_by:
                    self.waiting_on[taken.blocked_by] -= 1
                    if self.waiting_on[taken.blocked_by] <= 0:
                        del self.waiting_on[taken.blocked_by]
        if ended and message_id:
            failed = span.status_code == 2
            error = (span.error_type or span.status_message or "error") if failed else None
            self.outcomes.record(
                message_id, Outcome(FAILED if failed else COMPLETED, span.trace_id, span.end_ns, error)
            )
