"""OTLP trace export requests serialized straight to protobuf bytes.

Why not the SDK's encoder: it builds a ``KeyValue``/``AnyValue`` message object per attribute and
hashes the Resource (a JSON dump of its attributes) once per span, which costs about as much as
everything else Telemetron does per LLM call (bench/bench_callback_overhead.py). This module writes the same
wire format directly and caches the encoding of repeated keys and (key, value) pairs. It mirrors
``opentelemetry.exporter.otlp.proto.common``'s ``encode_spans`` field for field (same grouping by
resource and scope, same flags, status and skipped fields); ``tests/test_instrumentation_otlp_encoder.py``
proves the bytes parse to the very message the SDK builds.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

_log = logging.getLogger(__name__)

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

# SpanFlags: the SDK always says whether the parent (or link) context is remote.
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200
_FLAGS_LOCAL = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE)  # Span.flags (field 16, fixed32)
_FLAGS_REMOTE = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE | _IS_REMOTE)

# Span.kind (field 6): SpanKind.INTERNAL (0) is SPAN_KIND_INTERNAL (1), and so on.
_KIND_FIELDS = {kind.value: bytes((0x30, kind.value + 1)) for kind in SpanKind}

_CACHE_LIMIT = 4096
_CACHED_STR_MAX = 256
_key_cache: dict[str, bytes] = {}  # key -> KeyValue.key field
# attributes field tag -> {(key, type, value): that KeyValue field}, for str, bool and int values
_kv_cache: dict[int, dict[tuple, bytes]] = {}


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field; ``tag`` is the whole first byte (field number << 3 | 2)."""
    n = len(payload)
    return bytes((tag, n)) + payload if n < 0x80 else bytes((tag,)) + _varint(n) + payload


def _string(tag: int, text: str | None) -> bytes:
    return _field(tag, text.encode("utf-8")) if text else b""


def _any_value(value: Any) -> bytes:
    """The fields of an AnyValue, checked in the SDK's order (bool before int, str before Sequence)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(0x0A, value.encode("utf-8"))
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{value} does not fit an int64")
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return _field(0x3A, value)
    if isinstance(value, Sequence):
        return _field(0x2A, b"".join(_field(0x0A, _any_value(v)) for v in value))
    if isinstance(value, Mapping):
        return _field(0x32, b"".join(_field(0x0A, _key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _key_field(key: str) -> bytes:
    key_field = _key_cache.get(key)
    if key_field is None:
        key_field = _field(0x0A, key.encode("utf-8"))
        if len(_key_cache) < _CACHE_LIMIT:
            _key_cache[key] = key_field
    return key_field


def _key_value(key: str, value: Any) -> bytes:
    return _key_field(key) + _field(0x12, _any_value(value))


def _attributes(tag: int, attributes: Mapping | None) -> bytes:
    """Each attribute as a KeyValue field numbered by ``tag``; one that cannot be encoded is logged and skipped."""
    if not attributes:
        return b""
    out = []
    cache = _kv_cache.get(tag)
    if cache is None:
        cache = _kv_cache[tag] = {}
    for key, value in attributes.items():
        cls = value.__class__
        # Scalars repeat (model, provider, server, often counts too): each (key, value) is encoded once.
        # Not -0.0 == 0.0 (different bytes), nor long texts such as captured messages.
        cacheable = (
            cls is int or cls is bool or (cls is str and len(value) <= _CACHED_STR_MAX) or (cls is float and value != 0)
        )
        if cacheable:
            encoded = cache.get((key, cls, value))
            if encoded is not None:
                out.append(encoded)
                continue
        try:
            if cls is int and 0 <= value <= _INT64_MAX:  # AnyValue.int_value (field 3), in line
                number = _varint(value)
                encoded = _field(tag, _key_field(key) + bytes((0x12, len(number) + 1, 0x18)) + number)
            else:
                encoded = _field(tag, _key_value(key, value))
        except Exception as error:  # the SDK's encoder drops the attribute and logs, so do we
            _log.exception("Failed to encode key %s: %s", key, error)
            continue
        if cacheable:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[(key, cls, value)] = encoded
        out.append(encoded)
    return b"".join(out)


def _span_flags(context: Any) -> bytes:
    return _FLAGS_REMOTE if context is not None and context.is_remote else _FLAGS_LOCAL


_UNSET_STATUS = b"\x7a\x00"  # Span.status present and empty, as the SDK's encoder leaves it


def _status(status: Any) -> bytes:
    if status is None:
        return b""
    if status.status_code is StatusCode.UNSET and not status.description:
        return _UNSET_STATUS
    code = status.status_code.value
    return _field(0x7A, _string(0x12, status.description) + (b"\x18" + _varint(code) if code else b""))


def _trace_state(trace_state: Any) -> bytes:
    if trace_state is None:
        return b""
    return _string(0x1A, ",".join(f"{key}={value}" for key, value in trace_state.items()))


def _events(events: Sequence[Any]) -> bytes:
    out = []
    for event in events:
        body = (
            (b"\x09" + _pack_fixed64(event.timestamp) if event.timestamp else b"")
            + _string(0x12, event.name)
            + _attributes(0x1A, event.attributes)
            + (b"\x20" + _varint(event.dropped_attributes) if event.dropped_attributes else b"")
        )
        out.append(_field(0x5A, body))
    return b"".join(out)


def _links(links: Sequence[Any]) -> bytes:
    out = []
    for link in links:
        context = link.context
        body = (
            b"\x0a\x10"
            + context.trace_id.to_bytes(16, "big")
            + b"\x12\x08"
            + context.span_id.to_bytes(8, "big")
            + _attributes(0x22, link.attributes)
            + (b"\x28" + _varint(link.dropped_attributes) if link.dropped_attributes else b"")
            + b"\x35"
            + _span_flags(context)[2:]  # Link.flags is field 6, not 16
        )
        out.append(_field(0x6A, body))
    return b"".join(out)


def _plain_attributes(span: ReadableSpan) -> Mapping | None:
    """The span's attributes as a plain dict when the SDK keeps one (its public view iterates in Python)."""
    bounded = getattr(span, "_attributes", None)
    inner = getattr(bounded, "_dict", None)
    return inner if type(inner) is dict else span.attributes


