"""Jaeger's query endpoints as the Jaeger UI and Grafana's Jaeger data source call them.

Data goes in as OTLP through the real receiver; the searches below are the calls those clients
make (times in microseconds, durations like "1.2s", tags as JSON or logfmt) and api_v3's.
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
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from otlp_builders import TRACE_EXPORT, kv

NOW = time.time_ns()
T0 = NOW - 600 * 10**9  # ten minutes ago
OLD = NOW - 5 * 24 * 3600 * 10**9  # five days ago: outside Jaeger's default two-day lookback
MS = 1_000_000


def tid(n: int) -> str:
    return f"{n:032x}"


def span(
    trace: int,
    n: int,
    parent: int | None,
    name: str,
    start: int,
    ms: float,
    kind=Span.SPAN_KIND_SERVER,
    error: bool = False,
    **attrs,
) -> Span:
    out = Span(
        trace_id=bytes.fromhex(tid(trace)),
        span_id=(trace * 1000 + n).to_bytes(8, "big"),
        parent_span_id=(trace * 1000 + parent).to_bytes(8, "big") if parent is not None else b"",
        name=name,
        kind=kind,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(ms * MS),
        attributes=[kv(k.replace("_", "."), v) for k, v in attrs.items()],
    )
    if error:
        out.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="failed"))
    return out


def resource(service: str, spans: list[Span], **attrs) -> ResourceSpans:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    rs.resource.attributes.extend([kv("service.name", service), *(kv(k, v) for k, v in attrs.items())])
    return rs


def scenario() -> ExportTraceServiceRequest:
    """Traces 1-3 recent, trace 4 five days old; frontend calls backend in traces 1 and 2."""
    return ExportTraceServiceRequest(
        resource_spans=[
            resource(
                "frontend",
                [
                    span(1, 0, None, "GET /checkout", T0, 120, http_route="/checkout", customer_tier="gold"),
                    span(2, 0, None, "GET /checkout", T0 + 10 * MS, 2500, error=True, customer_tier="silver"),
                    span(3, 0, None, "GET /health", T0 + 20 * MS, 1),
                    span(4, 0, None, "GET /checkout", OLD, 100, customer_tier="gold"),
                ],
                region="eu-west",
            ),
            resource(
                "backend",
                [
                    span(1, 1, 0, "SELECT orders", T0 + 5 * MS, 40, kind=Span.SPAN_KIND_CLIENT, db_rows=3),
                    span(
                        2, 1, 0, "SELECT orders", T0 + 15 * MS, 2000, kind=Span.SPAN_KIND_CLIENT, db_rows=0, retry=True
                    ),
                    span(2, 2, 0, "charge", T0 + 16 * MS, 10, kind=Span.SPAN_KIND_INTERNAL, amount=9.5),
                ],
            ),
        ]
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory, module_store_url):
    from oracle_fixtures import start_oracle

    running = start_oracle(tmp_path_factory.mktemp("jaeger-api") / "t.db", store_url=module_store_url)
    channel = grpc.insecure_channel(running.grpc_endpoint)
    export = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
    export(scenario().SerializeToString(), timeout=30)
    channel.close()
    client = running.client()
    running.wait_for(lambda: len(client.get("/api/v1/traces").json()["traces"]) == 4)
    yield running
    running.stop()


def search(server, **params) -> list[str]:
    response = server.client().get("/api/traces", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["total"], body["limit"], body["offset"]) == (0, 0, 0)
    return sorted(t["traceID"].rjust(32, "0") for t in body["data"])


def test_services_lists_each_service_once(server):
    assert server.client().get("/api/services").json() == {
        "data": ["backend", "frontend"],
        "total": 2,
        "limit": 0,
        "offset": 0,
        "errors": None,
    }


def test_legacy_operations_of_a_service(server):
    body = server.client().get("/api/services/backend/operations").json()
    assert body["data"] == ["SELECT orders", "charge"]
    assert body["total"] == 2


def test_operations_with_span_kind(server):
    client = server.client()
    assert client.get("/api/operations", params={"service": "backend"}).json()["data"] == [
        {"name": "SELECT orders", "spanKind": "client"},
        {"name": "charge", "spanKind": "internal"},
    ]
    only_client = client.get("/api/operations", params={"service": "backend", "spanKind": "client"}).json()
    assert only_client["data"] == [{"name": "SELECT orders", "spanKind": "client"}]
    missing = client.get("/api/operations")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["msg"] == "parameter 'service' is required"


def test_search_by_service_uses_the_default_two_day_lookback(server):
    assert search(server, service="frontend") == [tid(1), tid(2), tid(3)]
    start_us = (T0 - 60 * 10**9) // 1000
    assert search(server, service="frontend", start=(OLD - 10**9) // 1000, end=start_us) == [tid(4)]


def test_search_by_operation_and_limit(server):
    assert search(server, service="frontend", operation="GET /checkout") == [tid(1), tid(2)]
    assert len(search(server, service="frontend", limit=1)) == 1


def test_search_by_tags_as_json_logfmt_and_tag_params(server):
    assert search(server, service="frontend", tags=json.dumps({"customer.tier": "gold"})) == [tid(1)]
    assert search(server, service="frontend", tags='customer.tier="silver"') == [tid(2)]
    assert search(server, service="backend", tag="db.rows:0") == [tid(2)]  # an int attribute
    assert search(server, service="backend", tags=json.dumps({"retry": "true"})) == [tid(2)]  # a bool
    assert search(server, service="backend", tags=json.dumps({"amount": "9.5"})) == [tid(2)]  # a double
    assert search(server, service="frontend", tags=json.dumps({"region": "eu-west"})) == [tid(1), tid(2), tid(3)]
    assert search(server, service="frontend", tags=json.dumps({"error": "true"})) == [tid(2)]
    assert search(server, service="backend", tags=json.dumps({"span.kind": "internal"})) == [tid(2)]


def test_search_by_duration_strings(server):
    assert search(server, service="backend", minDuration="1.5s") == [tid(2)]
    assert search(server, service="backend", maxDuration="50ms") == [tid(1), tid(2)]  # 40ms select, 10ms charge
    assert search(server, service="frontend", minDuration="100ms", maxDuration="1s") == [tid(1)]
    bad = server.client().get("/api/traces", params={"service": "frontend", "minDuration": "soon"})
    assert bad.status_code == 400
    assert "minDuration" in bad.json()["errors"][0]["msg"]


def test_search_without_service_walks_all_traces(server):
    assert search(server, tags=json.dumps({"customer.tier": "gold"})) == [tid(1)]


def test_search_by_trace_ids_reports_missing_ones(server):
    body = server.client().get("/api/traces", params=[("traceID", tid(1)), ("traceID", tid(99))]).json()
    assert [t["traceID"] for t in body["data"]] == [tid(1)[16:]]  # high half zero: 16 hex digits
    assert body["errors"] == [{"msg": "trace not found", "traceID": tid(99)[16:]}]


def test_dependencies_between_services(server):
    end_ms = NOW // 10**6 + 1000
    body = server.client().get("/api/dependencies", params={"endTs": end_ms, "lookback": 3600 * 1000}).json()
    assert body["data"] == [{"parent": "frontend", "child": "backend", "callCount": 3}]


def rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


WINDOW = {"query.start_time_min": rfc3339(T0 - 60 * 10**9), "query.start_time_max": rfc3339(NOW + 60 * 10**9)}


def test_v3_services_and_operations(server):
    client = server.client()
    assert client.get("/api/v3/services").json() == {"services": ["backend", "frontend"]}
    assert client.get("/api/v3/operations", params={"service": "backend", "spanKind": "internal"}).json() == {
        "operations": [{"name": "charge", "spanKind": "internal"}]
    }


def test_v3_find_traces_with_attributes_and_durations(server):
    client = server.client()
    body = client.get(
        "/api/v3/traces",
        params={
            **WINDOW,
            "query.service_name": "frontend",
            "query.attributes": json.dumps({"customer.tier": "silver"}),
        },
    ).json()
    trace_ids = {
        sp["traceId"] for rs in body["result"]["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]
    }
    assert trace_ids == {tid(2)}
    body = client.get(
        "/api/v3/traces",
        params={**WINDOW, "query.serviceName": "backend", "query.durationMin": "1s", "query.searchDepth": "5"},
    ).json()
    assert {
        sp["traceId"] for rs in body["result"]["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]
    } == {tid(2)}


def test_v3_find_traces_needs_a_time_range_and_reports_no_match_as_404(server):
    client = server.client()
    missing = client.get("/api/v3/traces", params={"query.service_name": "frontend"})
    assert missing.status_code == 400
    assert missing.json()["error"]["httpCode"] == 400
    none = client.get("/api/v3/traces", params={**WINDOW, "query.service_name": "nobody"})
    assert none.status_code == 404
    assert none.json() == {"error": {"httpCode": 404, "message": "No traces found"}}


def test_v3_trace_summaries(server):
    body = server.client().get("/api/v3/trace-summaries", params={**WINDOW, "query.service_name": "backend"}).json()
    by_id = {s["traceId"]: s for s in body["summaries"]}
    assert set(by_id) == {tid(1), tid(2)}
    assert by_id[tid(2)] == {
        "traceId": tid(2),
        "rootServiceName": "frontend",
        "rootOperationName": "GET /checkout",
        "minStartTimeUnixNano": str(T0 + 10 * MS),
        "maxEndTimeUnixNano": str(T0 + 10 * MS + 2500 * MS),
        "spanCount": 3,
        "errorSpanCount": 1,
        "services": [{"name": "backend", "spanCount": 2}, {"name": "frontend", "spanCount": 1, "errorSpanCount": 1}],
    }
