"""Span attributes read from their bytes (receiver/otlp_view.py, decode.KeyValueCache) decode exactly as
protobuf's own parser and the generated classes decode them, in the same order, with the same parts
left out (an attribute that is not UTF-8 or nests too deep), whatever the layout on the wire.
"""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from otlp_builders import kv
from telemetron_oracle_api.receiver import decode
from telemetron_oracle_api.receiver.wire import MAX_NESTING, NOT_UTF8, TOO_DEEP


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field on the wire."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def request_with(attributes: list[bytes]) -> bytes:
    """An export request of one span whose attributes (field 9) are these KeyValue payloads, as given."""
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="s", start_time_unix_nano=1, end_time_unix_nano=2)
    span_bytes = span.SerializeToString() + b"".join(field(9, a) for a in attributes)
    scope = field(2, span_bytes)
    resource = field(2, scope)
    return field(1, resource)


def decoded_attributes(raw_request: bytes) -> tuple[list[tuple[str, object]], list[tuple[str, str]]]:
    out = decode.decode_traces(raw_request, decode.ResourceCache())
    assert len(out.spans) == 1
    left_out = [(r.what, r.reason) for r in out.rejections]
    return list(out.spans[0].attributes.items()), left_out


def reference(attributes: list[bytes]) -> list[tuple[str, object]]:
    """What the generated classes make of the same attributes (all parseable)."""
    span = Span.FromString(b"".join(field(9, a) for a in attributes))
    parts: list = []
    result = list(decode.attributes(span.attributes, parts).items())
    assert parts == []
    return result


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and bool not equal to int."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.choice(
        ["str", "str", "long", "int", "bigint", "negint", "float", "special", "bool", "bytes", "list", "dict"]
    )
    if kind == "str":
        return "".join(rng.choice("abcé漢🙂 .-_0") for _ in range(rng.randint(0, 40)))
    if kind == "long":
        return "x" * rng.choice([127, 128, 129, 16383, 16384, 20000])
    if kind == "int":
        return rng.randint(0, 300)
    if kind == "bigint":
        return rng.choice([2**31, 2**53 + 1, 2**63 - 1, rng.randint(0, 2**63 - 1)])
    if kind == "negint":
        return rng.choice([-1, -(2**63), rng.randint(-(2**63), -1)])
    if kind == "float":
        return rng.uniform(-1e9, 1e9)
    if kind == "special":
        return rng.choice([math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "bytes":
        return rng.randbytes(rng.randint(0, 20))
    if depth > 2:
        return "leaf"
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}": random_value(rng, depth + 1) for i in range(rng.randint(0, 3))}


@pytest.mark.parametrize("seed", range(40))
def test_random_attributes_decode_as_the_generated_classes_decode_them(seed: int) -> None:
    rng = random.Random(seed)
    keys = [f"key.{i}" for i in range(12)] + ["gen_ai.operation.name", "", "ключ"]
    attributes = [kv(rng.choice(keys), random_value(rng)).SerializeToString() for _ in range(rng.randint(0, 30))]
    # Twice through the same cache: the second time most come from it.
    for _ in range(2):
        got, left_out = decoded_attributes(request_with(attributes))
        expected = reference(attributes)
        assert left_out == []
        assert [k for k, _ in got] == [k for k, _ in expected]
        assert all(same(a, b) for (_, a), (_, b) in zip(got, expected, strict=True)), (got, expected)


# Layouts a protobuf encoder may write that exporters usually do not: each must read as protobuf reads it.
UNUSUAL = {
    "value before key": field(2, AnyValue(string_value="v").SerializeToString()) + field(1, b"k"),
    "key twice (the last wins)": field(1, b"first")
    + field(1, b"k")
    + field(2, AnyValue(int_value=7).SerializeToString()),
    "no value": field(1, b"k"),
    "empty value": field(1, b"k") + field(2, b""),
    "unknown field after": field(1, b"k") + field(2, AnyValue(bool_value=True).SerializeToString()) + field(7, b"x"),
    "over-long varint for the int": field(1, b"k") + field(2, b"\x18\x85\x80\x80\x00"),
    "bool stored as 2": field(1, b"k") + field(2, b"\x10\x02"),
    "int then string in one AnyValue": field(1, b"k") + field(2, b"\x18\x01" + b"\x0a\x01a"),
    "string then int in one AnyValue": field(1, b"k") + field(2, b"\x0a\x01a" + b"\x18\x01"),
    "nan": field(1, b"k") + field(2, b"\x21" + struct.pack("<d", math.nan)),
    "three-byte key length": field(1, b"k" * 20000) + field(2, AnyValue(int_value=1).SerializeToString()),
}


@pytest.mark.parametrize("layout", sorted(UNUSUAL))
def test_unusual_layouts_read_as_protobuf_reads_them(layout: str) -> None:
    attributes = [kv("before", "x").SerializeToString(), UNUSUAL[layout], kv("after", 1).SerializeToString()]
    got, left_out = decoded_attributes(request_with(attributes))
    assert left_out == []
    expected = reference(attributes)
    assert [k for k, _ in got] == [k for k, _ in expected]
    assert all(same(a, b) for (_, a), (_, b) in zip(got, expected, strict=True)), (got, expected)


def nested(levels: int) -> bytes:
    value = AnyValue(string_value="bottom").SerializeToString()
    for _ in range(levels):
        value = field(5, field(1, value))  # AnyValue.array_value = 5, ArrayValue.values = 1
    return field(1, b"deep") + field(2, value)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (field(1, b"bad\xff key") + field(2, AnyValue(int_value=1).SerializeToString()), NOT_UTF8),
        (field(1, b"k") + field(2, field(1, b"bad \xc3\x28 value")), NOT_UTF8),
        (nested(MAX_NESTING + 1), TOO_DEEP),
        (nested(200), TOO_DEEP),
    ],
    ids=["key not UTF-8", "value not UTF-8", "nested just too deep", "nested past protobuf's limit"],
)
def test_an_attribute_that_cannot_be_kept_is_left_out_alone(bad: bytes, reason: str) -> None:
    attributes = [kv("before", "x").SerializeToString(), bad, kv("after", [1, "two"]).SerializeToString()]
    for _ in range(2):  # a refused attribute is never cached as kept
        got, left_out = decoded_attributes(request_with(attributes))
        assert got == [("before", "x"), ("after", [1, "two"])]
        assert left_out == [("attribute", reason)]


