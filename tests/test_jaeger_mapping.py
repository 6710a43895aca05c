"""Jaeger compatibility: OTLP sent through the receiver comes back as Jaeger's JSON, field by field.

The expected documents below are written from Jaeger's UI model (``internal/uimodel``: traceID,
spans, processes, warnings; KeyValue types string/bool/int64/float64/binary; int64 beyond 2^53
as a string; binary as base64), from the Collector-contrib OTLP→Jaeger translator (scope tags
first, then the attributes, then span.kind, otel.status_code, error, otel.status_description,
w3c.tracestate; events as logs led by an "event" field; parent as CHILD_OF, links as
FOLLOWS_FROM unless ``opentracing.ref_type=child_of``; a process per resource; arrays and maps as
JSON strings with sorted keys), from Jaeger's standard adjusters (attributes sorted by key, events
by name), and, for /api/v3, from OTLP/JSON as the Collector's pdata marshals it (ids in hex,
64-bit integers as strings, enums as numbers, zero values left out).
"""

from __future__ import annotations

import time

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from otlp_builders import TRACE_EXPORT, kv

TRACE_ID = "0102030405060708090a0b0c0d0e0f10"
SHORT_TRACE = "0000000000000000" + "0000000000000abc"
T0 = (time.time_ns() // 1_000_000_000 - 600) * 1_000_000_000  # whole seconds, ten minutes ago
US = T0 // 1000


def kvs(pairs: dict) -> list[KeyValue]:
    return [kv(k, v) for k, v in pairs.items()]


def mk_span(trace_hex, span_hex, parent_hex, name, start_ns, end_ns, kind, **extra) -> Span:
    span = Span(
        trace_id=bytes.fromhex(trace_hex),
        span_id=bytes.fromhex(span_hex),
        parent_span_id=bytes.fromhex(parent_hex) if parent_hex else b"",
        name=name,
        kind=kind,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
        trace_state=extra.get("trace_state", ""),
        flags=extra.get("flags", 0),
        attributes=kvs(extra.get("attributes", {})),
    )
    if "status" in extra:
        span.status.CopyFrom(extra["status"])
    for time_ns, event_name, attrs in extra.get("events", []):
        span.events.add(time_unix_nano=time_ns, name=event_name, attributes=kvs(attrs))
    for link_trace, link_span, attrs in extra.get("links", []):
        span.links.add(trace_id=bytes.fromhex(link_trace), span_id=bytes.fromhex(link_span), attributes=kvs(attrs))
    return span


def build_request() -> ExportTraceServiceRequest:
    checkout = ResourceSpans()
    checkout.resource.attributes.extend(kvs({"service.name": "checkout", "host.name": "h1", "process.pid": 4242}))
    lib = ScopeSpans(scope=InstrumentationScope(name="my.lib", version="1.2.3"))
    lib.spans.append(
        mk_span(
            TRACE_ID,
            "1111111111111111",
            None,
            "POST /pay",
            T0,
            T0 + 5_000_000,
            Span.SPAN_KIND_SERVER,
            trace_state="vendor=abc",
            flags=0x301,  # sampled, with the context-is-remote bits set
            attributes={
                "zz.last": "z",
                "s": "text",
                "b": True,
                "i": 42,
                "big": 2**60,
                "d": 2.5,
                "raw": b"\x00\x01\xff",
                "arr": [1, "two", True],
                "map": {"z": 1, "a": "x"},
            },
            status=Status(code=Status.STATUS_CODE_ERROR, message="card declined"),
            events=[
                (T0 + 1_000_000, "exception", {"exception.type": "CardError", "exception.message": "declined"}),
                (T0 + 2_000_000, "cache.miss", {"key": "user:1"}),
                (T0 + 3_000_000, "audit", {"event": "custom", "n": 1}),
            ],
            links=[
                ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "2222222222222222", {"link.kind": "batch"}),
                ("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "3333333333333333", {"opentracing.ref_type": "child_of"}),
            ],
        )
    )
    lib.spans.append(
        mk_span(
            TRACE_ID,
            "4444444444444444",
            "1111111111111111",
            "charge card",
            T0 + 1_000_000,
            T0 + 3_500_000,
            Span.SPAN_KIND_CLIENT,
            status=Status(code=Status.STATUS_CODE_OK),
        )
    )
    checkout.scope_spans.append(lib)
    payments = ResourceSpans()
    payments.resource.attributes.extend(kvs({"service.name": "payments", "deployment.environment": "test"}))
    anonymous = ScopeSpans()
    anonymous.spans.append(
        mk_span(
            TRACE_ID,
            "5555555555555555",
            "4444444444444444",
            "ledger.write",
            T0 + 1_500_000,
            T0 + 2_500_123,
            Span.SPAN_KIND_UNSPECIFIED,
            attributes={"zeta": 1.0, "alpha": -7},
        )
    )
    payments.scope_spans.append(anonymous)
    short = ResourceSpans()
    short.resource.attributes.extend(kvs({"service.name": "legacy"}))
    short.scope_spans.append(
        ScopeSpans(
            spans=[mk_span(SHORT_TRACE, "6666666666666666", None, "old", T0, T0 + 1_000, Span.SPAN_KIND_INTERNAL)]
        )
    )
    return ExportTraceServiceRequest(resource_spans=[checkout, payments, short])


@pytest.fixture(scope="module")
def jaeger_server(tmp_path_factory):
    from oracle_fixtures import start_oracle

    running = start_oracle(tmp_path_factory.mktemp("jaeger") / "t.db")
    channel = grpc.insecure_channel(running.grpc_endpoint)
    export = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
    response = export(build_request().SerializeToString(), timeout=30)
    assert not response.partial_success.rejected_spans
    channel.close()
    client = running.client()
    running.wait_for(
        lambda: (
            client.get(f"/api/v1/traces/{TRACE_ID}").status_code == 200
            and len(client.get(f"/api/v1/traces/{TRACE_ID}").json()["spans"]) == 3
        )
    )
    yield running
    running.stop()


def s(key, v):
    return {"key": key, "type": "string", "value": v}


EXPECTED_SPANS = {
    "1111111111111111": {
        "traceID": TRACE_ID,
        "spanID": "1111111111111111",
        "flags": 1,
        "operationName": "POST /pay",
        "references": [
            {"refType": "FOLLOWS_FROM", "traceID": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "spanID": "2222222222222222"},
            {"refType": "CHILD_OF", "traceID": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "spanID": "3333333333333333"},
        ],
        "startTime": US,
        "duration": 5000,
        "tags": [
            s("otel.scope.name", "my.lib"),
            s("otel.scope.version", "1.2.3"),
            s("arr", '[1,"two",true]'),
            {"key": "b", "type": "bool", "value": True},
            {"key": "big", "type": "int64", "value": str(2**60)},
            {"key": "d", "type": "float64", "value": 2.5},
            {"key": "i", "type": "int64", "value": 42},
            s("map", '{"a":"x","z":1}'),
            {"key": "raw", "type": "binary", "value": "AAH/"},
            s("s", "text"),
            s("zz.last", "z"),
            s("span.kind", "server"),
            s("otel.status_code", "ERROR"),
            {"key": "error", "type": "bool", "value": True},
            s("otel.status_description", "card declined"),
            s("w3c.tracestate", "vendor=abc"),
        ],
        "logs": [
            {
                "timestamp": US + 3000,
                "fields": [
                    {"key": "event", "type": "string", "value": "custom"},
                    {"key": "n", "type": "int64", "value": 1},
                ],
            },
            {"timestamp": US + 2000, "fields": [s("event", "cache.miss"), s("key", "user:1")]},
            {
                "timestamp": US + 1000,
                "fields": [
                    s("event", "exception"),
                    s("exception.message", "declined"),
                    s("exception.type", "CardError"),
                ],
            },
        ],
        "warnings": None,
    },
    "4444444444444444": {
        "traceID": TRACE_ID,
        "spanID": "4444444444444444",
        "operationName": "charge card",
        "references": [{"refType": "CHILD_OF", "traceID": TRACE_ID, "spanID": "1111111111111111"}],
        "startTime": US + 1000,
        "duration": 2500,
        "tags": [
            s("otel.scope.name", "my.lib"),
            s("otel.scope.version", "1.2.3"),
            s("span.kind", "client"),
            s("otel.status_code", "OK"),
        ],
        "logs": [],
        "warnings": None,
    },
    "5555555555555555": {
        "traceID": TRACE_ID,
        "spanID": "5555555555555555",
        "operationName": "ledger.write",
        "references": [{"refType": "CHILD_OF", "traceID": TRACE_ID, "spanID": "4444444444444444"}],
        "startTime": US + 1500,
        "duration": 1000,  # 1,000,123 ns truncated to whole microseconds
        "tags": [{"key": "alpha", "type": "int64", "value": -7}, {"key": "zeta", "type": "float64", "value": 1.0}],
        "logs": [],
        "warnings": None,
    },
}

EXPECTED_PROCESSES = {
    "1111111111111111": {
        "serviceName": "checkout",
        "tags": [s("host.name", "h1"), {"key": "process.pid", "type": "int64", "value": 4242}],
    },
    "4444444444444444": "same as 1111111111111111",
    "5555555555555555": {"serviceName": "payments", "tags": [s("deployment.environment", "test")]},
}


def test_get_trace_matches_jaeger_ui_model_field_by_field(jaeger_server):
    body = jaeger_server.client().get(f"/api/traces/{TRACE_ID}").json()
    assert set(body) == {"data", "total", "limit", "offset", "errors"}
    assert (body["total"], body["limit"], body["offset"], body["errors"]) == (0, 0, 0, None)
    (trace,) = body["data"]
    assert set(trace) == {"traceID", "spans", "processes", "warnings"}
    assert trace["traceID"] == TRACE_ID
    assert trace["warnings"] is None
    spans = {span["spanID"]: span for span in trace["spans"]}
    assert set(spans) == set(EXPECTED_SPANS)
    for span_id, expected in EXPECTED_SPANS.items():
        got = dict(spans[span_id])
        process_id = got.pop("processID")
        assert got == expected, span_id
        assert process_id in trace["processes"]
    pid = {span_id: spans[span_id]["processID"] for span_id in spans}
    assert pid["1111111111111111"] == pid["4444444444444444"]  # one resource, one process
    assert pid["1111111111111111"] != pid["5555555555555555"]
    assert trace["processes"][pid["1111111111111111"]] == EXPECTED_PROCESSES["1111111111111111"]
    assert trace["processes"][pid["5555555555555555"]] == EXPECTED_PROCESSES["5555555555555555"]
    assert sorted(trace["processes"]) == ["p1", "p2"]


def test_raw_trace_keeps_attribute_and_event_order(jaeger_server):
    (trace,) = jaeger_server.client().get(f"/api/traces/{TRACE_ID}?raw=true").json()["data"]
    span = next(sp for sp in trace["spans"] if sp["spanID"] == "1111111111111111")
    keys = [t["key"] for t in span["tags"]]
    assert keys[2:4] == ["zz.last", "s"]  # as sent, after the scope tags
    assert [log["fields"][0]["value"] for log in span["logs"]] == ["exception", "cache.miss", "custom"]


def test_trace_id_with_zero_high_half_is_printed_with_16_hex_digits(jaeger_server):
    client = jaeger_server.client()
    for asked in ("0000000000000abc", SHORT_TRACE, "abc"):
        (trace,) = client.get(f"/api/traces/{asked}").json()["data"]
        assert trace["traceID"] == "0000000000000abc"
        assert trace["spans"][0]["traceID"] == "0000000000000abc"
        assert trace["spans"][0]["tags"] == [s("span.kind", "internal")]
        assert trace["processes"] == {"p1": {"serviceName": "legacy", "tags": []}}


def test_unknown_trace_is_404_with_jaeger_error_envelope(jaeger_server):
    response = jaeger_server.client().get("/api/traces/ffffffffffffffffffffffffffffffff")
    assert response.status_code == 404
    assert response.json() == {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": 404, "msg": "trace not found"}],
    }
    bad = jaeger_server.client().get("/api/traces/not-a-trace-id!")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["code"] == 400


def iv(v):
    return {"intValue": str(v)}


def sv(v):
    return {"stringValue": v}


EXPECTED_V3 = {
    "checkout": {
        "resource": {
            "attributes": [
                {"key": "host.name", "value": sv("h1")},
                {"key": "process.pid", "value": iv(4242)},
                {"key": "service.name", "value": sv("checkout")},
            ]
        },
        "scopeSpans": [
            {
                "scope": {"name": "my.lib", "version": "1.2.3"},
                "spans": [
                    {
                        "traceId": TRACE_ID,
                        "spanId": "1111111111111111",
                        "traceState": "vendor=abc",
                        "flags": 0x301,
                        "name": "POST /pay",
                        "kind": 2,
                        "startTimeUnixNano": str(T0),
                        "endTimeUnixNano": str(T0 + 5_000_000),
                        "attributes": [
                            {
                                "key": "arr",
                                "value": {"arrayValue": {"values": [iv(1), sv("two"), {"boolValue": True}]}},
                            },
                            {"key": "b", "value": {"boolValue": True}},
                            {"key": "big", "value": iv(2**60)},
                            {"key": "d", "value": {"doubleValue": 2.5}},
                            {"key": "i", "value": iv(42)},
                            # Jaeger sorts the top-level keys only; a map value keeps its own order.
                            {
                                "key": "map",
                                "value": {
                                    "kvlistValue": {
                                        "values": [{"key": "z", "value": iv(1)}, {"key": "a", "value": sv("x")}]
                                    }
                                },
                            },
                            {"key": "raw", "value": {"bytesValue": "AAH/"}},
                            {"key": "s", "value": sv("text")},
                            {"key": "zz.last", "value": sv("z")},
                        ],
                        "events": [
                            {
                                "timeUnixNano": str(T0 + 3_000_000),
                                "name": "audit",
                                "attributes": [{"key": "event", "value": sv("custom")}, {"key": "n", "value": iv(1)}],
                            },
                            {
                                "timeUnixNano": str(T0 + 2_000_000),
                                "name": "cache.miss",
                                "attributes": [{"key": "key", "value": sv("user:1")}],
                            },
                            {
                                "timeUnixNano": str(T0 + 1_000_000),
                                "name": "exception",
                                "attributes": [
                                    {"key": "exception.message", "value": sv("declined")},
                                    {"key": "exception.type", "value": sv("CardError")},
                                ],
                            },
                        ],
                        "links": [
                            {
                                "traceId": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                "spanId": "2222222222222222",
                                "attributes": [{"key": "link.kind", "value": sv("batch")}],
                            },
                            {
                                "traceId": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                                "spanId": "3333333333333333",
                                "attributes": [{"key": "opentracing.ref_type", "value": sv("child_of")}],
                            },
                        ],
                        "status": {"message": "card declined", "code": 2},
                    },
                    {
                        "traceId": TRACE_ID,
                        "spanId": "4444444444444444",
                        "parentSpanId": "1111111111111111",
                        "name": "charge card",
                        "kind": 3,
                        "startTimeUnixNano": str(T0 + 1_000_000),
                        "endTimeUnixNano": str(T0 + 3_500_000),
                        "status": {"code": 1},
                    },
                ],
            }
        ],
    },
    "payments": {
        "resource": {
            "attributes": [
                {"key": "deployment.environment", "value": sv("test")},
                {"key": "service.name", "value": sv("payments")},
            ]
        },
        "scopeSpans": [
            {
                "scope": {},
                "spans": [
                    {
                        "traceId": TRACE_ID,
                        "spanId": "5555555555555555",
                        "parentSpanId": "4444444444444444",
                        "name": "ledger.write",
                        "startTimeUnixNano": str(T0 + 1_500_000),
                        "endTimeUnixNano": str(T0 + 2_500_123),
                        "attributes": [
                            {"key": "alpha", "value": iv(-7)},
                            {"key": "zeta", "value": {"doubleValue": 1.0}},
                        ],
                        "status": {},
                    }
                ],
            }
        ],
    },
}


def _by_service(resource_spans: list[dict]) -> dict[str, dict]:
    out = {}
    for rs in resource_spans:
        service = next(a["value"]["stringValue"] for a in rs["resource"]["attributes"] if a["key"] == "service.name")
        for scope in rs["scopeSpans"]:
            scope["spans"].sort(key=lambda sp: sp["spanId"])
        out[service] = rs
    return out


def test_v3_get_trace_is_otlp_json_wrapped_in_result(jaeger_server):
    response = jaeger_server.client().get(f"/api/v3/traces/{TRACE_ID}")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["result"]
    assert list(body["result"]) == ["resourceSpans"]
    assert _by_service(body["result"]["resourceSpans"]) == EXPECTED_V3


def test_v3_unknown_trace_is_404_with_gateway_error(jaeger_server):
    response = jaeger_server.client().get("/api/v3/traces/ffffffffffffffffffffffffffffffff")
    assert response.status_code == 404
    assert response.json() == {"error": {"httpCode": 404, "message": "No traces found"}}
    assert jaeger_server.client().get("/api/v3/traces/xyz!").json()["error"]["httpCode"] == 400


def test_v3_accepts_base64_trace_ids(jaeger_server):
    import base64

    encoded = base64.urlsafe_b64encode(bytes.fromhex(TRACE_ID)).decode().rstrip("=")
    body = jaeger_server.client().get(f"/api/v3/traces/{encoded}").json()
    assert len(_by_service(body["result"]["resourceSpans"])) == 2


def test_values_equal_in_python_keep_their_own_types_within_one_trace(jaeger_server):
    """1, 1.0 and True compare equal in Python; each span and event still shows its own type (per-trace text caches)."""
    trace = "0f" * 16
    values = [1, 1.0, True, [1], [True], "1"]
    spans = [
        mk_span(
            trace,
            f"{n + 1:016x}",
            None,
            "v",
            T0 + n,
            T0 + n + 1000,
            Span.SPAN_KIND_INTERNAL,
            attributes={"v": v},
            events=[(T0 + n, "e", {"v": v})],
        )
        for n, v in enumerate(values)
    ]
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    request.resource_spans[0].resource.attributes.extend(kvs({"service.name": "types"}))
    channel = grpc.insecure_channel(jaeger_server.grpc_endpoint)
    channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)(
        request.SerializeToString(), timeout=30
    )
    channel.close()
    client = jaeger_server.client()
    jaeger_server.wait_for(lambda: client.get(f"/api/traces/{trace}").status_code == 200)
    (ui,) = client.get(f"/api/traces/{trace}").json()["data"]
    expected_tags = [
        {"key": "v", "type": "int64", "value": 1},
        {"key": "v", "type": "float64", "value": 1.0},
        {"key": "v", "type": "bool", "value": True},
        s("v", "[1]"),
        s("v", "[true]"),
        s("v", "1"),
    ]
    ui_spans = sorted(ui["spans"], key=lambda sp: sp["spanID"])
    assert [sp["tags"][0] for sp in ui_spans] == expected_tags
    assert [sp["logs"][0]["fields"] for sp in ui_spans] == [[s("event", "e"), t] for t in expected_tags]
    (rs,) = client.get(f"/api/v3/traces/{trace}").json()["result"]["resourceSpans"]
    expected_values = [
        iv(1),
        {"doubleValue": 1.0},
        {"boolValue": True},
        {"arrayValue": {"values": [iv(1)]}},
        {"arrayValue": {"values": [{"boolValue": True}]}},
        sv("1"),
    ]
    v3_spans = sorted(rs["scopeSpans"][0]["spans"], key=lambda sp: sp["spanId"])
    assert [sp["attributes"][0]["value"] for sp in v3_spans] == expected_values
    assert [sp["events"][0]["attributes"][0]["value"] for sp in v3_spans] == expected_values