def encode_span(span: ReadableSpan) -> bytes:
    """One Span message (without its field tag)."""
    context = span.context
    parent = span.parent
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
    ]
    if context.trace_state:
        parts.append(_trace_state(context.trace_state))
    if parent is not None:
        parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
    parts.append(_string(0x2A, span.name))
    parts.append(_KIND_FIELDS[span.kind._value_])  # an Enum's plain value attribute: .value is a slow descriptor
    if span.start_time:
        parts += (b"\x39", _pack_fixed64(span.start_time))
    if span.end_time:
        parts += (b"\x41", _pack_fixed64(span.end_time))
    parts.append(_attributes(0x4A, _plain_attributes(span)))
    if span.dropped_attributes:
        parts += (b"\x50", _varint(span.dropped_attributes))
    events = span.events
    if events:
        parts.append(_events(events))
    if span.dropped_events:
        parts += (b"\x60", _varint(span.dropped_events))
    links = span.links
    if links:
        parts.append(_links(links))
    if span.dropped_links:
        parts += (b"\x70", _varint(span.dropped_links))
    parts.append(_status(span.status))
    parts.append(_span_flags(parent))
    return b"".join(parts)


def _scope(scope: Any) -> bytes:
    if scope is None:
        return b""
    return _string(0x0A, scope.name) + _string(0x12, scope.version) + _attributes(0x1A, scope.attributes)


_resource_cache: dict[int, tuple[Any, bytes]] = {}  # id(resource) -> (resource, its Resource message)


def _resource(resource: Any) -> bytes:
    cached = _resource_cache.get(id(resource))
    if cached is None or cached[0] is not resource:  # Resources are immutable: encode each once
        if len(_resource_cache) >= 64:
            _resource_cache.clear()
        cached = _resource_cache[id(resource)] = (resource, _attributes(0x0A, resource.attributes))
    return cached[1]


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """A serialized ExportTraceServiceRequest, spans grouped by resource then scope as the SDK does."""
    # Group by resource and scope equality, as the SDK's dicts do, but hash each object once per
    # export (a Resource's hash is a JSON dump of its attributes): later spans go by id().
    canonical: dict[int, Any] = {}  # id(object) -> the first equal object seen
    by_value: dict[Any, Any] = {}
    groups: dict[int, tuple[Any, dict[int, tuple[Any, list[bytes]]]]] = {}
    for span in spans:
        resource = span.resource
        resource_key = canonical.get(id(resource))
        if resource_key is None:
            resource_key = canonical[id(resource)] = by_value.setdefault(resource, resource)
        scope = span.instrumentation_scope or None
        scope_key = canonical.get(id(scope), _MISSING)
        if scope_key is _MISSING:
            scope_key = canonical[id(scope)] = None if scope is None else by_value.setdefault(scope, scope)
        group = groups.get(id(resource_key))
        if group is None:
            group = groups[id(resource_key)] = (resource_key, {})
        scoped = group[1].get(id(scope_key))
        if scoped is None:
            scoped = group[1][id(scope_key)] = (scope_key, [])
        scoped[1].append(_field(0x12, encode_span(span)))
    out = []
    for resource, scopes in groups.values():
        body = [_field(0x0A, _resource(resource))]
        for scope, encoded in scopes.values():
            schema_url = scope.schema_url if scope is not None else None
            body.append(_field(0x12, _field(0x0A, _scope(scope)) + b"".join(encoded) + _string(0x1A, schema_url)))
        body.append(_string(0x1A, resource.schema_url))
        out.append(_field(0x0A, b"".join(body)))
    return b"".join(out)


_MISSING = object()
