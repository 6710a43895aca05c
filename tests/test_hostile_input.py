"""Hostile input, through every way in: the Collector's gRPC, HTTP/protobuf and HTTP/JSON receivers,
and oracle_api's own receiver directly.

Each row of CASES is one bad item sent in one request beside a good item of the same kind. For every
row and every transport: the good item is stored and queryable within seconds; the bad item is kept
as is, stored without its bad part ("dropped"), or not stored ("rejected"), and a refusal carries
its true reason on /health and in the Oracle's telemetry_rejected issue for the sending service;
oracle_api stays up. Rows the Collector itself refuses say so: the sender gets the error.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import stack
from conftest import OraclePorts
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from otlp_builders import LOGS_EXPORT, METRICS_EXPORT, TRACE_EXPORT, kv

T0 = 1_700_000_000_000_000_000
I64 = 2**63 - 1
U64 = 2**64 - 1
BAD_UTF8 = (b"BAD!", b"\xff\xfe\xfd\xfc")  # same length, so the protobuf framing stays valid
TRANSPORTS = ("direct", "collector-grpc", "collector-http-protobuf", "collector-http-json")
_EXPORT_PATH = {"traces": TRACE_EXPORT, "metrics": METRICS_EXPORT, "logs": LOGS_EXPORT}
_REQUEST: dict[str, Any] = {  # the export request class per signal
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}


def _set(**fields) -> Callable:
    def edit(item) -> None:
        for name, value in fields.items():
            setattr(item, name, value)

    return edit


def _add_attr(key: str, value) -> Callable:
    return lambda item: item.attributes.append(kv(key, value))


def _nested(depth: int) -> Callable:
    def edit(item) -> None:
        current = item.attributes.add(key="deep").value
        for _ in range(depth):
            current = current.array_value.values.add()
        current.string_value = "leaf"

    return edit


def _event_at(time_ns: int) -> Callable:
    return lambda span: span.events.add(time_unix_nano=time_ns, name="event")


def _many_attributes(span) -> None:
    span.attributes.extend(KeyValue(key=f"a{i}", value=AnyValue(int_value=i)) for i in range(10_000))


def _histogram_count(point) -> None:
    point.count = U64


@dataclass(frozen=True)
class Case:
    name: str
    signal: str  # traces | metrics | logs
    edit: Callable  # applied to the bad item (a Span, a NumberDataPoint/HistogramDataPoint, a LogRecord)
    outcome: str  # kept | dropped (stored without the bad part) | rejected (not stored)
    reason: str = ""  # a part of the reason counted on /health and shown in the issue
    on_resource: bool = False  # edit the resource instead of the bad item
    on_scope: bool = False  # edit the spans' instrumentation scope instead of the bad item
    histogram: bool = False
    collector_refuses: str = ""  # the Collector answers the sender with an error saying this; nothing arrives


OUT = "out of range (2^63 or more"
CASES = [
    # name                             signal     edit on the bad item                        outcome     reason
    Case("span start and end 2^63-1", "traces", _set(start_time_unix_nano=I64, end_time_unix_nano=I64), "kept"),
    Case(
        "span start 2^63",
        "traces",
        _set(start_time_unix_nano=I64 + 1, end_time_unix_nano=U64),
        "rejected",
        f"start_time_unix_nano {OUT}",
    ),
    Case("span end 2^63", "traces", _set(end_time_unix_nano=I64 + 1), "rejected", f"end_time_unix_nano {OUT}"),
    Case("span end 2^64-1", "traces", _set(end_time_unix_nano=U64), "rejected", f"end_time_unix_nano {OUT}"),
    Case("span start 0", "traces", _set(start_time_unix_nano=0), "rejected", "missing start_time_unix_nano"),
    Case("end before start", "traces", _set(end_time_unix_nano=T0 - 1), "rejected", "end_time_unix_nano is before"),
    Case("event time 2^64-1", "traces", _event_at(U64), "dropped", f"time_unix_nano {OUT}"),
    Case("event time 0", "traces", _event_at(0), "kept"),
    Case("link with empty ids", "traces", lambda s: s.links.add(), "dropped", "invalid trace_id or span_id"),
    Case("empty trace_id", "traces", _set(trace_id=b""), "rejected", "invalid trace_id"),
    Case("zero span_id", "traces", _set(span_id=bytes(8)), "rejected", "invalid span_id"),
    Case(
        "15-byte trace_id",
        "traces",
        _set(trace_id=bytes(range(1, 16))),
        "rejected",
        "invalid trace_id",
        collector_refuses="length",
    ),
    Case("invalid UTF-8 span attr", "traces", _add_attr("bad", "BAD!"), "dropped", "not valid UTF-8"),
    Case(
        "invalid UTF-8 span name",
        "traces",
        _set(name="BAD!"),
        "rejected",
        "not valid UTF-8 (name, status message or trace_state)",
    ),
    Case(
        "invalid UTF-8 resource attr",
        "traces",
        _add_attr("bad", "BAD!"),
        "dropped",
        "not valid UTF-8",
        on_resource=True,
    ),
    Case("invalid UTF-8 scope attr", "traces", _add_attr("bad", "BAD!"), "dropped", "not valid UTF-8", on_scope=True),
    Case("value nested 33 deep", "traces", _nested(33), "dropped", "nested deeper than 32 levels"),
    Case("scope value nested 33 deep", "traces", _nested(33), "dropped", "nested deeper than 32 levels", on_scope=True),
    Case("value nested 60 deep", "traces", _nested(60), "dropped", "nested deeper than 32 levels"),
    Case(
        "NaN and Inf attributes",
        "traces",
        lambda s: s.attributes.extend([kv("nan", float("nan")), kv("gen_ai.usage.input_tokens", float("inf"))]),
        "kept",
    ),
    Case("1 MB value", "traces", _add_attr("gen_ai.output.messages", "x" * 1024 * 1024), "kept"),
    Case("10,000 attributes", "traces", _many_attributes, "kept"),
    Case("point time 2^63-1", "metrics", _set(time_unix_nano=I64), "kept"),
    Case("point time 2^63", "metrics", _set(time_unix_nano=I64 + 1), "rejected", f"time_unix_nano {OUT}"),
    Case("point start 2^64-1", "metrics", _set(start_time_unix_nano=U64), "rejected", f"start_time_unix_nano {OUT}"),
    Case("point value NaN", "metrics", _set(as_double=float("nan")), "kept"),
    Case("invalid UTF-8 point attr", "metrics", _add_attr("bad", "BAD!"), "dropped", "not valid UTF-8"),
    Case("histogram count 2^64-1", "metrics", _histogram_count, "rejected", f"count {OUT}", histogram=True),
    Case("log time 2^64-1", "logs", _set(time_unix_nano=U64), "rejected", f"time_unix_nano {OUT}"),
    Case(
        "log observed time 2^63",
        "logs",
        _set(observed_time_unix_nano=I64 + 1),
        "rejected",
        f"observed_time_unix_nano {OUT}",
    ),
    Case("log time 0", "logs", _set(time_unix_nano=0), "kept"),
    Case(
        "invalid UTF-8 log body",
        "logs",
        lambda log: log.body.CopyFrom(AnyValue(string_value="BAD!")),
        "rejected",
        "not valid UTF-8 (body",
    ),
    Case("invalid UTF-8 log attr", "logs", _add_attr("bad", "BAD!"), "dropped", "not valid UTF-8"),
]


# --- building one case's request ----------------------------------------------------------------


def _service(case: Case, transport: str) -> str:
    return f"hostile-{transport}-{case.name}".replace(" ", "-")


def _trace_id(service: str) -> bytes:
    return hashlib.blake2b(service.encode(), digest_size=16).digest()


def build(case: Case, service: str):
    """The case's request: a good item and a bad item under one resource named ``service``."""
    request = _REQUEST[case.signal]()
    if case.signal == "traces":
        group = request.resource_spans.add()
        items = group.scope_spans.add().spans
        for n, name in enumerate(("good", "bad")):
            items.add(
                trace_id=_trace_id(service),
                span_id=(n + 1).to_bytes(8, "big"),
                name=name,
                kind=1,
                start_time_unix_nano=T0,
                end_time_unix_nano=T0 + 1_000_000,
            )
    elif case.signal == "metrics":
        group = request.resource_metrics.add()
        metric = group.scope_metrics.add().metrics.add(name="hostile.metric")
        points = metric.histogram.data_points if case.histogram else metric.gauge.data_points
        if case.histogram:
            metric.histogram.aggregation_temporality = 2
        for name in ("good", "bad"):
            point = points.add(time_unix_nano=T0)
            point.attributes.append(kv("item", name))
            if case.histogram:
                point.count, point.sum = 1, 1.0
            else:
                point.as_double = 1.0
        items = points
    else:
        group = request.resource_logs.add()
        items = group.scope_logs.add().log_records
        for name in ("good", "bad"):
            items.add(time_unix_nano=T0, severity_text="INFO").attributes.append(kv("item", name))
    group.resource.attributes.append(kv("service.name", service))
    if case.on_resource:
        case.edit(group.resource)
    elif case.on_scope:
        case.edit(group.scope_spans[0].scope)
    else:
        case.edit(items[1])
    return request


