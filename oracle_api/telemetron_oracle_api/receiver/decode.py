"""OTLP protobuf requests to records: the hot path, so plain loops and no per-span allocations beyond the record.

Each span is validated on its own: a bad one is counted and reported, the good ones beside it are
kept. A request that fails to parse because one string field holds invalid UTF-8 is split on the
wire (see ``_split_lenient``) so that only the spans that cannot be parsed are rejected.
"""

from __future__ import annotations

import base64
import hashlib
import math

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from .normalize import promote
from .records import Decoded, LogRecord, MetricPoint, Resource, SpanRecord

_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_UNKNOWN_SERVICE = "unknown_service"


class MalformedRequest(ValueError):
    """The request bytes are not an OTLP export request at all."""


# --- values ---------------------------------------------------------------------------------------


def any_value(value) -> object:
    """An OTLP AnyValue as JSON-ready Python; bytes and non-finite doubles get a tagged form."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        d = value.double_value
        return d if math.isfinite(d) else {"$double": repr(d)}
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return {"$bytes": base64.b64encode(value.bytes_value).decode("ascii")}
    return None


_PLAIN = frozenset(("string_value", "int_value", "bool_value"))


def attributes(kvs) -> dict:
    out = {}
    for kv in kvs:
        value = kv.value
        which = value.WhichOneof("value")
        # Most attributes are plain strings, ints, bools and finite doubles: skip the general path.
        if which in _PLAIN:
            out[kv.key] = getattr(value, which)
        elif which == "double_value" and math.isfinite(d := value.double_value):
            out[kv.key] = d
        else:
            out[kv.key] = any_value(value)
    return out


class ResourceCache:
    """Resources repeat in every request from the same process; decode each distinct one once."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._by_bytes: dict[bytes, Resource] = {}
        self._max = max_entries

    def get(self, resource: PbResource) -> Resource:
        raw = resource.SerializeToString(deterministic=True)
        cached = self._by_bytes.get(raw)
        if cached is not None:
            return cached
        attrs = attributes(resource.attributes)
        service = attrs.get("service.name")
        record = Resource(
            key=hashlib.blake2b(raw, digest_size=12).hexdigest(),
            service_name=str(service) if service else _UNKNOWN_SERVICE,
            attributes=attrs,
        )
        if len(self._by_bytes) >= self._max:
            self._by_bytes.clear()
        self._by_bytes[raw] = record
        return record


# --- traces ---------------------------------------------------------------------------------------


def _span_problem(span) -> str | None:
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return "invalid trace_id (must be 16 bytes, not all zero)"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return "invalid span_id (must be 8 bytes, not all zero)"
    if parent and len(parent) != 8:
        return "invalid parent_span_id (must be empty or 8 bytes)"
    if span.start_time_unix_nano == 0:
        return "missing start_time_unix_nano"
    if span.end_time_unix_nano < span.start_time_unix_nano:
        return "end_time_unix_nano is before start_time_unix_nano"
    return None


def _span_record(span, resource: Resource, scope) -> SpanRecord:
    parent = span.parent_span_id
    record = SpanRecord(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=parent.hex() if parent and parent != _ZERO_SPAN else None,
        name=span.name,
        kind=span.kind,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status_code=span.status.code,
        status_message=span.status.message,
        attributes=attributes(span.attributes),
        events=[
            {
                "time_ns": e.time_unix_nano,
                "name": e.name,
                "attributes": attributes(e.attributes),
                "dropped_attributes_count": e.dropped_attributes_count,
            }
            for e in span.events
        ],
        links=[
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                "trace_state": link.trace_state,
                "attributes": attributes(link.attributes),
                "dropped_attributes_count": link.dropped_attributes_count,
            }
            for link in span.links
        ],
        resource=resource,
        scope_name=scope.name,
        scope_version=scope.version,
        trace_state=span.trace_state,
        flags=span.flags,
        dropped=(
            span.dropped_attributes_count,
            span.dropped_events_count,
            span.dropped_links_count,
        ),
    )
    promote(record)
    return record


def _add_spans(out: Decoded, spans, resource: Resource, scope) -> None:
    problems: dict[str, int] = {}
    for span in spans:
        problem = _span_problem(span)
        if problem is None:
            out.spans.append(_span_record(span, resource, scope))
        else:
            problems[problem] = problems.get(problem, 0) + 1
    for problem, count in problems.items():
        out.reject(count, f"{count} span(s) rejected: {problem}")


