"""OTLP protobuf requests to records: the hot path, so plain loops and no per-span allocations beyond the record.

Each record is validated on its own: a bad one is counted and reported, the good ones beside it
are kept. Every value stored in a SQLite INTEGER column must fit signed 64 bits, so times and
counts of 2^63 or more are refused here, before the write. A request that fails to parse (a
string that is not valid UTF-8, a value nested past protobuf's recursion limit) is split on the
wire (see ``wire.py``) so that only the unreadable attribute, or the unreadable record,
is refused.

What "refused" means, per unit: a span, data point or log record with a bad id or time is not
stored (counted as rejected in the OTLP partial success). An attribute, event or link that cannot
be kept is left out of a record that is otherwise stored (reported in the partial success message
and counted, but the record counts as accepted): an event whose time is out of range is dropped
from its span and the span's ``dropped_events_count`` grows by one.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Iterator

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLogRecord
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from ..model import Decoded, LogRecord, MetricPoint, Resource, SpanRecord
from .normalize import promote
from .otlp_view import SpanView, TraceRequestView
from .wire import MAX_NESTING, NOT_UTF8, TOO_DEEP, MalformedRequest, Part, fields, parse_key_value, parse_lenient

_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_UNKNOWN_SERVICE = "unknown_service"
INT64_MAX = 2**63 - 1


def out_of_range(field_name: str) -> str:
    return f"{field_name} out of range (2^63 or more; stored as signed 64-bit)"


class _TooDeep(ValueError):
    """An AnyValue nests arrays or kvlists deeper than MAX_NESTING."""


# --- values ---------------------------------------------------------------------------------------


def any_value(value, depth: int = 0) -> object:
    """An OTLP AnyValue as JSON-ready Python; bytes and non-finite doubles get a tagged form."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return finite(value.double_value)
    if which == "bool_value":
        return value.bool_value
    if which in ("array_value", "kvlist_value"):
        if depth >= MAX_NESTING:
            raise _TooDeep
        if which == "array_value":
            return [any_value(v, depth + 1) for v in value.array_value.values]
        return {kv.key: any_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return {"$bytes": base64.b64encode(value.bytes_value).decode("ascii")}
    return None


def finite(d: float) -> object:
    """JSON has no NaN or Infinity: those are kept as {"$double": "nan"}."""
    return d if math.isfinite(d) else {"$double": repr(d)}


_PLAIN = frozenset(("string_value", "int_value", "bool_value"))


def attributes(kvs, parts: list[Part]) -> dict:
    """Attributes as a dict; a value nested too deep is left out and noted in ``parts``."""
    out = {}
    for kv in kvs:
        try:
            out[kv.key] = _attribute_value(kv.value)
        except _TooDeep:
            parts.append(("attribute", TOO_DEEP, kv.key))
    return out


def _attribute_value(value) -> object:
    which = value.WhichOneof("value")
    # Most attributes are plain strings, ints, bools and finite doubles: skip the general path.
    if which in _PLAIN:
        return getattr(value, which)
    if which == "double_value" and math.isfinite(d := value.double_value):
        return d
    return any_value(value)


# --- span attributes as bytes (otlp_view.py) -------------------------------------------------------

_SCALARS = (str, int, float, bool)
_UNPACK_DOUBLE = struct.Struct("<d").unpack_from
_INT64_WRAP = 2**64


class KeyValueCache:
    """(key, value) by the attribute's bytes: most of a span's attributes repeat those of earlier spans.

    Only scalar values and arrays of scalars (kept as a tuple, handed out as a new list) are kept,
    and only from short attributes; at ``max_entries`` the cache starts again empty.
    """

    def __init__(self, max_entries: int = 16_384, max_bytes: int = 256) -> None:
        self._entries: dict[bytes, tuple[str, object]] = {}
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    def span_attributes(self, raws, parts: list[Part]) -> dict:
        """The attributes of a SpanView (raw KeyValue bytes) as a dict, as ``attributes`` gives them."""
        out: dict[str, object] = {}
        entries = self._entries
        for raw in raws:
            hit = entries.get(raw)
            if hit is None:
                hit = self._parse(raw, parts)
                if hit is None:
                    continue
            key, value = hit
            out[key] = list(value) if value.__class__ is tuple else value
        return out

    def _parse(self, raw: bytes, parts: list[Part]) -> tuple[str, object] | None:
        found = _canonical_key_value(raw)
        if found is None:
            kv = parse_key_value(raw)
            if isinstance(kv, tuple):
                parts.append(kv)
                return None
            try:
                found = (kv.key, _attribute_value(kv.value))
            except _TooDeep:
                parts.append(("attribute", TOO_DEEP, kv.key))
                return None
        value = found[1]
        if len(raw) <= self._max_bytes:
            if value.__class__ is list:
                if all(v is None or v.__class__ in _SCALARS for v in value):
                    self._keep(raw, (found[0], tuple(value)))
            elif value is None or value.__class__ in _SCALARS:
                self._keep(raw, found)
        return found

    def _keep(self, raw: bytes, entry: tuple[str, object]) -> None:
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[raw] = entry


def _length(raw: bytes, pos: int) -> tuple[int, int]:
    """A length of one or two varint bytes at ``pos`` and the position after it; (-1, pos) otherwise."""
    first = raw[pos]
    if first < 0x80:
        return first, pos + 1
    second = raw[pos + 1]
    if second < 0x80:
        return (first & 0x7F) | (second << 7), pos + 2
    return -1, pos


def _canonical_key_value(raw: bytes) -> tuple[str, object] | None:
    """(key, value) of a KeyValue laid out as exporters write it (the key, then one plain value:
    string, bool, int or finite double; lengths under 16 KiB); None for anything else, which the
    caller gives protobuf's parser (also for text that is not UTF-8, so the same rules refuse it)."""
    end = len(raw)
    try:
        if raw[0] != 0x0A:
            return None
        key_length, pos = _length(raw, 1)
        if key_length < 0 or pos + key_length > end:
            return None
        key = raw[pos : pos + key_length].decode()
        pos += key_length
        if pos == end:
            return key, None  # no value at all
        if raw[pos] != 0x12:
            return None
        value_length, pos = _length(raw, pos + 1)
        if value_length < 0 or pos + value_length != end:
            return None
        if pos == end:
            return key, None  # an empty AnyValue
        tag = raw[pos]
        if tag == 0x0A:  # string_value
            text_length, start = _length(raw, pos + 1)
            if text_length < 0 or start + text_length != end:
                return None
            return key, raw[start:end].decode()
        if tag == 0x18:  # int_value: a varint, two's complement for negatives
            number, shift, pos = 0, 0, pos + 1
            while pos < end and shift < 64:
                byte = raw[pos]
                number |= (byte & 0x7F) << shift
                pos += 1
                shift += 7
                if byte < 0x80:
                    if pos != end or number >= _INT64_WRAP:
                        return None
                    return key, number - _INT64_WRAP if number >= INT64_MAX + 1 else number
            return None
        if tag == 0x21 and pos + 9 == end:  # double_value
            d = _UNPACK_DOUBLE(raw, pos + 1)[0]
            return (key, d) if math.isfinite(d) else None
        if tag == 0x10 and pos + 2 == end and raw[pos + 1] < 2:  # bool_value
            return key, raw[pos + 1] == 1
    except (IndexError, UnicodeDecodeError):
        return None
    return None


_KEY_VALUES = KeyValueCache()


class ResourceCache:
    """Resources repeat in every request from the same process; decode each distinct one once."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._by_bytes: dict[bytes, tuple[Resource, tuple[Part, ...]]] = {}
        self._max = max_entries

    def get(self, resource: PbResource, parts: list[Part]) -> Resource:
        """The decoded resource; what had to be left out of it is appended to ``parts`` on every call."""
        raw = resource.SerializeToString(deterministic=True)
        cached = self._by_bytes.get(raw)
        if cached is not None:
            parts.extend(cached[1])
            return cached[0]
        own: list[Part] = []
        attrs = attributes(resource.attributes, own)
        service = attrs.get("service.name")
        record = Resource(
            key=hashlib.blake2b(raw, digest_size=12).hexdigest(),
            service_name=str(service) if service else _UNKNOWN_SERVICE,
            attributes=attrs,
        )
        if len(self._by_bytes) >= self._max:
            self._by_bytes.clear()
        self._by_bytes[raw] = (record, tuple(own))
        parts.extend(own)
        return record


def _report_parts(out: Decoded, parts: list[Part], example: dict) -> None:
    for what, reason, name in parts:
        out.reject(what, reason, {**example, "key": name} if name else example)


# --- the request's groups, strict or lenient -----------------------------------------------------

# Every export request has the same shape: request.resource_X = 1; ResourceX.resource = 1,
# .scope_X = 2; ScopeX.scope = 1, .items = 2. These name the repeated fields per signal.
_SHAPES: dict[type[Message], tuple[str, str, str]] = {
    ExportTraceServiceRequest: ("resource_spans", "scope_spans", "spans"),
    ExportMetricsServiceRequest: ("resource_metrics", "scope_metrics", "metrics"),
    ExportLogsServiceRequest: ("resource_logs", "scope_logs", "log_records"),
}
_ITEM_TYPE: dict[type[Message], type[Message]] = {
    ExportTraceServiceRequest: PbSpan,
    ExportMetricsServiceRequest: metrics_pb2.Metric,
    ExportLogsServiceRequest: PbLogRecord,
}

# One group: the resource, the scope and its items, each item with the parts the lenient parser
# had to leave out of it; an item the lenient parser could not read at all is a bytes payload.
Group = tuple[Resource, InstrumentationScope, list]


# The type each request is parsed with when it parses whole: traces through the view (otlp_view.py).
_STRICT_TYPE: dict[type[Message], type[Message]] = {ExportTraceServiceRequest: TraceRequestView}


def _groups(raw: bytes, request_type, resources: ResourceCache, out: Decoded) -> Iterator[Group]:
    try:
        request = _STRICT_TYPE.get(request_type, request_type).FromString(raw)
    except DecodeError:
        yield from _groups_lenient(raw, request_type, resources, out)
        return
    resource_field, scope_field, item_field = _SHAPES[request_type]
    for resource_group in getattr(request, resource_field):
        parts: list[Part] = []
        resource = resources.get(resource_group.resource, parts)
        _report_parts(out, parts, {"service": resource.service_name, "in": "resource"})
        for scope_group in getattr(resource_group, scope_field):
            yield resource, scope_group.scope, [(item, ()) for item in getattr(scope_group, item_field)]


def _groups_lenient(raw: bytes, request_type, resources: ResourceCache, out: Decoded) -> Iterator[Group]:
    item_type, found = _ITEM_TYPE[request_type], False
    for number, resource_group in fields(raw):
        if number != 1:
            continue
        resource_payload, scope_payloads = b"", []
        for rg_number, payload in fields(resource_group):
            if rg_number == 1:
                resource_payload = payload
            elif rg_number == 2:
                scope_payloads.append(payload)
        pb_resource, parts = parse_lenient(PbResource, resource_payload)
        if pb_resource is None:
            pb_resource, parts = PbResource(), [("resource", NOT_UTF8 + " (resource left empty)", "")]
        resource = resources.get(pb_resource, parts)
        _report_parts(out, parts, {"service": resource.service_name, "in": "resource"})
        for scope_group in scope_payloads:
            scope, items = InstrumentationScope(), []
            for sg_number, payload in fields(scope_group):
                if sg_number == 1:
                    parsed, scope_parts = parse_lenient(InstrumentationScope, payload)
                    if parsed is None:
                        parsed, scope_parts = scope, [("scope", NOT_UTF8 + " (scope left empty)", "")]
                    scope = parsed
                    _report_parts(out, scope_parts, {"service": resource.service_name, "in": "scope"})
                elif sg_number == 2:
                    item, item_parts = parse_lenient(item_type, payload)
                    items.append((payload if item is None else item, item_parts))
                    found = True
            yield resource, scope, items
    if not found and not out.rejections:
        raise MalformedRequest("no records could be read")


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
    if span.start_time_unix_nano > INT64_MAX:
        return out_of_range("start_time_unix_nano")
    if span.end_time_unix_nano > INT64_MAX:
        return out_of_range("end_time_unix_nano")
    if span.end_time_unix_nano < span.start_time_unix_nano:
        return "end_time_unix_nano is before start_time_unix_nano"
    return None


def _events(span, parts: list[Part]) -> list[dict]:
    events = []
    for e in span.events:
        if e.time_unix_nano > INT64_MAX:
            parts.append(("event", out_of_range("time_unix_nano"), e.name))
            continue
        events.append(
            {
                "time_ns": e.time_unix_nano,
                "name": e.name,
                "attributes": attributes(e.attributes, parts),
                "dropped_attributes_count": e.dropped_attributes_count,
            }
        )
    return events


def _links(span, parts: list[Part]) -> list[dict]:
    links = []
    for link in span.links:
        if len(link.trace_id) != 16 or len(link.span_id) != 8:
            parts.append(("link", "invalid trace_id or span_id (must be 16 and 8 bytes)", ""))
            continue
        links.append(
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                "trace_state": link.trace_state,
                "attributes": attributes(link.attributes, parts),
                "dropped_attributes_count": link.dropped_attributes_count,
            }
        )
    return links


def _span_record(span, resource: Resource, scope, scope_attributes: dict, parts: list[Part]) -> SpanRecord:
    parent = span.parent_span_id
    if span.__class__ is SpanView:
        attrs = _KEY_VALUES.span_attributes(span.attributes, parts)
    else:  # parsed by the lenient path, as a generated Span
        attrs = attributes(span.attributes, parts)
    events = _events(span, parts) if span.events else []
    links = _links(span, parts) if span.links else []
    dropped = (span.dropped_attributes_count, span.dropped_events_count, span.dropped_links_count)
    if parts:
        dropped = (
            dropped[0] + sum(1 for p in parts if p[0] == "attribute"),
            dropped[1] + sum(1 for p in parts if p[0] == "event"),
            dropped[2] + sum(1 for p in parts if p[0] == "link"),
        )
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
        attributes=attrs,
        events=events,
        links=links,
        resource=resource,
        scope_name=scope.name,
        scope_version=scope.version,
        trace_state=span.trace_state,
        flags=span.flags,
        dropped=dropped,
        scope_attributes=scope_attributes,
    )
    promote(record)
    return record


def span_example(trace_id: bytes, span_id: bytes, name: str, resource: Resource) -> dict:
    return {"trace_id": trace_id.hex(), "span_id": span_id.hex(), "name": name, "service": resource.service_name}


def _scope_attributes(out: Decoded, scope, resource: Resource) -> dict:
    """The scope's attributes, decoded once for all its spans; one nested too deep is left out and reported."""
    if not scope.attributes:
        return {}
    parts: list[Part] = []
    decoded = attributes(scope.attributes, parts)
    _report_parts(out, parts, {"service": resource.service_name, "in": "scope"})
    return decoded


def _add_spans(out: Decoded, spans: list, resource: Resource, scope) -> None:
    scope_attributes = _scope_attributes(out, scope, resource)
    for span, lenient_parts in spans:
        if isinstance(span, bytes):
            out.reject("span", NOT_UTF8 + " (name, status message or trace_state)", _unreadable_span(span, resource))
            continue
        problem = _span_problem(span)
        if problem is not None:
            out.reject("span", problem, span_example(span.trace_id, span.span_id, span.name, resource))
            continue
        parts = list(lenient_parts)
        out.spans.append(_span_record(span, resource, scope, scope_attributes, parts))
        if parts:
            _report_parts(out, parts, span_example(span.trace_id, span.span_id, span.name, resource))


def _unreadable_span(payload: bytes, resource: Resource) -> dict:
    """What can be read of a span the parser refused: its ids and name, for the rejection's example."""
    found = {1: b"", 2: b"", 5: b""}
    try:
        for number, value in fields(payload):
            if number in found and isinstance(value, bytes):
                found[number] = value
    except MalformedRequest:
        pass
    return span_example(found[1], found[2], found[5].decode("utf-8", "replace"), resource)


def decode_traces(raw: bytes, resources: ResourceCache) -> Decoded:
    out = Decoded()
    for resource, scope, spans in _groups(raw, ExportTraceServiceRequest, resources, out):
        _add_spans(out, spans, resource, scope)
    return out


# --- metrics --------------------------------------------------------------------------------------


def _number(point) -> float:
    return point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)


