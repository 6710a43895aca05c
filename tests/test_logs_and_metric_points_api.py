"""Log records and metric points sent over OTLP are readable over HTTP, and log records show in their trace.

Everything goes through the real path: the OpenTelemetry SDK's OTLP gRPC exporters into oracle_api's
receiver, the store (each test once on SQLite, once on a real PostgreSQL), and HTTP requests to the
running API.
"""

from __future__ import annotations

import sqlite3
import time

import psycopg
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from oracle_fixtures import start_oracle


@pytest.fixture
def oracle_server(tmp_path, store_url):
    """A fresh oracle_api on SQLite (its own file) or on a fresh PostgreSQL database."""
    running = start_oracle(tmp_path / "telemetron.db", store_url=store_url)
    yield running
    running.stop()


def stored_rows(oracle_server, sql: str, params: tuple) -> list[tuple]:
    """Rows of a query on the server's store, read with the backend's own client (``?`` placeholders)."""
    settings = oracle_server.oracle.settings
    if settings.store_url:
        with psycopg.connect(settings.store_url) as conn:
            return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params).fetchall()]
    with sqlite3.connect(settings.db_path) as conn:
        return conn.execute(sql, params).fetchall()


def logger_of(oracle_server, service: str):
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=oracle_server.grpc_endpoint, insecure=True))
    )
    return provider.get_logger("test-logs")