def decode_traces(raw: bytes, resources: ResourceCache) -> Decoded:
    out = Decoded()
    try:
        request = ExportTraceServiceRequest.FromString(raw)
    except DecodeError:
        return _decode_traces_lenient(raw, resources)
    for resource_spans in request.resource_spans:
        resource = resources.get(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            _add_spans(out, scope_spans.spans, resource, scope_spans.scope)
    return out


# --- lenient split for requests the strict parser refuses ----------------------------------------
# protobuf has no public API to parse "all the spans that are valid"; this walks the wire format
# (tag, varint, length-delimited) just deep enough to parse each span on its own.


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise MalformedRequest("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    """Yield (field number, payload bytes or int) for each top-level field of a message."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise MalformedRequest("length-delimited field runs past the end")
            yield number, buf[pos : pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise MalformedRequest(f"unsupported wire type {wire}")
    if pos != len(buf):
        raise MalformedRequest("fixed-width field runs past the end")


def _parse_or_empty(message_type, payload: bytes):
    try:
        return message_type.FromString(payload)
    except DecodeError:
        return message_type()


def _decode_traces_lenient(raw: bytes, resources: ResourceCache) -> Decoded:
    out = Decoded()
    # ExportTraceServiceRequest.resource_spans = 1; ResourceSpans.resource = 1, .scope_spans = 2;
    # ScopeSpans.scope = 1, .spans = 2.
    for number, resource_spans in _fields(raw):
        if number != 1:
            continue
        resource_payload, scope_payloads = b"", []
        for rs_number, payload in _fields(resource_spans):
            if rs_number == 1:
                resource_payload = payload
            elif rs_number == 2:
                scope_payloads.append(payload)
        resource = resources.get(_parse_or_empty(PbResource, resource_payload))
        for scope_spans in scope_payloads:
            scope, good, unreadable = InstrumentationScope(), [], 0
            for ss_number, payload in _fields(scope_spans):
                if ss_number == 1:
                    scope = _parse_or_empty(InstrumentationScope, payload)
                elif ss_number == 2:
                    try:
                        good.append(PbSpan.FromString(payload))
                    except DecodeError:
                        unreadable += 1
            _add_spans(out, good, resource, scope)
            if unreadable:
                out.reject(
                    unreadable,
                    f"{unreadable} span(s) rejected: not a valid Span message "
                    "(a string field is not valid UTF-8?)",
                )
    if not out.spans and not out.rejections:
        raise MalformedRequest("no resource_spans could be read")
    return out


# --- metrics --------------------------------------------------------------------------------------


def _number(point) -> float:
    return point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)


def _parse_strict(message_type, raw: bytes):
    try:
        return message_type.FromString(raw)
    except DecodeError as exc:
        raise MalformedRequest(f"not an {message_type.__name__}: {exc}") from exc


def decode_metrics(raw: bytes, resources: ResourceCache) -> Decoded:
    out = Decoded()
    request = _parse_strict(ExportMetricsServiceRequest, raw)
    for resource_metrics in request.resource_metrics:
        resource = resources.get(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope.name
            for metric in scope_metrics.metrics:
                _add_metric(out, metric, resource, scope)
    return out


def _add_metric(out: Decoded, metric, resource: Resource, scope: str) -> None:
    kind = metric.WhichOneof("data")
    if kind is None:
        out.reject(1, f"metric {metric.name!r} rejected: no data")
        return
    body = getattr(metric, kind)
    for point in body.data_points:
        value, data = None, {}
        if kind in ("gauge", "sum"):
            value = _number(point)
            if kind == "sum":
                data = {"monotonic": body.is_monotonic, "temporality": body.aggregation_temporality}
        elif kind == "histogram":
            value = point.sum if point.HasField("sum") else None
            data = {
                "count": point.count,
                "bucket_counts": list(point.bucket_counts),
                "explicit_bounds": list(point.explicit_bounds),
                "temporality": body.aggregation_temporality,
            }
        elif kind == "exponential_histogram":
            value = point.sum if point.HasField("sum") else None
            data = {"count": point.count, "scale": point.scale, "zero_count": point.zero_count}
        elif kind == "summary":
            value = point.sum
            data = {
                "count": point.count,
                "quantiles": {str(q.quantile): q.value for q in point.quantile_values},
            }
        out.metric_points.append(
            MetricPoint(
                resource=resource,
                scope_name=scope,
                name=metric.name,
                unit=metric.unit,
                kind=kind,
                time_ns=point.time_unix_nano,
                start_ns=point.start_time_unix_nano,
                attributes=attributes(point.attributes),
                value=value,
                data=data,
            )
        )


# --- logs -----------------------------------------------------------------------------------------


def decode_logs(raw: bytes, resources: ResourceCache) -> Decoded:
    out = Decoded()
    request = _parse_strict(ExportLogsServiceRequest, raw)
    for resource_logs in request.resource_logs:
        resource = resources.get(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for log in scope_logs.log_records:
                out.logs.append(
                    LogRecord(
                        resource=resource,
                        scope_name=scope,
                        time_ns=log.time_unix_nano,
                        observed_ns=log.observed_time_unix_nano,
                        severity_number=log.severity_number,
                        severity_text=log.severity_text,
                        body=any_value(log.body),
                        attributes=attributes(log.attributes),
                        trace_id=log.trace_id.hex() if len(log.trace_id) == 16 else None,
                        span_id=log.span_id.hex() if len(log.span_id) == 8 else None,
                        event_name=log.event_name,
                    )
                )
    return out