def _otlp_json(request) -> bytes:
    """OTLP/JSON: protobuf's JSON mapping, except that ids are hex strings, not base64."""

    def hex_ids(node):
        if isinstance(node, dict):
            return {
                k: (json_format.base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else hex_ids(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [hex_ids(v) for v in node]
        return node

    return json.dumps(hex_ids(json_format.MessageToDict(request))).encode()


@dataclass
class Sent:
    ok: bool
    detail: str


def send(env: HostileEnv, transport: str, signal: str, request) -> Sent:
    if transport == "collector-http-json":
        body, content_type = _otlp_json(request), "application/json"
    else:
        body, content_type = request.SerializeToString(), "application/x-protobuf"
    body = body.replace(*BAD_UTF8)
    if transport.startswith("collector-http"):
        url = f"{env.collector.config.otlp_http_endpoint}/v1/{signal}"
        response = httpx.post(url, content=body, headers={"Content-Type": content_type}, timeout=30)
        return Sent(response.is_success, f"HTTP {response.status_code} {response.text[:300]}")
    channel = env.direct if transport == "direct" else env.collector_channel
    try:
        channel.unary_unary(_EXPORT_PATH[signal])(body, timeout=30)
    except grpc.RpcError as err:
        return Sent(False, f"{err.code().name}: {err.details()}")
    return Sent(True, "OK")


# --- what arrived ----------------------------------------------------------------------------------


def stored_items(env: HostileEnv, case: Case, service: str) -> dict[str, str]:
    """Each stored item's name ("good", "bad") and the service it is stored under."""
    if case.signal == "traces":
        r = env.http.get(f"/api/v1/traces/{_trace_id(service).hex()}")
        return {s["name"]: s["service_name"] for s in r.json()["spans"]} if r.status_code == 200 else {}
    table = "metric_points" if case.signal == "metrics" else "log_records"
    with sqlite3.connect(f"file:{env.db_path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            f"SELECT json_extract(attributes, '$.item'), service_name FROM {table} WHERE service_name = ?", (service,)
        ).fetchall()
    return dict(rows)


def problems(env: HostileEnv, case: Case, service: str, sent: Sent, issues: dict, health: dict) -> list[str]:
    """What is not yet as the case expects (empty when it is)."""
    if case.collector_refuses and service.startswith("hostile-collector"):
        return (
            [] if not sent.ok and case.collector_refuses in sent.detail else [f"the Collector answered {sent.detail}"]
        )
    if not sent.ok:
        return [f"the export failed: {sent.detail}"]
    items = stored_items(env, case, service)
    found = []
    if items.get("good") != service:
        found.append(f"good item not stored under {service} (stored: {items})")
    if (case.outcome == "rejected") == ("bad" in items):
        found.append(f"bad item {'stored' if 'bad' in items else 'missing'} but the case says {case.outcome}")
    issue = issues.get(service)
    if case.outcome == "kept":
        if issue is not None:
            found.append(f"unexpected rejection: {issue['probable_cause']}")
        return found
    reasons = [] if issue is None else issue["evidence"]["reasons"]
    if not any(case.reason in r["reason"] for r in reasons):
        found.append(f"no telemetry_rejected issue with {case.reason!r} (issue: {issue and issue['probable_cause']})")
    counted = health["receiver"][case.signal]["by_reason"]
    if not any(case.reason in key for key in counted):
        found.append(f"/health counts no {case.reason!r}")
    return found


# --- the environment -------------------------------------------------------------------------------


@dataclass
class HostileEnv:
    oracle: stack.OracleApi
    collector: stack.Collector
    db_path: Path
    http: httpx.Client
    direct: grpc.Channel
    collector_channel: grpc.Channel


@pytest.fixture(scope="module")
def hostile_env(collector: stack.Collector, oracle_ports: OraclePorts, tmp_path_factory) -> Iterator[HostileEnv]:
    """oracle_api (its own process) on the port the session's Collector exports to."""
    db_path = tmp_path_factory.mktemp("hostile") / "telemetron.db"
    oracle = stack.OracleApi(
        stack.OracleApiConfig(
            db_path=db_path,
            http_port=oracle_ports.http,
            grpc_port=oracle_ports.grpc,
            kafka_bootstrap="127.0.0.1:1",
            log_level="warning",
        ),
    )
    oracle.start()
    collector.restart()  # reconnects to the receiver now listening, without its grown backoff
    env = HostileEnv(
        oracle,
        collector,
        db_path,
        httpx.Client(base_url=oracle.config.base_url, timeout=10),
        grpc.insecure_channel(oracle.config.grpc_endpoint, options=[("grpc.max_send_message_length", 64 << 20)]),
        grpc.insecure_channel(
            collector.config.otlp_grpc_endpoint.removeprefix("http://"),
            options=[("grpc.max_send_message_length", 64 << 20)],
        ),
    )
    yield env
    env.direct.close()
    env.collector_channel.close()
    env.http.close()
    oracle.stop()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bad_items_are_refused_precisely_and_the_good_beside_them_is_stored(hostile_env: HostileEnv, transport: str):
    env = hostile_env
    sent = {case.name: send(env, transport, case.signal, build(case, _service(case, transport))) for case in CASES}
    deadline, remaining = time.monotonic() + 30, {}
    while True:
        issues = {
            i["entity"]["name"]: i
            for i in env.http.get(
                "/api/v1/oracle/issues", params={"kind": "telemetry_rejected", "limit": 1000, "budget": 0}
            ).json()["issues"]
        }
        health = env.http.get("/health").json()
        remaining = {
            case.name: found
            for case in CASES
            if (found := problems(env, case, _service(case, transport), sent[case.name], issues, health))
        }
        if not remaining or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert env.oracle.process is not None and env.oracle.process.running, "oracle_api exited"
    assert not remaining, "\n".join(f"{name}: {'; '.join(found)}" for name, found in remaining.items())
