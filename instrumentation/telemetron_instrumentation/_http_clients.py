"""HTTP client spans under each LLM span: httpx (LiteLLM's sync path) and aiohttp (its async path).

Both use the stable HTTP semantic conventions (``http.request.method``, ``url.full``,
``http.response.status_code``, ``http.client.request.duration`` in seconds): unless the user set
``OTEL_SEMCONV_STABILITY_OPT_IN`` we opt in to ``http`` before the instrumentors read it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

_log = logging.getLogger(__name__)
OPT_IN_ENV = "OTEL_SEMCONV_STABILITY_OPT_IN"


def default_stable_http_conventions() -> bool:
    """Opt in to the stable HTTP conventions unless the user chose; True if the choice was ours.

    The contrib instrumentors read the variable once per process; when one already read it without
    our default (``opentelemetry-instrument`` loads them before ours), it is read again.
    """
    if os.environ.get(OPT_IN_ENV) is not None:
        return False
    os.environ[OPT_IN_ENV] = "http"
    try:
        from opentelemetry.instrumentation._semconv import _OpenTelemetrySemanticConventionStability as stability

        with stability._lock:
            stability._initialized = False
    except (ImportError, AttributeError):
        _log.debug("telemetron: could not reset the semconv stability mode", exc_info=True)
    return True


def _instrumentors() -> list[Any]:
    found = []
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        found.append(HTTPXClientInstrumentor())
    except ImportError:
        pass
    try:
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

        found.append(AioHttpClientInstrumentor())
    except ImportError:
        pass
    return found


def instrument_http_clients(tracer_provider: Any, meter_provider: Any) -> None:
    """Instrument httpx and aiohttp with the stable HTTP conventions (again, if instrumented with the old)."""
    reinstrument = default_stable_http_conventions()
    for instrumentor in _instrumentors():
        if instrumentor.is_instrumented_by_opentelemetry:
            if not reinstrument:
                continue
            instrumentor.uninstrument()
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
