"""Every tag the Jaeger API shows for a span finds that span's trace when searched under the name shown.

A varied trace (every OTLP value type, every span kind, error and OK status with a description,
a trace state, instrumentation scopes with attributes, resource attributes, events and links)
goes in as OTLP through the real receiver beside decoy traces; then each tag ``/api/traces/{id}``
returns, each log field, and each scope attribute api_v3 returns (the UI model does not show
them), is searched the way the Jaeger UI searches it (``tags={"k":"v"}``), and through api_v3's
``query.attributes``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from otlp_builders import TRACE_EXPORT, kv

NOW = time.time_ns()
T0 = NOW - 300 * 10**9
MS = 1_000_000
TRACE = "7a6b" * 8
DECOY = "1c2d" * 8


def make_span(
    trace: str,
    n: int,
    parent: int | None,
    name: str,
    kind: Span.SpanKind.ValueType,
    attributes: dict,
    *,
    status: Status | None = None,
    trace_state: str = "",
    events: list | None = None,
    links: list | None = None,
) -> Span:
    span = Span(
        trace_id=bytes.fromhex(trace),
        span_id=(0x100 + n).to_bytes(8, "big"),
        parent_span_id=(0x100 + parent).to_bytes(8, "big") if parent is not None else b"",
        name=name,
        kind=kind,
        start_time_unix_nano=T0 + n * MS,
        end_time_unix_nano=T0 + (n + 5) * MS,
        trace_state=trace_state,
        attributes=[kv(k, v) for k, v in attributes.items()],
    )
    if status is not None:
        span.status.CopyFrom(status)
    for event_name, event_attributes in events or []:
        event = span.events.add(time_unix_nano=T0 + n * MS + 1000, name=event_name)
        event.attributes.extend(kv(k, v) for k, v in event_attributes.items())
    for link_attributes in links or []:
        link = span.links.add(trace_id=bytes.fromhex(DECOY), span_id=(0x100).to_bytes(8, "big"))
        link.attributes.extend(kv(k, v) for k, v in link_attributes.items())
    return span


def varied_trace(trace: str, flavour: str) -> list[ResourceSpans]:
    """Two services and three scopes; ``flavour`` changes every value so decoys match nothing specific."""
    exception = {
        "exception.type": f"TimeoutError{flavour}",
        "exception.message": f"no answer {flavour}",
        "exception.stacktrace": f'Traceback (most recent call last):\n  File "a.py", line 1\n{flavour}',
    }
    front = ResourceSpans(
        scope_spans=[
            ScopeSpans(
                scope=InstrumentationScope(
                    name=f"shop.http{flavour}",
                    version=f"1.2.{flavour}",
                    attributes=[
                        kv("scope.team", f"cart{flavour}"),
                        kv("scope.shard", 7 + len(flavour)),
                        kv("scope.weight", 0.75 + len(flavour)),
                        kv("scope.beta", not flavour),
                        kv("scope.key", f"k{flavour}".encode()),
                        kv("scope.regions", ["eu", flavour]),
                    ],
                ),
                spans=[
                    make_span(
                        trace,
                        0,
                        None,
                        "GET /cart",
                        Span.SPAN_KIND_SERVER,
                        {
                            "http.route": f"/cart/{flavour}",
                            "http.status_code": 200 + len(flavour),
                            "ratio": 0.25 + len(flavour),
                            "cached": not flavour,
                            "big.number": 2**60 + len(flavour),
                            "tiny": 1e-7 * (1 + len(flavour)),
                            "payload": f"bin{flavour}".encode(),
                            "tags.list": ["a", flavour, 3],
                            "tags.map": {"zeta": flavour, "alpha": [1.5, True]},
                        },
                        status=Status(code=Status.STATUS_CODE_OK),
                        trace_state=f"vendor=v{flavour or 'x'}",
                    ),
                    make_span(
                        trace,
                        1,
                        0,
                        "publish order",
                        Span.SPAN_KIND_PRODUCER,
                        {"messaging.destination.name": f"orders{flavour}"},
                        links=[{"link.reason": f"batch{flavour}"}],
                    ),
                ],
            ),
            ScopeSpans(  # a scope without a version
                scope=InstrumentationScope(name=f"shop.db{flavour}"),
                spans=[make_span(trace, 2, 0, "SELECT cart", Span.SPAN_KIND_CLIENT, {"db.rows": 3 + len(flavour)})],
            ),
        ]
    )
    front.resource.attributes.extend(
        [
            kv("service.name", "shop-front"),
            kv("host.name", f"web-{flavour or 'a'}"),
            kv("host.cores", 8 + len(flavour)),
        ]
    )
    back = ResourceSpans(
        scope_spans=[
            ScopeSpans(  # no scope at all
                spans=[
                    make_span(trace, 3, 1, "consume order", Span.SPAN_KIND_CONSUMER, {"queue.depth": 4 + len(flavour)}),
                    make_span(
                        trace,
                        4,
                        3,
                        "charge card",
                        Span.SPAN_KIND_INTERNAL,
                        {"amount": 9.5 + len(flavour)},
                        status=Status(code=Status.STATUS_CODE_ERROR, message=f"card declined{flavour}"),
                        events=[("exception", exception), ("retry", {"attempt": 2 + len(flavour)})],
                    ),
                    make_span(trace, 5, 3, "unspecified kind", Span.SPAN_KIND_UNSPECIFIED, {"plain": f"p{flavour}"}),
                ],
            )
        ]
    )
    back.resource.attributes.extend([kv("service.name", "shop-back"), kv("deployment.environment", f"prod{flavour}")])
    return [front, back]


@pytest.fixture(scope="module")
def server(tmp_path_factory, module_store_url):
    from oracle_fixtures import start_oracle

    running = start_oracle(tmp_path_factory.mktemp("jaeger-tags") / "t.db", store_url=module_store_url)
    request = ExportTraceServiceRequest(resource_spans=[*varied_trace(TRACE, ""), *varied_trace(DECOY, "9")])
    channel = grpc.insecure_channel(running.grpc_endpoint)
    export = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
    export(request.SerializeToString(), timeout=30)
    channel.close()
    client = running.client()
    running.wait_for(lambda: len(client.get("/api/v1/traces").json()["traces"]) == 2)
    yield running
    running.stop()


def shown(server) -> list[tuple[str, str, str, str]]:
    """(service, where, key, value as the UI types it) of every tag and log field the Jaeger API shows."""
    body = server.client().get(f"/api/traces/{TRACE}").json()
    trace = body["data"][0]
    assert len(trace["spans"]) == 6
    out = []
    for span in trace["spans"]:
        process = trace["processes"][span["processID"]]
        service = process["serviceName"]
        out += [(service, "tag", t["key"], ui_text(t)) for t in span["tags"]]
        out += [(service, "process", t["key"], ui_text(t)) for t in process["tags"]]
        out += [
            (service, "log", f["key"], ui_text(f)) for log in span["logs"] for f in log["fields"] if f["key"] != "event"
        ]
    return out


def scope_shown(server) -> list[tuple[str, str, str, str]]:
    """(service, "scope", key, value as the UI types it) of every scope attribute api_v3 returns."""
    body = server.client().get(f"/api/v3/traces/{TRACE}").json()
    out = []
    for rs in body["result"]["resourceSpans"]:
        service = next(a["value"]["stringValue"] for a in rs["resource"]["attributes"] if a["key"] == "service.name")
        for ss in rs["scopeSpans"]:
            out += [(service, "scope", a["key"], otlp_text(a["value"])) for a in ss["scope"].get("attributes", [])]
    return out


def otlp_text(value: dict) -> str:
    """An OTLP/JSON AnyValue as the text Jaeger compares a tag with (pcommon's AsString)."""
    ((kind, inner),) = value.items()
    if kind == "arrayValue":
        return json.dumps([otlp_text(v) for v in inner.get("values", [])], separators=(",", ":"))
    if kind == "boolValue":
        return "true" if inner else "false"
    return inner if isinstance(inner, str) else json.dumps(inner)


def ui_text(tag: dict) -> str:
    """A tag's value as the Jaeger UI displays it, which is what a user copies into the Tags box."""
    value = tag["value"]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def v1_search(server, service: str, key: str, value: str) -> set[str]:
    response = server.client().get("/api/traces", params={"service": service, "tags": json.dumps({key: value})})
    assert response.status_code == 200, response.text
    return {t["traceID"] for t in response.json()["data"]}


def v3_search(server, service: str, key: str, value: str) -> set[str]:
    def rfc3339(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")

    response = server.client().get(
        "/api/v3/traces",
        params={
            "query.service_name": service,
            "query.attributes": json.dumps({key: value}),
            "query.start_time_min": rfc3339(T0 - 60 * 10**9),
            "query.start_time_max": rfc3339(NOW + 60 * 10**9),
        },
    )
    if response.status_code == 404:
        return set()
    assert response.status_code == 200, response.text
    resource_spans = response.json()["result"]["resourceSpans"]
    return {s["traceId"] for rs in resource_spans for ss in rs["scopeSpans"] for s in ss["spans"]}


def test_the_varied_trace_shows_every_kind_of_tag(server):
    keys = {key for _, _, key, _ in shown(server)}
    assert {
        "otel.scope.name",
        "otel.scope.version",
        "span.kind",
        "otel.status_code",
        "error",
        "otel.status_description",
        "w3c.tracestate",
        "payload",
        "tags.map",
        "host.cores",
        "exception.stacktrace",
    } <= keys


def test_api_v3_shows_the_scope_attributes(server):
    assert {(key, value) for _, _, key, value in scope_shown(server)} == {
        ("scope.team", "cart"),
        ("scope.shard", "7"),
        ("scope.weight", "0.75"),
        ("scope.beta", "true"),
        ("scope.key", "aw=="),
        ("scope.regions", '["eu",""]'),
    }


def test_every_shown_tag_finds_its_trace(server):
    every = shown(server) + scope_shown(server)
    missed = [item for item in every if TRACE not in v1_search(server, item[0], item[2], item[3])]
    assert missed == []


def test_every_shown_tag_finds_its_trace_through_api_v3(server):
    every = shown(server) + scope_shown(server)
    missed = [item for item in every if TRACE not in v3_search(server, item[0], item[2], item[3])]
    assert missed == []


@pytest.mark.parametrize(
    ("service", "key", "value"),
    [
        ("shop-front", "otel.scope.name", "shop.http"),
        ("shop-front", "otel.scope.version", "1.2."),
        ("shop-front", "w3c.tracestate", "vendor=vx"),
        ("shop-front", "payload", "Ymlu"),
        ("shop-front", "tags.map", '{"alpha":[1.5,true],"zeta":""}'),
        ("shop-front", "tags.list", '["a","",3]'),
        ("shop-back", "otel.status_description", "card declined"),
        ("shop-front", "scope.team", "cart"),
        ("shop-front", "scope.shard", "7"),
        ("shop-front", "scope.key", "aw=="),
        ("shop-front", "scope.regions", '["eu",""]'),
    ],
)
def test_a_shown_value_finds_only_the_trace_that_has_it(server, service, key, value):
    assert v1_search(server, service, key, value) == {TRACE}


def test_a_value_the_trace_does_not_show_finds_nothing(server):
    assert v1_search(server, "shop-front", "otel.scope.name", "shop.http.nope") == set()
    assert v1_search(server, "shop-front", "tags.map", '{"zeta":""}') == set()
    assert v1_search(server, "shop-front", "payload", "Ymlx") == set()
