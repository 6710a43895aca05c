"""Work in progress: "pending spans" that make a task visible while it runs.

Spans are exported only when they end, so an agent working for minutes is invisible until it
finishes. When an agent, tool, workflow, LLM or queue-process span starts, this processor emits a
zero-length copy of it at once (through its own exporter, within ~200 ms), and again every few
seconds while the span stays open (a heartbeat). A pending span:

- has the real span's trace id, a new span id, and the real span as its parent;
- has the real span's name and attributes plus ``telemetron.span_type = "pending_span"`` and
  ``telemetron.pending_parent_id`` (the real span's own parent, 16 hex digits, "" for a root);
- starts at the real span's start and ends at the moment it was emitted (the last heartbeat).

It is an ordinary span, so it passes through any Collector, Kafka topic or OTLP backend unchanged;
a reader drops it once the real span (whose span id is the pending span's parent) arrives.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanContext, SpanKind

from . import semconv

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


def is_tracked(span: ReadableSpan) -> bool:
    """Agent, tool, workflow, LLM and queue-process spans are the ones worth a start record."""
    attributes = span.attributes or {}
    return (
        attributes.get(semconv.GEN_AI_OPERATION_NAME) in TRACKED_OPERATIONS
        or attributes.get(semconv.MESSAGING_OPERATION_TYPE) == "process"
    )


def heartbeat_seconds_from_env() -> float:
    try:
        value = float(os.environ.get(HEARTBEAT_ENV, DEFAULT_HEARTBEAT_SECONDS))
    except ValueError:
        return DEFAULT_HEARTBEAT_SECONDS
    return value if value > 0 else DEFAULT_HEARTBEAT_SECONDS


class PendingSpanProcessor(SpanProcessor):
    """Emits pending spans for tracked spans at start and every ``heartbeat_seconds`` while open.

    Give it an ``exporter`` (wrapped in a BatchSpanProcessor with a short delay) or a ready
    ``processor`` whose ``on_end`` receives the pending spans (tests use a SimpleSpanProcessor).
    """

    def __init__(
        self,
        exporter: SpanExporter | None = None,
        *,
        processor: SpanProcessor | None = None,
        heartbeat_seconds: float | None = None,
        export_delay_ms: int = DEFAULT_EXPORT_DELAY_MS,
    ) -> None:
        if processor is None:
            if exporter is None:
                raise ValueError("PendingSpanProcessor needs an exporter or a processor")
            processor = BatchSpanProcessor(exporter, schedule_delay_millis=export_delay_ms)
        self._sink = processor
        self.heartbeat_seconds = heartbeat_seconds or heartbeat_seconds_from_env()
        self._open: dict[int, list] = {}  # span id -> [span, next heartbeat (monotonic)]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._random = random.Random()

    # --- SpanProcessor ----------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._stop.is_set() or not span.context.trace_flags.sampled or not is_tracked(span):
            return
        self._emit(span)
        with self._lock:
            self._open[span.context.span_id] = [span, time.monotonic() + self.heartbeat_seconds]
            if self._thread is None:
                self._thread = threading.Thread(target=self._heartbeats, name="telemetron-heartbeat", daemon=True)
                self._thread.start()

    def on_end(self, span: ReadableSpan) -> None:
        if self._open:
            with self._lock:
                self._open.pop(span.context.span_id, None)

    def shutdown(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._sink.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._sink.force_flush(timeout_millis)

    # --- internals --------------------------------------------------------------------------------

    @property
    def open_spans(self) -> int:
        return len(self._open)

    def _emit(self, span: Span) -> None:
        real = span.context
        parent = span.parent
        attributes = _snapshot(span)
        attributes[semconv.SPAN_TYPE] = semconv.SPAN_TYPE_PENDING
        attributes[semconv.PENDING_PARENT_ID] = format(parent.span_id, "016x") if parent else ""
        span_id = self._random.getrandbits(64) or 1
        pending = ReadableSpan(
            name=span.name,
            context=SpanContext(real.trace_id, span_id, False, real.trace_flags, real.trace_state),
            parent=real,
            resource=span.resource,
            attributes=attributes,
            kind=SpanKind.INTERNAL,
            start_time=span.start_time,
            end_time=time.time_ns(),
            instrumentation_scope=span.instrumentation_scope,
        )
        self._sink.on_end(pending)

    def _heartbeats(self) -> None:
        while not self._stop.wait(min(1.0, max(0.05, self.heartbeat_seconds / 4))):
            now = time.monotonic()
            with self._lock:
                due = [entry for entry in self._open.values() if entry[1] <= now]
                for entry in due:
                    entry[1] = now + self.heartbeat_seconds
            for span, _ in due:
                try:
                    if span.end_time is None:
                        self._emit(span)
                except Exception:
                    _log.debug("telemetron: heartbeat failed", exc_info=True)


def _snapshot(span: Span) -> dict:
    """A copy of a live span's attributes (another thread may be setting one right now)."""
    for _ in range(3):
        try:
            return dict(span.attributes or {})
        except RuntimeError:
            continue
    return {}
