"""The SDK's OTLP/gRPC span exporter, sending requests serialized by ``_otlp_encoder``.

Everything else (``OTEL_EXPORTER_OTLP_*`` endpoint, headers, TLS, compression, timeout, retries
and reconnects) is the SDK exporter's own; only the request bytes are built differently.
``http/protobuf`` export keeps the SDK's exporter unchanged (its encoding happens inside ``export``).
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as _SDKOTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan

from ._otlp_encoder import encode_spans

_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


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

    def _initialize_channel_and_stub(self) -> None:
        super()._initialize_channel_and_stub()
        self._client = _RawTraceServiceStub(self._channel)

    def _translate_data(self, data: Sequence[ReadableSpan]) -> bytes:  # type: ignore[override]
        return encode_spans(data)
