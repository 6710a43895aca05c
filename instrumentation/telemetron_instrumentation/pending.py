"""Work in progress: "pending spans" that make a task visible while it runs.

Spans are exported only when they end, so an agent working for minutes is invisible until it
finishes. When an agent, tool, workflow, LLM or queue-process span has been open for 200 ms, this
processor emits a zero-length copy of it within another 200 ms (through its own exporter), and
again every few seconds while the span stays open (a heartbeat). A pending span:

- has the real span's trace id, a new span id, and the real span as its parent;
- has the real span's name and attributes plus ``telemetron.span_type = "pending_span"`` and
  ``telemetron.pending_parent_id`` (the real span's own parent, 16 hex digits, "" for a root),
  except that ``gen_ai.operation.name`` becomes ``telemetron.pending.operation.name``: a record is
  not an operation, and GenAI-aware backends count every span carrying that attribute as a call;
- starts at the real span's start and ends at the moment it was emitted (the last heartbeat).

It is an ordinary span, so it passes through any Collector, Kafka topic or OTLP backend unchanged;
a reader drops it once the real span (whose span id is the pending span's parent) arrives. Spans
that end within the export delay (200 ms) get no pending span: their real span is the record.
No record is built once a span has ended, and a span that ends while one of its records is being
exported is handed on (to the exporters after this processor) only once that export returned.

The same processor also sets ``gen_ai.conversation.id`` from ``conversation()`` (one processor
instead of two: the SDK calls every processor for every span).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from . import semconv
from .conversation import CONVERSATION_KEY

HEARTBEAT_ENV = "TELEMETRON_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 5.0
DEFAULT_EXPORT_DELAY_MS = 200

TRACKED_OPERATIONS = frozenset(
    {
        semconv.OP_INVOKE_AGENT,
        semconv.OP_CREATE_AGENT,
        semconv.OP_EXECUTE_TOOL,
        semconv.OP_INVOKE_WORKFLOW,
        semconv.OP_CHAT,
        semconv.OP_TEXT_COMPLETION,
        semconv.OP_EMBEDDINGS,
        semconv.OP_GENERATE_CONTENT,
    }
)

_log = logging.getLogger(__name__)


def heartbeat_seconds_from_env() -> float:
    try:
        value = float(os.environ.get(HEARTBEAT_ENV, DEFAULT_HEARTBEAT_SECONDS))
    except ValueError:
        return DEFAULT_HEARTBEAT_SECONDS
    return value if value > 0 else DEFAULT_HEARTBEAT_SECONDS


class PendingSpanProcessor(SpanProcessor):
    """Exports pending spans for tracked spans that stay open, through their own ``exporter``.

    One background thread wakes every ``export_delay_ms``: it builds a start record for each
    tracked span that has been open for at least ``export_delay_ms`` and has none yet, and a
    heartbeat for each span open for another ``heartbeat_seconds``, and exports them in one batch.
    A span that ends within the delay (most LLM calls) needs no start record: its real span says
    all there is, so none is built, even if a tick falls inside it, and the hot path costs one
    dictionary insert and one delete, with no lock. With ``set_conversation_id`` it also does what
    ``ConversationSpanProcessor`` does.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        heartbeat_seconds: float | None = None,
        export_delay_ms: int = DEFAULT_EXPORT_DELAY_MS,
        set_conversation_id: bool = False,
    ) -> None:
        self._exporter = exporter
        self.heartbeat_seconds = heartbeat_seconds or heartbeat_seconds_from_env()
        self.export_delay_s = max(0.01, export_delay_ms / 1000.0)
        self._set_conversation_id = set_conversation_id
        self._open: dict[int, Span] = {}  # span id -> span, for every open tracked span
        self._next_beat: dict[int, float] = {}  # span id -> next heartbeat due (monotonic), once it has a record
        self._lock = threading.Lock()
        self._export_lock = threading.Lock()  # held by a tick from choosing its spans until its export returned
        self._stop = threading.Event()
        self._stopped = False  # the Event's flag as a plain read, for the hot path
        self._thread: threading.Thread | None = None
        self._random = random.Random()

    # --- SpanProcessor ----------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # The SDK's plain dict behind a span's attributes, when it has one: its public view is slower.
        try:
            attributes = span._attributes._dict  # type: ignore[union-attr]
        except AttributeError:
            attributes = None
        if type(attributes) is not dict:
            attributes = span.attributes or {}
        if self._set_conversation_id:
            conversation_id = (otel_context.get_current() if parent_context is None else parent_context).get(
                CONVERSATION_KEY
            )
            if type(conversation_id) is str and semconv.GEN_AI_CONVERSATION_ID not in attributes:
                span.set_attribute(semconv.GEN_AI_CONVERSATION_ID, conversation_id)
        if (
            attributes.get(semconv.GEN_AI_OPERATION_NAME) not in TRACKED_OPERATIONS
            and attributes.get(semconv.MESSAGING_OPERATION_TYPE) != "process"
        ) or self._stopped:
            return
        context = span.context
        if context.trace_flags & TraceFlags.SAMPLED:  # the flag itself: .sampled is one more Python call
            self._open[context.span_id] = span  # atomic on a dict: no lock on the hot path
            if self._thread is None:
                self._start_thread()

    def on_end(self, span: ReadableSpan) -> None:
        span_id = span.context.span_id
        if self._open.pop(span_id, None) is not None and span_id in self._next_beat:
            # A record of this span may be on its way: let its export return before the span goes on.
            with self._export_lock:
                self._next_beat.pop(span_id, None)

    def shutdown(self) -> None:
        self._stopped = True
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._tick()
        return True

    # --- internals --------------------------------------------------------------------------------

    @property
    def open_spans(self) -> int:
        return len(self._open)

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="telemetron-pending", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.export_delay_s):
            try:
                self._tick()
            except Exception:
                _log.debug("telemetron: pending span export failed", exc_info=True)

    def _tick(self) -> None:
        """Build the start records and heartbeats that are due, and export them."""
        with self._export_lock:
            now = time.monotonic()
            started_before = time.time_ns() - int(self.export_delay_s * 1e9)
            due = []
            for span_id, span in list(self._open.items()):  # a snapshot: spans start and end meanwhile
                next_beat = self._next_beat.get(span_id)
                if next_beat is None:  # no start record yet: due once the span is old enough
                    is_due = (span.start_time or 0) <= started_before
                else:
                    is_due = next_beat <= now
                if not is_due:
                    continue
                self._next_beat[span_id] = now + self.heartbeat_seconds
                # Checked after the store above: the SDK sets end_time before on_end, and on_end looks
                # for that store, so a span either is seen ended here or waits in on_end for this export.
                if span.end_time is None:
                    due.append(span)
                elif span_id not in self._open:
                    self._next_beat.pop(span_id, None)
            if due:
                self._exporter.export([self._pending(span) for span in due])

    def _pending(self, span: Span) -> ReadableSpan:
        real = span.context
        parent = span.parent
        attributes = _snapshot(span)
        operation = attributes.pop(semconv.GEN_AI_OPERATION_NAME, None)
        if operation is not None:
            attributes[semconv.PENDING_OPERATION_NAME] = operation
        attributes[semconv.SPAN_TYPE] = semconv.SPAN_TYPE_PENDING
        attributes[semconv.PENDING_PARENT_ID] = format(parent.span_id, "016x") if parent else ""
        return ReadableSpan(
            name=span.name,
            context=SpanContext(
                real.trace_id, self._random.getrandbits(64) or 1, False, real.trace_flags, real.trace_state
            ),
            parent=real,
            resource=span.resource,
            attributes=attributes,
            kind=SpanKind.INTERNAL,
            start_time=span.start_time,
            end_time=time.time_ns(),
            instrumentation_scope=span.instrumentation_scope,
        )


def _snapshot(span: Span) -> dict:
    """A copy of a live span's attributes (another thread may be setting one right now)."""
    inner = getattr(span.attributes, "_dict", None)  # BoundedAttributes' plain dict: a cheap copy
    for _ in range(3):
        if isinstance(inner, dict):
            try:
                return inner.copy()
            except RuntimeError:
                continue
        try:
            return dict(span.attributes or {})
        except RuntimeError:
            continue
    return {}