def decode_metrics(raw: bytes, resources: ResourceCache) -> Decoded:
    out = Decoded()
    for resource, scope, metrics in _groups(raw, ExportMetricsServiceRequest, resources, out):
        for metric, parts in metrics:
            if isinstance(metric, bytes):
                out.reject(
                    "data point",
                    f"metric not readable: {NOT_UTF8} (name, description or unit)",
                    {"service": resource.service_name},
                )
                continue
            _report_parts(out, parts, {"metric": metric.name, "service": resource.service_name})
            _add_metric(out, metric, resource, scope.name)
    return out


def _point_problem(point, kind: str) -> str | None:
    if point.time_unix_nano > INT64_MAX:
        return out_of_range("time_unix_nano")
    if point.start_time_unix_nano > INT64_MAX:
        return out_of_range("start_time_unix_nano")
    if kind in ("histogram", "exponential_histogram", "summary") and point.count > INT64_MAX:
        return out_of_range("count")
    if kind == "histogram" and any(c > INT64_MAX for c in point.bucket_counts):
        return out_of_range("bucket_counts")
    if kind == "exponential_histogram" and point.zero_count > INT64_MAX:
        return out_of_range("zero_count")
    return None


def _add_metric(out: Decoded, metric, resource: Resource, scope: str) -> None:
    kind = metric.WhichOneof("data")
    example = {"metric": metric.name, "service": resource.service_name}
    if kind is None:
        out.reject("data point", "metric has no data", example)
        return
    body = getattr(metric, kind)
    for point in body.data_points:
        problem = _point_problem(point, kind)
        if problem is not None:
            out.reject("data point", problem, example)
            continue
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
                "explicit_bounds": [finite(b) for b in point.explicit_bounds],
                "temporality": body.aggregation_temporality,
            }
        elif kind == "exponential_histogram":
            value = point.sum if point.HasField("sum") else None
            data = {"count": point.count, "scale": point.scale, "zero_count": point.zero_count}
        elif kind == "summary":
            value = point.sum
            data = {
                "count": point.count,
                "quantiles": {str(q.quantile): finite(q.value) for q in point.quantile_values},
            }
        if value is not None and not math.isfinite(value):
            data["value"], value = finite(value), None  # the REAL column would turn NaN into NULL anyway
        parts: list[Part] = []
        out.metric_points.append(
            MetricPoint(
                resource=resource,
                scope_name=scope,
                name=metric.name,
                unit=metric.unit,
                kind=kind,
                time_ns=point.time_unix_nano,
                start_ns=point.start_time_unix_nano,
                attributes=attributes(point.attributes, parts),
                value=value,
                data=data,
            )
        )
        _report_parts(out, parts, example)


