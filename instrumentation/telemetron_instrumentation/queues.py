"""Task queues as messaging spans: ``send {queue}`` when a task is queued, ``process {queue}`` when taken.

    handle = enqueue("research", "task-42", priority="high", submitted_by="orchestrator")
    ...
    with process_task(handle, agent="researcher"):
        ...

The process span links to the send span (the messaging conventions' way to say "this consumes
that message"), so a reader can tell queued (send without process) from running and done tasks,
and how long a task waited. Handles cross process boundaries with ``to_carrier``/``from_carrier``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import semconv
from ._scope import SpanScope
from .conversation import current_conversation_id

MESSAGING_SYSTEM = "telemetron"
_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class TaskHandle:
    """What a consumer needs to process a queued task: its identity and the send span's context."""

    queue: str
    task_id: str
    priority: str = "normal"
    span_context: SpanContext | None = None
    blocked_by: str | None = None
    submitted_by: str | None = None
    conversation_id: str | None = None
    submitted_at_ns: int = field(default_factory=time.time_ns)

    def to_carrier(self) -> dict[str, Any]:
        """A JSON-able dict (W3C ``traceparent`` included) to put on a real queue."""
        carrier: dict[str, Any] = {
            "queue": self.queue,
            "task_id": self.task_id,
            "priority": self.priority,
            "blocked_by": self.blocked_by,
            "submitted_by": self.submitted_by,
            "conversation_id": self.conversation_id,
            "submitted_at_ns": self.submitted_at_ns,
        }
        if self.span_context is not None and self.span_context.is_valid:
            _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(trace.NonRecordingSpan(self.span_context)))
        return carrier

    @classmethod
    def from_carrier(cls, carrier: dict[str, Any]) -> TaskHandle:
        span_context = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
        return cls(
            queue=carrier["queue"],
            task_id=carrier["task_id"],
            priority=carrier.get("priority") or "normal",
            span_context=span_context if span_context.is_valid else None,
            blocked_by=carrier.get("blocked_by"),
            submitted_by=carrier.get("submitted_by"),
            conversation_id=carrier.get("conversation_id"),
            submitted_at_ns=int(carrier.get("submitted_at_ns") or time.time_ns()),
        )


def _priority(priority: str) -> str:
    level = str(priority).lower()
    if level not in semconv.PRIORITY_LEVELS:
        raise ValueError(f"priority must be one of {semconv.PRIORITY_LEVELS}, not {priority!r}")
    return level


def enqueue(
    queue: str,
    task_id: str,
    priority: str = "normal",
    blocked_by: str | None = None,
    submitted_by: str | None = None,
    prompt: str | None = None,
    *,
    args: str | None = None,
    system: str = MESSAGING_SYSTEM,
) -> TaskHandle:
    """Record that ``task_id`` was put on ``queue`` (a PRODUCER ``send {queue}`` span) and return its handle.

    ``prompt`` and ``args`` are recorded as given: pass them only if they may be stored.
    """
    level = _priority(priority)
    scope = SpanScope(
        f"send {queue}",
        SpanKind.PRODUCER,
        {
            semconv.MESSAGING_SYSTEM: system,
            semconv.MESSAGING_OPERATION_TYPE: "send",
            semconv.MESSAGING_OPERATION_NAME: "send",
            semconv.MESSAGING_DESTINATION_NAME: queue,
            semconv.MESSAGING_MESSAGE_ID: task_id,
            semconv.TASK_ID: task_id,
            semconv.TASK_PRIORITY: level,
            semconv.TASK_BLOCKED_BY: blocked_by,
            semconv.TASK_SUBMITTED_BY: submitted_by,
            semconv.TASK_PROMPT: prompt,
            semconv.TASK_ARGS: args,
        },
    )
    with scope as span:
        span_context = span.get_span_context()
    return TaskHandle(
        queue=queue,
        task_id=task_id,
        priority=level,
        span_context=span_context,
        blocked_by=blocked_by,
        submitted_by=submitted_by,
        conversation_id=current_conversation_id(),
    )


def process_task(
    task: TaskHandle | SpanContext | dict,
    agent: str | None = None,
    *,
    queue: str | None = None,
    task_id: str | None = None,
    system: str = MESSAGING_SYSTEM,
) -> SpanScope:
    """A CONSUMER ``process {queue}`` span linked to the task's send span (context manager or decorator).

    ``task`` is the handle from ``enqueue``, its ``to_carrier()`` dict, or a bare SpanContext (then
    give ``queue`` and ``task_id``).
    """
    if isinstance(task, dict):
        task = TaskHandle.from_carrier(task)
    if isinstance(task, SpanContext):
        if queue is None or task_id is None:
            raise ValueError("process_task(SpanContext) needs queue= and task_id=")
        task = TaskHandle(queue=queue, task_id=task_id, span_context=task)
    links = [Link(task.span_context)] if task.span_context is not None and task.span_context.is_valid else []
    return SpanScope(
        f"process {task.queue}",
        SpanKind.CONSUMER,
        {
            semconv.MESSAGING_SYSTEM: system,
            semconv.MESSAGING_OPERATION_TYPE: "process",
            semconv.MESSAGING_OPERATION_NAME: "process",
            semconv.MESSAGING_DESTINATION_NAME: task.queue,
            semconv.MESSAGING_MESSAGE_ID: task.task_id,
            semconv.TASK_ID: task.task_id,
            semconv.TASK_PRIORITY: task.priority,
            semconv.TASK_BLOCKED_BY: task.blocked_by,
            semconv.TASK_SUBMITTED_BY: task.submitted_by,
            semconv.TASK_PROCESSED_BY: agent,
            semconv.GEN_AI_CONVERSATION_ID: task.conversation_id,
        },
        links,
    )
