"""Span and metric exporters chosen the way the SDK's own configurator does, from ``OTEL_*`` variables.

``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` name them (``otlp`` by default, ``console``,
``none``); ``OTEL_EXPORTER_OTLP[_TRACES|_METRICS]_PROTOCOL`` picks gRPC (default) or
``http/protobuf``; endpoint, headers, TLS and timeouts are read by the OTLP exporters themselves.
"""

from __future__ import annotations

import os
from typing import Any, Literal, overload

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.util._importlib_metadata import entry_points

Signal = Literal["traces", "metrics"]
_ENTRY_POINT_GROUPS = {"traces": "opentelemetry_traces_exporter", "metrics": "opentelemetry_metrics_exporter"}
_HTTP_PATHS = {"traces": "/v1/traces", "metrics": "/v1/metrics"}


def otlp_protocol(signal: Signal) -> str:
    value = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    return value.strip() or "grpc"


def exporter_names(signal: Signal, default: str = "otlp") -> list[str]:
    names = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", default).strip()
    if not names or names.lower() == "none":
        return []
    return [n.strip() for n in names.split(",") if n.strip() and n.strip().lower() != "none"]


def _otlp(signal: Signal, endpoint: str | None, protocol: str | None) -> Any:
    protocol = protocol or otlp_protocol(signal)
    kwargs: dict[str, Any] = {}
    cls: type[Any]  # one of four exporter classes, imported only when chosen
    if protocol == "http/protobuf":
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as cls
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as cls
        if endpoint:
            kwargs["endpoint"] = endpoint.rstrip("/") + _HTTP_PATHS[signal]
    elif protocol == "grpc":
        if signal == "traces":  # the SDK's gRPC exporter, with a faster request encoder where verified
            from ._grpc_span_exporter import fast_encoder_supported

            if fast_encoder_supported():
                from ._grpc_span_exporter import OTLPSpanExporter as cls
            else:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as cls
        else:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as cls
        if endpoint:
            kwargs["endpoint"] = endpoint
    else:
        raise ValueError(f"unsupported OTLP protocol {protocol!r} (use grpc or http/protobuf)")
    return cls(**kwargs)


@overload
def make_exporters(
    signal: Literal["traces"], endpoint: str | None = None, protocol: str | None = None, default: str = "otlp"
) -> list[SpanExporter]: ...


@overload
def make_exporters(
    signal: Literal["metrics"], endpoint: str | None = None, protocol: str | None = None, default: str = "otlp"
) -> list[MetricExporter]: ...


def make_exporters(
    signal: Signal, endpoint: str | None = None, protocol: str | None = None, default: str = "otlp"
) -> list[SpanExporter] | list[MetricExporter]:
    """The exporters ``OTEL_<SIGNAL>_EXPORTER`` names; ``endpoint``/``protocol`` override OTLP's env."""
    exporters: list[Any] = []
    for name in exporter_names(signal, default):
        if name in ("otlp", "otlp_proto_grpc", "otlp_proto_http"):
            chosen = {"otlp_proto_grpc": "grpc", "otlp_proto_http": "http/protobuf"}.get(name, protocol)
            exporters.append(_otlp(signal, endpoint, chosen))
        else:
            found = entry_points(group=_ENTRY_POINT_GROUPS[signal], name=name)
            exporter_class = next(iter(found), None)
            if exporter_class is None:
                raise ValueError(f"no {signal} exporter named {name!r} is installed")
            exporters.append(exporter_class.load()())
    return exporters