# --- logs -----------------------------------------------------------------------------------------


def _log_problem(log) -> str | None:
    if log.time_unix_nano > INT64_MAX:
        return out_of_range("time_unix_nano")
    if log.observed_time_unix_nano > INT64_MAX:
        return out_of_range("observed_time_unix_nano")
    return None


def decode_logs(raw: bytes, resources: ResourceCache) -> Decoded:
    out = Decoded()
    for resource, scope, logs in _groups(raw, ExportLogsServiceRequest, resources, out):
        for log, lenient_parts in logs:
            example = {"service": resource.service_name}
            if isinstance(log, bytes):
                out.reject("log record", NOT_UTF8 + " (body, severity_text or event_name)", example)
                continue
            example.update(trace_id=log.trace_id.hex(), span_id=log.span_id.hex(), event_name=log.event_name)
            problem = _log_problem(log)
            if problem is not None:
                out.reject("log record", problem, example)
                continue
            parts = list(lenient_parts)
            try:
                body = any_value(log.body)
            except _TooDeep:
                body = None
                parts.append(("log body", TOO_DEEP, ""))
            out.logs.append(
                LogRecord(
                    resource=resource,
                    scope_name=scope.name,
                    # No time (0): its observed time, as the log data model tells a reader to use.
                    time_ns=log.time_unix_nano or log.observed_time_unix_nano,
                    observed_ns=log.observed_time_unix_nano,
                    severity_number=log.severity_number,
                    severity_text=log.severity_text,
                    body=body,
                    attributes=attributes(log.attributes, parts),
                    trace_id=log.trace_id.hex() if len(log.trace_id) == 16 else None,
                    span_id=log.span_id.hex() if len(log.span_id) == 8 else None,
                    event_name=log.event_name,
                )
            )
            _report_parts(out, parts, example)
    return out