def logs(client, **params) -> dict:
    response = client.get("/api/v1/logs", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def traced_logs(oracle_server):
    """A trace (agent span, tool span under it) with three log records, and one record of another service."""
    tracer = oracle_server.tracer_provider("log-agents").get_tracer("test")
    logger = logger_of(oracle_server, "log-agents")
    with tracer.start_as_current_span("invoke_agent writer") as agent:
        with tracer.start_as_current_span("execute_tool search") as tool:
            logger.emit(body="Searching for sources", severity_number=SeverityNumber.INFO, severity_text="INFO")
            logger.emit(
                body={"query": "otel", "hits": 3},
                severity_number=SeverityNumber.WARN,
                severity_text="WARN",
                event_name="search.result",
                attributes={"search.engine": "web"},
            )
        logger.emit(body="gave up", severity_number=SeverityNumber.ERROR, severity_text="ERROR")
    logger_of(oracle_server, "other-service").emit(body="noise", severity_number=SeverityNumber.DEBUG)
    trace_id = format(agent.get_span_context().trace_id, "032x")
    client = oracle_server.client()
    oracle_server.wait_for(lambda: client.get(f"/api/v1/traces/{trace_id}").status_code == 200)
    oracle_server.wait_for(lambda: logs(client, service="other-service")["count"] == 1)
    return {
        "trace_id": trace_id,
        "agent_span": format(agent.get_span_context().span_id, "016x"),
        "tool_span": format(tool.get_span_context().span_id, "016x"),
        "client": client,
    }


def test_log_records_are_filtered_by_trace_span_service_severity_and_text(oracle_server, traced_logs):
    client, trace_id = traced_logs["client"], traced_logs["trace_id"]
    of_trace = logs(client, trace_id=trace_id)
    assert [r["body"] for r in of_trace["logs"]] == ["gave up", {"query": "otel", "hits": 3}, "Searching for sources"]
    assert [r["body_type"] for r in of_trace["logs"]] == ["string", "json", "string"]
    warn = of_trace["logs"][1]
    assert (warn["event_name"], warn["attributes"], warn["span_id"]) == (
        "search.result",
        {"search.engine": "web"},
        traced_logs["tool_span"],
    )
    assert logs(client, span_id=traced_logs["tool_span"])["count"] == 2
    assert [r["body"] for r in logs(client, service="other-service")["logs"]] == ["noise"]
    assert {r["severity_text"] for r in logs(client, severity="WARN")["logs"]} == {"WARN", "ERROR"}
    assert [r["body"] for r in logs(client, contains="SEARCHING")["logs"]] == ["Searching for sources"]
    assert logs(client, start="2100-01-01T00:00:00Z")["count"] == 0
    assert logs(client, end="2000-01-01")["count"] == 0


def test_log_pages_follow_the_cursor_without_repeats(oracle_server, traced_logs):
    client = traced_logs["client"]
    seen, cursor = [], None
    while True:
        page = logs(client, limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [(r["time_ns"], r["body"] if isinstance(r["body"], str) else "json") for r in page["logs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 4 and len(set(seen)) == 4
    assert [t for t, _ in seen] == sorted((t for t, _ in seen), reverse=True)


def test_bad_log_parameters_answer_400_naming_the_parameter(oracle_server):
    client = oracle_server.client()
    for params, name in (
        ({"severity": "loud"}, "severity"),
        ({"cursor": "abc"}, "cursor"),
        ({"span_id": "xyz"}, "span_id"),
        ({"trace_id": "not-hex"}, "trace_id"),
        ({"start": "yesterday"}, "start"),
        ({"limit": "0"}, "limit"),
    ):
        response = client.get("/api/v1/logs", params=params)
        assert response.status_code == 400, (params, response.text)
        assert name in response.json()["detail"]


def test_string_bodies_are_stored_as_plain_text(oracle_server, traced_logs):
    rows = stored_rows(
        oracle_server,
        "SELECT body, body_type FROM log_records WHERE trace_id = ? ORDER BY time_ns",
        (traced_logs["trace_id"],),
    )
    assert rows == [("Searching for sources", "string"), ('{"query":"otel","hits":3}', "json"), ("gave up", "string")]


def test_trace_views_show_each_spans_log_records(oracle_server, traced_logs):
    client, trace_id = traced_logs["client"], traced_logs["trace_id"]
    trace = client.get(f"/api/v1/traces/{trace_id}").json()
    spans = {s["span_id"]: s for s in trace["spans"]}
    assert [r["body"] for r in spans[traced_logs["tool_span"]]["logs"]] == [
        "Searching for sources",
        {"query": "otel", "hits": 3},
    ]
    assert [r["body"] for r in spans[traced_logs["agent_span"]]["logs"]] == ["gave up"]
    assert trace["log_count"] == 3 and trace["logs_without_span"] == []

    jaeger = client.get(f"/api/traces/{trace_id}").json()["data"][0]
    tool = next(s for s in jaeger["spans"] if s["spanID"] == traced_logs["tool_span"])
    fields = [{f["key"]: f["value"] for f in log["fields"]} for log in tool["logs"]]
    assert fields[0] == {
        "event": "log",
        "message": "Searching for sources",
        "level": "INFO",
        "otel.log.severity_number": 9,
    }
    assert fields[1]["message"] == '{"query":"otel","hits":3}' and fields[1]["search.engine"] == "web"

    # A record arriving after the trace was viewed shows in the next view (the rendering is not kept stale).
    logger_of(oracle_server, "log-agents").emit(body="late", context=_context_of(trace_id, traced_logs["agent_span"]))
    oracle_server.wait_for(
        lambda: any(
            r["body"] == "late" for s in client.get(f"/api/v1/traces/{trace_id}").json()["spans"] for r in s["logs"]
        )
    )
    oracle_server.wait_for(
        lambda: any(
            f["value"] == "late"
            for s in client.get(f"/api/traces/{trace_id}").json()["data"][0]["spans"]
            for log in s["logs"]
            for f in log["fields"]
        )
    )


def _context_of(trace_id: str, span_id: str):
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    span_context = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(1))
    return trace.set_span_in_context(NonRecordingSpan(span_context))


def test_metric_points_are_filtered_by_name_service_and_time_and_paged(oracle_server):
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=oracle_server.grpc_endpoint, insecure=True), export_interval_millis=3_600_000
    )
    provider = MeterProvider(resource=Resource.create({"service.name": "metric-agents"}), metric_readers=[reader])
    counter = provider.get_meter("test").create_counter("jobs.done", unit="1")
    counter.add(3, {"queue": "a"})
    counter.add(5, {"queue": "b"})
    provider.force_flush()
    client = oracle_server.client()

    def points(**params) -> dict:
        response = client.get("/api/v1/metric-points", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    found = oracle_server.wait_for(lambda: (p := points(name="jobs.done", service="metric-agents"))["count"] == 2 and p)
    assert {(p["attributes"]["queue"], p["value"], p["kind"]) for p in found["points"]} == {
        ("a", 3.0, "sum"),
        ("b", 5.0, "sum"),
    }
    first = points(name="jobs.done", limit=1)
    second = points(name="jobs.done", limit=1, cursor=first["next_cursor"])
    assert first["points"][0]["attributes"] != second["points"][0]["attributes"] and second["next_cursor"] is None
    assert points(name="jobs.done", service="someone-else")["count"] == 0
    assert points(name="jobs.done", start="2100-01-01")["count"] == 0
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    assert points(name="jobs.done", end=now)["count"] == 2
    bad = client.get("/api/v1/metric-points", params={"cursor": "1.2.3"})
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]
    provider.shutdown()


_OLD_ROW = (
    "INSERT INTO log_records (resource_key, service_name, scope_name, time_ns, observed_ns, severity_number,"
    " severity_text, body, attributes, trace_id, span_id, event_name)"
    " VALUES ('r', 'old-service', 's', 5, 5, 9, 'INFO', '\"quoted before\"', '{}', NULL, NULL, '')"
)


def _as_before_body_type(db, store_url: str) -> None:
    """Make the stopped store look like one of the release before: no body_type, every body JSON, no arrival times."""
    if not store_url:
        with sqlite3.connect(db) as conn:
            conn.execute("ALTER TABLE log_records DROP COLUMN body_type")
            conn.execute("ALTER TABLE log_records DROP COLUMN received_ns")  # nor arrival times (retention)
            conn.execute(_OLD_ROW)
        return
    with psycopg.connect(store_url) as conn:  # and no row ids: migration 2 had not run
        conn.execute("ALTER TABLE log_records DROP COLUMN body_type, DROP COLUMN received_ns, DROP COLUMN id")
        conn.execute("ALTER TABLE metric_points DROP COLUMN received_ns, DROP COLUMN id")
        conn.execute("DELETE FROM schema_migrations WHERE version = 2")
        conn.execute(_OLD_ROW)


def test_a_store_made_before_body_type_keeps_its_json_bodies_readable(tmp_path, store_url):
    db = tmp_path / "old.db"
    first = start_oracle(db, store_url=store_url)
    first.stop()
    _as_before_body_type(db, store_url)
    reopened = start_oracle(db, store_url=store_url)
    try:
        logger_of(reopened, "new-service").emit(body="plain now", severity_number=SeverityNumber.INFO)
        found = reopened.wait_for(lambda: (p := logs(reopened.client()))["count"] == 2 and p)
        assert [(r["service_name"], r["body"], r["body_type"]) for r in found["logs"]] == [
            ("new-service", "plain now", "string"),
            ("old-service", "quoted before", "json"),
        ]
        assert found["logs"][1]["received_ns"] > 0  # the old row counts as arrived when the column came
    finally:
        reopened.stop()
