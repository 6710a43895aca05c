"""One call to set up tracing, metrics, pending spans and the LiteLLM callback for an agent process.

    from telemetron_instrumentation import configure, shutdown
    configure(service_name="my-agents")      # OTLP to OTEL_EXPORTER_OTLP_ENDPOINT (default :4317)
    ...
    shutdown()                               # flush everything before exit (bounded)

Idempotent. ``shutdown()`` (also run at exit) waits at most ``TELEMETRON_SHUTDOWN_TIMEOUT_SECONDS``
(default 5) for the last export, so a dead Collector cannot hold the app's exit for the SDK's
retries. If an SDK TracerProvider is already installed (e.g. by ``opentelemetry-instrument``)
it is reused and only our processors are added to it.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from . import _content, _exporters
from ._http_clients import instrument_http_clients
from .conversation import ConversationSpanProcessor
from .metrics import GenAIHistograms, GenAIPeriodicExportingMetricReader, genai_meter_provider
from .pending import DEFAULT_EXPORT_DELAY_MS, PendingSpanProcessor, heartbeat_seconds_from_env

_log = logging.getLogger(__name__)
SHUTDOWN_TIMEOUT_ENV = "TELEMETRON_SHUTDOWN_TIMEOUT_SECONDS"
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 5.0


def _shutdown_timeout_from_env() -> float:
    try:
        value = float(os.environ.get(SHUTDOWN_TIMEOUT_ENV, DEFAULT_SHUTDOWN_TIMEOUT_SECONDS))
    except ValueError:
        return DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
    return value if value > 0 else DEFAULT_SHUTDOWN_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Settings:
    """Everything ``configure()`` reads from the environment, overridable by its arguments."""

    service_name: str | None = None
    endpoint: str | None = None  # OTLP endpoint; None lets the exporters read OTEL_EXPORTER_OTLP_*
    protocol: str | None = None  # "grpc" or "http/protobuf"; None reads OTEL_EXPORTER_OTLP_PROTOCOL
    capture_content: bool = False
    heartbeat_seconds: float = 5.0
    pending_export_delay_ms: int = DEFAULT_EXPORT_DELAY_MS
    shutdown_timeout_seconds: float = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
    resource_attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "service_name": os.environ.get("OTEL_SERVICE_NAME"),
            "capture_content": _content.capture_enabled_from_env(),
            "heartbeat_seconds": heartbeat_seconds_from_env(),
            "shutdown_timeout_seconds": _shutdown_timeout_from_env(),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class Telemetry:
    """What ``configure()`` set up; ``shutdown()`` flushes and stops it."""

    settings: Settings
    tracer_provider: TracerProvider
    meter_provider: MeterProvider | Any
    pending: PendingSpanProcessor | None
    callback: Any = None
    owns_providers: bool = True

    def force_flush(self, timeout_millis: int = 10000) -> None:
        if self.callback is not None:
            self.callback.wait_idle(timeout_millis / 1000)
        self.tracer_provider.force_flush(timeout_millis)
        if hasattr(self.meter_provider, "force_flush"):
            self.meter_provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop, giving up after ``shutdown_timeout_seconds`` (the exporters may be retrying)."""
        worker = threading.Thread(target=self._shutdown, name="telemetron-shutdown", daemon=True)
        worker.start()
        worker.join(self.settings.shutdown_timeout_seconds)
        if worker.is_alive():
            _log.warning(
                "telemetron: telemetry not flushed within %ss (%s); exiting without it",
                self.settings.shutdown_timeout_seconds,
                SHUTDOWN_TIMEOUT_ENV,
            )

    def _shutdown(self) -> None:
        try:
            self.force_flush(int(self.settings.shutdown_timeout_seconds * 1000))
        finally:
            if self.owns_providers:
                self.tracer_provider.shutdown()
                if hasattr(self.meter_provider, "shutdown"):
                    self.meter_provider.shutdown()
            elif self.pending is not None:
                self.pending.shutdown()


_lock = threading.Lock()
_current: Telemetry | None = None


def configure(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    capture_content: bool | None = None,
    heartbeat_seconds: float | None = None,
    resource_attributes: dict[str, Any] | None = None,
    span_exporter: SpanExporter | None = None,
    pending_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
    instrument_litellm: bool = True,
    instrument_httpx: bool = True,
) -> Telemetry:
    """Set up tracing and metrics export over OTLP, pending spans and the LiteLLM callback, once per process.

    The exporter/reader arguments replace the OTLP ones (tests pass in-memory ones).
    """
    global _current
    with _lock:
        if _current is not None:
            return _current
        settings = Settings.from_env(
            service_name=service_name,
            endpoint=endpoint,
            protocol=protocol,
            capture_content=capture_content,
            heartbeat_seconds=heartbeat_seconds,
            resource_attributes=resource_attributes,
        )
        _current = _build(
            settings, span_exporter, pending_exporter, metric_reader, instrument_litellm, instrument_httpx
        )
        atexit.register(shutdown)
        return _current


def _resource(settings: Settings) -> Resource:
    attributes = dict(settings.resource_attributes)
    if settings.service_name:
        attributes[SERVICE_NAME] = settings.service_name
    elif not os.environ.get("OTEL_SERVICE_NAME") and "service.name=" not in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        attributes[SERVICE_NAME] = os.path.splitext(os.path.basename(sys.argv[0] or "python"))[0] or "python"
    return Resource.create(attributes)


