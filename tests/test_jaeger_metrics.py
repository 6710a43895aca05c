"""Jaeger's metrics query API (the Jaeger UI's Monitor tab) computed from spans sent through the real receiver.

The shapes asserted are the ones jaeger-ui's metrics reducer reads: ``name`` (which chart),
``metrics[].labels`` (``service_name``; ``operation`` when grouped), and ``metricPoints[]`` with
``gaugeValue.doubleValue`` and an RFC 3339 ``timestamp``.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from otlp_builders import TRACE_EXPORT, kv

END_MS = (time.time_ns() // 1_000_000 // 1000 - 120) * 1000  # two minutes ago, on a whole second
MS = 1_000_000
WINDOW = {"endTs": END_MS, "lookback": 60_000, "step": 30_000, "ratePer": 60_000}


def span(n: int, name: str, at_ms: int, duration_ms: int, kind=Span.SPAN_KIND_SERVER, error: bool = False) -> Span:
    out = Span(
        trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        name=name,
        kind=kind,
        start_time_unix_nano=at_ms * MS,
        end_time_unix_nano=(at_ms + duration_ms) * MS,
    )
    if error:
        out.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="boom"))
    return out


def resource(service: str, spans: list[Span]) -> ResourceSpans:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    rs.resource.attributes.append(kv("service.name", service))
    return rs


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from oracle_fixtures import start_oracle

    running = start_oracle(tmp_path_factory.mktemp("jaeger-metrics") / "t.db")
    request = ExportTraceServiceRequest(
        resource_spans=[
            resource(
                "api",
                [
                    span(1, "GET /a", END_MS - 50_000, 10),
                    span(2, "GET /a", END_MS - 50_000, 20, error=True),
                    span(3, "GET /b", END_MS - 50_000, 30),
                    span(4, "GET /a", END_MS - 10_000, 40),
                    span(5, "call db", END_MS - 10_000, 5, kind=Span.SPAN_KIND_CLIENT),
                    span(6, "GET /a", END_MS + 10_000, 99),  # after endTs: never counted
                ],
            ),
            resource("worker", [span(7, "job", END_MS - 5_000, 7)]),
        ]
    )
    channel = grpc.insecure_channel(running.grpc_endpoint)
    export = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
    export(request.SerializeToString(), timeout=30)
    channel.close()
    client = running.client()
    running.wait_for(lambda: len(client.get("/api/v1/traces").json()["traces"]) == 7)
    yield running
    running.stop()


def get(server, path: str, **params) -> dict:
    response = server.client().get(path, params={**WINDOW, **params})
    assert response.status_code == 200, response.text
    return response.json()


def points(metric: dict) -> list[tuple[int, float]]:
    """(ms since epoch, value) the way the UI reads them: ``new Date(timestamp)``, ``doubleValue``."""
    return [
        (round(datetime.fromisoformat(p["timestamp"]).timestamp() * 1000), p["gaugeValue"]["doubleValue"])
        for p in metric["metricPoints"]
    ]


def test_call_rate_per_service_is_calls_per_second_over_the_rate_window(server):
    body = get(server, "/api/metrics/calls", service="api", spanKind="server")
    assert (body["name"], body["type"]) == ("service_call_rate", "GAUGE")
    assert body["help"] == "calls/sec, grouped by service"
    [metric] = body["metrics"]
    assert metric["labels"] == [{"name": "service_name", "value": "api"}]  # the UI takes labels[0].value
    assert points(metric) == [(END_MS - 60_000, 0.0), (END_MS - 30_000, 3 / 60), (END_MS, 4 / 60)]


def test_span_kinds_repeat_and_default_to_server(server):
    def total(**params) -> float:
        return points(get(server, "/api/metrics/calls", service="api", **params)["metrics"][0])[-1][1] * 60

    assert total() == 4
    assert total(spanKind="client") == 1
    assert (
        server.client()
        .get(
            "/api/metrics/calls",
            params=[("service", "api"), ("spanKind", "server"), ("spanKind", "client"), *WINDOW.items()],
        )
        .json()["metrics"][0]["metricPoints"][-1]["gaugeValue"]["doubleValue"]
        * 60
        == 5
    )


def test_services_repeat_one_series_each(server):
    response = server.client().get(
        "/api/metrics/calls", params=[("service", "api"), ("service", "worker"), *WINDOW.items()]
    )
    labels = [m["labels"][0]["value"] for m in response.json()["metrics"]]
    assert labels == ["api", "worker"]


def test_error_rate_is_the_fraction_of_calls_in_error_and_absent_without_calls(server):
    body = get(server, "/api/metrics/errors", service="api")
    assert body["name"] == "service_error_rate"
    assert points(body["metrics"][0]) == [(END_MS - 30_000, 1 / 3), (END_MS, 1 / 4)]


def test_latency_quantile_is_in_milliseconds(server):
    body = get(server, "/api/metrics/latencies", service="api", quantile="0.5")
    assert body["name"] == "service_latencies"
    assert body["help"] == "0.50th quantile latency, grouped by service"
    assert points(body["metrics"][0]) == [(END_MS - 30_000, 20.0), (END_MS, 25.0)]
    p95 = points(get(server, "/api/metrics/latencies", service="api", quantile="0.95")["metrics"][0])
    assert p95[-1][1] == pytest.approx(38.5)


def test_grouped_by_operation_labels_each_operation(server):
    body = get(server, "/api/metrics/calls", service="api", groupByOperation="true")
    assert body["name"] == "service_operation_call_rate"
    by_operation = {m["labels"][0]["value"]: m for m in body["metrics"]}
    assert [m["labels"][0]["name"] for m in body["metrics"]] == ["operation", "operation"]
    assert by_operation["GET /a"]["labels"][1] == {"name": "service_name", "value": "api"}
    assert points(by_operation["GET /a"])[-1] == (END_MS, 3 / 60)
    assert points(by_operation["GET /b"])[-1] == (END_MS, 1 / 60)
    latencies = get(server, "/api/metrics/latencies", service="api", groupByOperation="true", quantile="0.95")
    assert latencies["name"] == "service_operation_latencies"
    errors = get(server, "/api/metrics/errors", service="api", groupByOperation="true")
    assert {m["labels"][0]["value"]: points(m)[-1][1] for m in errors["metrics"]} == {"GET /a": 1 / 3, "GET /b": 0.0}


def test_timestamps_are_rfc3339_utc_as_jsonpb_writes_them(server):
    body = get(server, "/api/metrics/calls", service="api")
    for p in body["metrics"][0]["metricPoints"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", p["timestamp"])


def test_an_unknown_service_has_no_series(server):
    assert get(server, "/api/metrics/calls", service="nobody")["metrics"] == []


def test_minstep_is_milliseconds_in_the_envelope(server):
    body = server.client().get("/api/metrics/minstep").json()
    assert body == {"data": 1000, "total": 0, "limit": 0, "offset": 0, "errors": None}


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/metrics/calls", {}, "please provide at least one service name"),
        ("/api/metrics/latencies", {"service": "api"}, "unable to parse param 'quantile'"),
        ("/api/metrics/latencies", {"service": "api", "quantile": "1.5"}, "not between 0 and 1"),
        ("/api/metrics/calls", {"service": "api", "spanKind": "SERVER"}, "unsupported span kind: 'SERVER'"),
        ("/api/metrics/calls", {"service": "api", "step": "x"}, "unable to parse param 'step'"),
        ("/api/metrics/calls", {"service": "api", "step": "1", "lookback": "86400000"}, "maximum resolution"),
        ("/api/metrics/errors", {"service": "api", "groupByOperation": "maybe"}, "'groupByOperation'"),
    ],
)
def test_bad_parameters_get_400_in_jaegers_envelope(server, path, params, message):
    response = server.client().get(path, params=params)
    assert response.status_code == 400
    body = response.json()
    assert (body["data"], body["total"], body["errors"][0]["code"]) == (None, 0, 400)
    assert message in body["errors"][0]["msg"]


def test_unknown_api_paths_answer_jaegers_envelope(server):
    response = server.client().get("/api/no/such/thing")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == 404
    assert response.json()["data"] is None
    assert server.client().get("/not-api").json() == {"detail": "Not Found"}  # outside /api/, FastAPI's as before
    assert server.client().post("/api/metrics/calls").status_code == 405  # a known path keeps its 405
    assert server.client().get("/api/v1/traces/" + "ab" * 16).json() == {"detail": f"trace {'ab' * 16} not found"}


def test_pretty_print_indents_by_four_spaces(server):
    plain = server.client().get("/api/services")
    pretty = server.client().get("/api/services", params={"prettyPrint": "true"})
    assert pretty.json() == plain.json()
    assert pretty.text == json.dumps(plain.json(), indent=4)
    assert server.client().get("/api/services", params={"prettyPrint": "false"}).text == plain.text
