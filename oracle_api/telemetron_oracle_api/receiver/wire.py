"""Parsing what the strict protobuf parser refuses, one part at a time, on the wire.

protobuf has no public API to parse "all of this message that is valid"; this walks the wire
format (tag, varint, length-delimited) just deep enough to parse each part on its own, so that a
string that is not valid UTF-8 or a value nested past protobuf's recursion limit costs only the
attribute (or event, link, data point) holding it.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLogRecord
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

MAX_NESTING = 32  # array/kvlist levels kept in one value; protobuf's parser gives up near 47
NOT_UTF8 = "a string is not valid UTF-8"
TOO_DEEP = f"value nested deeper than {MAX_NESTING} levels"

# A part left out of a record: (what, reason, key or name); decode reports it with the record's example.
Part = tuple[str, str, str]


class MalformedRequest(ValueError):
    """The request bytes are not an OTLP export request at all."""


_ATTRIBUTE = (KeyValue, "attribute")
_EXEMPLAR = (metrics_pb2.Exemplar, "exemplar")
# Per message type: its message fields that are parsed on their own (so one that cannot be read is
# left out alone, named by the unit), and their type. Metric data (gauge, sum, ...) are singular.
_PARTS: dict[type[Message], dict[int, tuple[type[Message], str]]] = {
    PbSpan: {9: _ATTRIBUTE, 11: (PbSpan.Event, "event"), 13: (PbSpan.Link, "link")},
    PbSpan.Event: {3: _ATTRIBUTE},
    PbSpan.Link: {4: _ATTRIBUTE},
    PbResource: {1: _ATTRIBUTE},
    InstrumentationScope: {3: _ATTRIBUTE},
    PbLogRecord: {6: _ATTRIBUTE},
    metrics_pb2.Metric: {
        5: (metrics_pb2.Gauge, "data point"),
        7: (metrics_pb2.Sum, "data point"),
        9: (metrics_pb2.Histogram, "data point"),
        10: (metrics_pb2.ExponentialHistogram, "data point"),
        11: (metrics_pb2.Summary, "data point"),
        12: _ATTRIBUTE,
    },
    metrics_pb2.Gauge: {1: (metrics_pb2.NumberDataPoint, "data point")},
    metrics_pb2.Sum: {1: (metrics_pb2.NumberDataPoint, "data point")},
    metrics_pb2.Histogram: {1: (metrics_pb2.HistogramDataPoint, "data point")},
    metrics_pb2.ExponentialHistogram: {1: (metrics_pb2.ExponentialHistogramDataPoint, "data point")},
    metrics_pb2.Summary: {1: (metrics_pb2.SummaryDataPoint, "data point")},
    metrics_pb2.NumberDataPoint: {7: _ATTRIBUTE, 5: _EXEMPLAR},
    metrics_pb2.HistogramDataPoint: {9: _ATTRIBUTE, 8: _EXEMPLAR},
    metrics_pb2.ExponentialHistogramDataPoint: {1: _ATTRIBUTE, 11: _EXEMPLAR},
    metrics_pb2.SummaryDataPoint: {7: _ATTRIBUTE},
    metrics_pb2.Exemplar: {7: _ATTRIBUTE},
}


def parse_lenient(message_type, payload: bytes):
    """(message, parts left out) of ``payload``; the message is None when even its core is unreadable."""
    try:
        return message_type.FromString(payload), []
    except DecodeError:
        pass
    splittable = _PARTS.get(message_type, {})
    core: list[tuple[int, Any, bytes]] = []  # message fields: the value is their bytes
    elements: list[tuple[int, Any, bytes]] = []
    try:
        for number, value, raw in fields(payload, with_raw=True):
            (elements if number in splittable else core).append((number, value, raw))
        message = message_type.FromString(b"".join(raw for _, _, raw in core))
    except (DecodeError, MalformedRequest):
        return None, []
    parts: list[Part] = []
    for number, value, _ in elements:
        element_type, what = splittable[number]
        field = message_type.DESCRIPTOR.fields_by_number[number]
        if element_type is KeyValue:
            found = parse_key_value(value)
            if isinstance(found, tuple):
                parts.append(found)
                continue
            element, element_parts = found, []
        else:
            element, element_parts = parse_lenient(element_type, value)
            if element is None:
                parts.append((what, NOT_UTF8, ""))
                continue
        if field.is_repeated:
            getattr(message, field.name).append(element)
        else:
            getattr(message, field.name).CopyFrom(element)
        parts.extend(element_parts)
    return message, parts


def parse_key_value(payload: bytes) -> KeyValue | Part:
    """One attribute on the wire: the KeyValue, or why it cannot be kept (the part left out)."""
    try:
        return KeyValue.FromString(payload)
    except DecodeError:
        return ("attribute", TOO_DEEP if _nesting(payload) > MAX_NESTING else NOT_UTF8, _key_of(payload))


def _key_of(kv_payload: bytes) -> str:
    try:
        for number, value in fields(kv_payload):
            if number == 1 and isinstance(value, bytes):
                return value.decode("utf-8", "replace")
    except MalformedRequest:
        pass
    return ""


# AnyValue.array_value = 5 (ArrayValue.values = 1: AnyValue), .kvlist_value = 6 (KeyValueList.values
# = 1: KeyValue, whose .value = 2): where to descend on the wire, and whether that step is a level.
_NEST = {
    ("kv", 2): ("any", 0),
    ("any", 5): ("array", 1),
    ("any", 6): ("kvlist", 1),
    ("array", 1): ("any", 0),
    ("kvlist", 1): ("kv", 0),
}


def _nesting(kv_payload: bytes) -> int:
    """Array/kvlist levels in a KeyValue's value, read from the wire; stops counting past MAX_NESTING."""
    deepest, stack = 0, [(kv_payload, "kv", 0)]
    while stack and deepest <= MAX_NESTING:
        buf, kind, depth = stack.pop()
        deepest = max(deepest, depth)
        try:
            found = list(fields(buf))
        except MalformedRequest:
            continue
        for number, value in found:
            step = _NEST.get((kind, number))
            if step is not None and isinstance(value, bytes):
                stack.append((value, step[0], depth + step[1]))
    return deepest


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


def fields(buf: bytes, with_raw: bool = False):
    """Yield (field number, payload bytes or int) for each top-level field; with_raw adds its bytes on the wire."""
    pos = 0
    while pos < len(buf):
        begin = pos
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        value: int | bytes | None
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise MalformedRequest("length-delimited field runs past the end")
            value = buf[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            value = None
        else:
            raise MalformedRequest(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise MalformedRequest("fixed-width field runs past the end")
        yield (number, value, buf[begin:pos]) if with_raw else (number, value)
