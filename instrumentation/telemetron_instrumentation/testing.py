"""In-memory capture of everything the instrumentation emits, for tests (ours and users')."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .metrics import GenAIHistograms, GenAIInMemoryMetricReader, genai_meter_provider
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

    async def await_for(
        self, predicate: Callable[[list[ReadableSpan]], bool], timeout: float = 10.0
    ) -> list[ReadableSpan]:
        """``wait_for`` for async tests: LiteLLM ends async calls from a queue served by the running loop."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.finished()
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; spans: {[s.name for s in spans]}")
            await asyncio.sleep(0.02)

    def metric_points(self, name: str) -> list[Any]:
        points: list[Any] = []
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
    existing = trace.get_tracer_provider()
    tracer_provider = existing if isinstance(existing, TracerProvider) else TracerProvider()
    pending = PendingSpanProcessor(
        pending_spans, heartbeat_seconds=heartbeat_seconds, export_delay_ms=20, set_conversation_id=True
    )
    tracer_provider.add_span_processor(pending)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer_provider._telemetron_installed = True  # type: ignore[attr-defined]
    tracer_provider._telemetron_pending = pending  # type: ignore[attr-defined]
    histograms = GenAIHistograms()
    reader = GenAIInMemoryMetricReader(histograms)
    meter_provider = genai_meter_provider(histograms, [reader])
    if tracer_provider is not existing:
        trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    capture = CapturedTelemetry(tracer_provider, meter_provider, spans, pending_spans, reader, pending)
    if with_litellm:
        from .configure import register_litellm_callback

        capture.callback = register_litellm_callback(tracer_provider, meter_provider, capture_content=False)
    _global = capture
    return capture


class OtlpSink:
    """A small OTLP/gRPC receiver for traces and metrics that keeps what it gets, for tests and benchmarks.

    ``OtlpSink(keep=False)`` only counts (a sink for overhead measurements).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, keep: bool = True) -> None:
        import grpc
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        sink = self
        self.keep = keep
        self.span_count = 0
        self.trace_requests: list[Any] = []
        self.metric_requests: list[Any] = []
        self._lock = threading.Lock()

        class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):  # noqa: N802 - gRPC's name
                with sink._lock:
                    sink.span_count += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
                    if sink.keep:
                        sink.trace_requests.append(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request, context):  # noqa: N802
                with sink._lock:
                    if sink.keep:
                        sink.metric_requests.append(request)
                return metrics_service_pb2.ExportMetricsServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(), self._server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(), self._server)
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        self.host = host

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> OtlpSink:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=1).wait()

    def __enter__(self) -> OtlpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def spans(self) -> list[tuple[dict, Any]]:
        """Every received span as (resource attributes, protobuf Span)."""
        out: list[tuple[dict, Any]] = []
        with self._lock:
            requests = list(self.trace_requests)
        for request in requests:
            for resource_spans in request.resource_spans:
                resource = {kv.key: _any_value(kv.value) for kv in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    out.extend((resource, span) for span in scope_spans.spans)
        return out

    def metric_names(self) -> set[str]:
        with self._lock:
            requests = list(self.metric_requests)
        return {
            metric.name
            for request in requests
            for resource_metrics in request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        }

    def metrics(self, name: str) -> list[Any]:
        with self._lock:
            requests = list(self.metric_requests)
        return [
            metric
            for request in requests
            for resource_metrics in request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
            if metric.name == name
        ]


def span_attributes(span: Any) -> dict[str, Any]:
    """A protobuf Span's attributes as a plain dict."""
    return {kv.key: _any_value(kv.value) for kv in span.attributes}


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None