def test_a_nesting_within_the_limit_is_kept() -> None:
    attributes = [nested(MAX_NESTING)]
    got, left_out = decoded_attributes(request_with(attributes))
    assert left_out == []
    assert got == reference(attributes)


def test_cached_arrays_are_new_lists_for_each_span() -> None:
    raw = request_with([kv("gen_ai.response.finish_reasons", ["stop"]).SerializeToString()])
    resources = decode.ResourceCache()
    first = decode.decode_traces(raw, resources).spans[0].attributes["gen_ai.response.finish_reasons"]
    second = decode.decode_traces(raw, resources).spans[0].attributes["gen_ai.response.finish_reasons"]
    assert first == second == ["stop"]
    first.append("changed")
    assert second == ["stop"]
    assert decode.decode_traces(raw, resources).spans[0].attributes["gen_ai.response.finish_reasons"] == ["stop"]


def test_the_cache_starts_again_when_full_and_keeps_decoding() -> None:
    cache = decode.KeyValueCache(max_entries=8)
    raws = [kv(f"k{i}", f"v{i}").SerializeToString() for i in range(50)]
    for _ in range(3):
        assert cache.span_attributes(raws, []) == {f"k{i}": f"v{i}" for i in range(50)}
    assert len(cache._entries) <= 8


def test_a_request_with_the_generated_layout_still_goes_through_the_view() -> None:
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            Span(
                                trace_id=b"\x01" * 16,
                                span_id=b"\x02" * 8,
                                name="s",
                                start_time_unix_nano=1,
                                end_time_unix_nano=2,
                                attributes=[kv("a", "x"), kv("b", 2), kv("c", 0.5), kv("d", True), kv("e", b"\x00")],
                            )
                        ]
                    )
                ]
            )
        ]
    )
    got, left_out = decoded_attributes(request.SerializeToString())
    assert left_out == []
    assert got == [("a", "x"), ("b", 2), ("c", 0.5), ("d", True), ("e", {"$bytes": "AA=="})]
