"""The SDK's OTLP/gRPC span exporter, sending requests serialized by ``_otlp_encoder``.

Everything else (``OTEL_EXPORTER_OTLP_*`` endpoint, headers, TLS, compression, timeout, retries
and reconnects) is the SDK exporter's own; only the request bytes are built differently.
``http/protobuf`` export keeps the SDK's exporter unchanged (its encoding happens inside ``export``).

The fast encoder leans on SDK internals (the exporter's private hooks, a span's attribute dict), so
it is used only with an SDK it was verified against, and only after its first request parsed to
the very message the SDK's own encoder builds; otherwise the SDK's encoder serializes every request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as _SDKOTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.version import __version__ as sdk_version

from ._otlp_encoder import encode_spans

_log = logging.getLogger(__name__)
_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# SDK releases the encoder was checked against (tests/test_instrumentation_otlp_encoder.py; 1.42 encodes
# None-valued attributes differently, so older SDKs get their own encoder).
VERIFIED_SDK_SERIES = ("1.45.",)


def fast_encoder_supported(version: str | None = None) -> bool:
    """Whether this SDK is one the fast encoder was verified against and still has the hooks it overrides."""
    return (version or sdk_version).startswith(VERIFIED_SDK_SERIES) and all(
        hasattr(_SDKOTLPSpanExporter, name) for name in ("_initialize_channel_and_stub", "_translate_data")
    )


def same_request(spans: Sequence[ReadableSpan], encoded: bytes) -> bool:
    """True if ``encoded`` parses to the request the SDK's encoder builds for ``spans``."""
    return ExportTraceServiceRequest.FromString(encoded) == sdk_encode_spans(spans)


class _RawTraceServiceStub:
    """TraceService's Export taking an already serialized request (``bytes`` pass through gRPC as is)."""

    def __init__(self, channel) -> None:
        self.Export = channel.unary_unary(  # noqa: N815 - gRPC's name
            _EXPORT_METHOD,
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )


class OTLPSpanExporter(_SDKOTLPSpanExporter):
    """Drop-in for ``opentelemetry.exporter.otlp.proto.grpc.trace_exporter.OTLPSpanExporter``."""

    _checked = False  # the first request is compared with the SDK's encoding
    fast = True

    def _initialize_channel_and_stub(self) -> None:
        super()._initialize_channel_and_stub()
        self._client = _RawTraceServiceStub(self._channel)  # type: ignore[assignment]  # the SDK types it as its stub

    def _translate_data(self, data: Sequence[ReadableSpan]) -> bytes:  # type: ignore[override]
        if self.fast:
            encoded = encode_spans(data)
            if self._checked:
                return encoded
            self._checked = True
            if same_request(data, encoded):
                return encoded
            _log.warning("telemetron: fast OTLP encoder disagrees with SDK %s; using the SDK's", sdk_version)
            self.fast = False
        return sdk_encode_spans(data).SerializeToString()