def _build(
    settings: Settings,
    span_exporter: SpanExporter | None,
    pending_exporter: SpanExporter | None,
    metric_reader: MetricReader | None,
    instrument_litellm: bool,
    instrument_httpx: bool,
) -> Telemetry:
    existing = trace.get_tracer_provider()
    owns = not isinstance(existing, TracerProvider)
    # Providers we own are shut down by our own exit hook, bounded by shutdown_timeout_seconds: the
    # SDK's exit hook would wait for the export retries (30 s per provider) with a dead Collector.
    tracer_provider = (
        existing
        if isinstance(existing, TracerProvider)
        else TracerProvider(resource=_resource(settings), shutdown_on_exit=False)
    )

    if pending_exporter is None and not getattr(tracer_provider, "_telemetron_installed", False):
        found = _exporters.make_exporters("traces", settings.endpoint, settings.protocol)
        pending_exporter = found[0] if found else None
    pending = install_processors(tracer_provider, pending_exporter, settings)
    processors: list[SpanProcessor] = []
    if owns:
        exporters = (
            [span_exporter]
            if span_exporter is not None
            else _exporters.make_exporters("traces", settings.endpoint, settings.protocol)
        )
        processors.extend(BatchSpanProcessor(e) for e in exporters)
    for processor in processors:
        tracer_provider.add_span_processor(processor)
    if owns:
        trace.set_tracer_provider(tracer_provider)

    meter_provider = metrics.get_meter_provider()
    if owns or not isinstance(meter_provider, MeterProvider):
        if metric_reader is not None:
            meter_provider = MeterProvider(
                resource=tracer_provider.resource, metric_readers=[metric_reader], shutdown_on_exit=False
            )
        else:  # every reader is ours: the GenAI metrics are recorded without the SDK's per-record overhead
            histograms = GenAIHistograms(tracer_provider.resource)
            readers: list[MetricReader] = [
                GenAIPeriodicExportingMetricReader(e, histograms)
                for e in _exporters.make_exporters("metrics", settings.endpoint, settings.protocol)
            ]
            meter_provider = genai_meter_provider(histograms, readers, shutdown_on_exit=False)
        metrics.set_meter_provider(meter_provider)

    telemetry = Telemetry(settings, tracer_provider, meter_provider, pending, owns_providers=owns)
    if instrument_litellm:
        telemetry.callback = register_litellm_callback(tracer_provider, meter_provider, settings.capture_content)
    if instrument_httpx:
        instrument_http_clients(tracer_provider, meter_provider)
    return telemetry


def install_processors(
    tracer_provider: TracerProvider, pending_exporter: SpanExporter | None, settings: Settings
) -> PendingSpanProcessor | None:
    """Add the conversation and pending-span processor to a provider, once (before the exporters).

    One processor does both when there are pending spans to export: the SDK calls every processor
    for every span.
    """
    if getattr(tracer_provider, "_telemetron_installed", False):
        return getattr(tracer_provider, "_telemetron_pending", None)
    pending = None
    if pending_exporter is None:
        tracer_provider.add_span_processor(ConversationSpanProcessor())
    else:
        pending = PendingSpanProcessor(
            pending_exporter,
            heartbeat_seconds=settings.heartbeat_seconds,
            export_delay_ms=settings.pending_export_delay_ms,
            set_conversation_id=True,
        )
        tracer_provider.add_span_processor(pending)
    tracer_provider._telemetron_installed = True  # type: ignore[attr-defined]
    tracer_provider._telemetron_pending = pending  # type: ignore[attr-defined]
    return pending


def register_litellm_callback(tracer_provider: Any, meter_provider: Any, capture_content: bool | None) -> Any:
    """Add our callback to ``litellm.callbacks`` unless one is there already; returns the one in use."""
    import litellm

    from ._context_guards import install_context_guards
    from .litellm_callback import TelemetronLiteLLMCallback

    install_context_guards()
    for callback in litellm.callbacks:
        if isinstance(callback, TelemetronLiteLLMCallback):
            return callback
    callback = TelemetronLiteLLMCallback(tracer_provider, meter_provider, capture_content)
    litellm.callbacks.append(callback)
    return callback


def unregister_litellm_callback(callback: Any) -> None:
    """Remove ``callback`` from every list LiteLLM copies registered callbacks into."""
    import litellm

    from ._context_guards import uninstall_context_guards

    uninstall_context_guards()
    for name in (
        "callbacks",
        "input_callback",
        "success_callback",
        "failure_callback",
        "_async_input_callback",
        "_async_success_callback",
        "_async_failure_callback",
    ):
        registered = getattr(litellm, name, None)
        while isinstance(registered, list) and callback in registered:
            registered.remove(callback)


def current() -> Telemetry | None:
    return _current


def shutdown() -> None:
    """Flush open LLM calls, spans, pending spans and metrics, then stop exporting. Safe to call twice."""
    global _current
    with _lock:
        telemetry, _current = _current, None
    if telemetry is not None:
        try:
            telemetry.shutdown()
        except Exception:
            _log.warning("telemetron: shutdown failed", exc_info=True)
