"""Zero-code instrumentation: ``opentelemetry-instrument python app.py`` on an unmodified LiteLLM app.

Registered as the ``telemetron_litellm`` entry point (``litellm`` is taken by OpenInference and
OpenLLMetry). It adds the LiteLLM callback, GenAI metrics on the global MeterProvider, and the
pending-span and conversation processors on the global TracerProvider that the SDK configurator
built, and instruments httpx and aiohttp with the stable HTTP conventions (LiteLLM's sync and
async HTTP clients); pending spans go to a second exporter of the same kind as ``OTEL_TRACES_EXPORTER``. Without
a configurator (no ``opentelemetry-distro``) it sets the SDK up itself, like ``configure()``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.sdk.trace import TracerProvider

from . import _exporters
from ._http_clients import instrument_http_clients
from .configure import Settings, configure, install_processors, register_litellm_callback, unregister_litellm_callback


class TelemetronLiteLLMInstrumentor(BaseInstrumentor):
    """``TelemetronLiteLLMInstrumentor().instrument(capture_content=True)`` also works in code."""

    _callback: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("litellm",)

    def _instrument(self, **kwargs: Any) -> None:
        tracer_provider = kwargs.get("tracer_provider") or trace.get_tracer_provider()
        if not isinstance(tracer_provider, TracerProvider):
            # No SDK configurator ran (opentelemetry-distro is not installed): set the SDK up from
            # the OTEL_* variables ourselves, as configure() does for code that calls it.
            telemetry = configure(capture_content=kwargs.get("capture_content"))
            self._callback = telemetry.callback
            return
        meter_provider = kwargs.get("meter_provider") or metrics.get_meter_provider()
        settings = Settings.from_env(capture_content=kwargs.get("capture_content"))
        if isinstance(tracer_provider, TracerProvider) and not getattr(tracer_provider, "_telemetron_installed", False):
            exporter = kwargs.get("pending_exporter")
            if exporter is None:
                found = _exporters.make_exporters("traces", default="none")
                exporter = found[0] if found else None
            install_processors(tracer_provider, exporter, settings)
        self._callback = register_litellm_callback(tracer_provider, meter_provider, settings.capture_content)
        instrument_http_clients(tracer_provider, meter_provider)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._callback is not None:
            unregister_litellm_callback(self._callback)
            self._callback = None
