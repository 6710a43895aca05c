"""In-memory capture of everything the instrumentation emits, for tests (ours and users')."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .conversation import ConversationSpanProcessor
from .pending import PendingSpanProcessor


@dataclass
class CapturedTelemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    pending_spans: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    pending: PendingSpanProcessor
    callback: Any = None

    def clear(self) -> None:
        if self.callback is not None:
            self.callback.wait_idle(5)
        self.spans.clear()
        self.pending_spans.clear()
        self.metric_reader.get_metrics_data()  # drains nothing for cumulative, but keeps API symmetric

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def pending_records(self) -> list[ReadableSpan]:
        return list(self.pending_spans.get_finished_spans())

    def wait_for(self, predicate: Callable[[list[ReadableSpan]], bool], timeout: float = 10.0) -> list[ReadableSpan]:
        """Spans once ``predicate(spans)`` holds (LiteLLM ends sync calls from a thread pool)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.finished()
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; spans: {[s.name for s in spans]}")
            time.sleep(0.02)

    def metric_points(self, name: str) -> list[Any]:
        points = []
        data = self.metric_reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points

    def serialized(self) -> str:
        """Every exported span, pending span and metric as one JSON text (for leak checks)."""
        parts = [s.to_json() for s in self.finished() + self.pending_records()]
        data = self.metric_reader.get_metrics_data()
        if data is not None:
            parts.append(data.to_json())
        return "\n".join(parts)


_global: CapturedTelemetry | None = None


def capture_globally(heartbeat_seconds: float = 0.25, with_litellm: bool = True) -> CapturedTelemetry:
    """Install in-memory providers as the global ones (once per process) and return the capture."""
    global _global
    if _global is not None:
        return _global
    spans, pending_spans = InMemorySpanExporter(), InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(ConversationSpanProcessor())
    pending = PendingSpanProcessor(processor=SimpleSpanProcessor(pending_spans), heartbeat_seconds=heartbeat_seconds)
    tracer_provider.add_span_processor(pending)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer_provider._telemetron_installed = True  # type: ignore[attr-defined]
    tracer_provider._telemetron_pending = pending  # type: ignore[attr-defined]
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    capture = CapturedTelemetry(tracer_provider, meter_provider, spans, pending_spans, reader, pending)
    if with_litellm:
        from .configure import register_litellm_callback

        capture.callback = register_litellm_callback(tracer_provider, meter_provider, capture_content=False)
    _global = capture
    return capture


def attributes_json(span: ReadableSpan) -> dict[str, Any]:
    return json.loads(span.to_json())["attributes"]
