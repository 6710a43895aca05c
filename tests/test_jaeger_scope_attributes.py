"""Searching by instrumentation scope attributes, as Jaeger's storage integration query "Scope Attributes" does.

A trace whose scope carries a string, an int, a double, a bool and a bytes attribute goes in as
OTLP through the real receiver beside a decoy trace of the same service whose scope values differ;
the four typed tags together (and each alone) find the trace through ``/api/traces``, api_v3's
``query.attributes`` and the REST search, and api_v3 returns the scope's attributes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from importlib import resources as package_files

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from oracle_fixtures import start_oracle
from otlp_builders import TRACE_EXPORT, kv
from records import older_spans_table
from telemetron_oracle_api.store import attribute_index

NOW = time.time_ns()
T0 = NOW - 120 * 10**9
SERVICE = "scoped-service"
TRACE = "5c0e" * 8
DECOY = "d3c0" * 8
# The four typed scope attributes of Jaeger's query, as the UI sends them: strings.
SCOPE_TAGS = {
    "scopeattr.text": "samevalue",
    "scopeattr.count": "321",
    "scopeattr.ratio": "17.25",
    "scopeattr.on": "true",
}


def scoped_trace(trace: str, count: int, blob: bytes) -> ResourceSpans:
    """One span under a scope with typed attributes; the span has an attribute of its own too."""
    scope = InstrumentationScope(
        name="scoped-lib",
        version="0.3.1",
        attributes=[
            kv("scopeattr.text", "samevalue"),
            kv("scopeattr.count", count),
            kv("scopeattr.on", True),
            kv("scopeattr.ratio", 17.25),
            kv("scopeattr.blob", blob),
        ],
    )
    span = Span(
        trace_id=bytes.fromhex(trace),
        span_id=bytes.fromhex(trace[:16]),
        name="scoped work",
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 1000,
        attributes=[kv("spanattr.text", "samevalue")],
    )
    group = ResourceSpans(scope_spans=[ScopeSpans(scope=scope, spans=[span])])
    group.resource.attributes.append(kv("service.name", SERVICE))
    return group


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_oracle(tmp_path_factory.mktemp("scope-attrs") / "s.db")
    request = ExportTraceServiceRequest(
        resource_spans=[scoped_trace(TRACE, 321, b"\x00\x00\x30\x39"), scoped_trace(DECOY, 322, b"\x01")]
    )
    channel = grpc.insecure_channel(running.grpc_endpoint)
    export = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
    response = export(request.SerializeToString(), timeout=30)
    channel.close()
    assert not response.HasField("partial_success")
    client = running.client()
    running.wait_for(lambda: len(client.get("/api/v1/traces").json()["traces"]) == 2)
    yield running
    running.stop()


def v1_search(server, tags: dict[str, str], service: str | None = SERVICE) -> set[str]:
    params = {"tags": json.dumps(tags), "start": (T0 - 10**9) // 1000, "end": (NOW + 10**9) // 1000}
    if service:
        params["service"] = service
    response = server.client().get("/api/traces", params=params)
    assert response.status_code == 200, response.text
    return {t["traceID"] for t in response.json()["data"]}


def rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


def v3_search(server, tags: dict[str, str]) -> set[str]:
    response = server.client().get(
        "/api/v3/traces",
        params={
            "query.service_name": SERVICE,
            "query.attributes": json.dumps(tags),
            "query.start_time_min": rfc3339(T0 - 10**9),
            "query.start_time_max": rfc3339(NOW + 10**9),
        },
    )
    if response.status_code == 404:
        return set()
    assert response.status_code == 200, response.text
    resource_spans = response.json()["result"]["resourceSpans"]
    return {s["traceId"] for rs in resource_spans for ss in rs["scopeSpans"] for s in ss["spans"]}


def test_the_four_scope_tags_together_find_the_trace(server):
    assert v1_search(server, SCOPE_TAGS) == {TRACE}


def test_the_four_scope_tags_find_the_trace_without_a_service(server):
    assert v1_search(server, SCOPE_TAGS, service=None) == {TRACE}


def test_the_four_scope_tags_find_the_trace_through_api_v3(server):
    assert v3_search(server, SCOPE_TAGS) == {TRACE}


@pytest.mark.parametrize(
    ("key", "value", "found"),
    [
        ("scopeattr.text", "samevalue", {TRACE, DECOY}),
        ("scopeattr.count", "321", {TRACE}),
        ("scopeattr.count", "322", {DECOY}),
        ("scopeattr.ratio", "17.25", {TRACE, DECOY}),
        ("scopeattr.on", "true", {TRACE, DECOY}),
        ("scopeattr.on", "false", set()),
        ("scopeattr.blob", "AAAwOQ==", {TRACE}),
        ("scopeattr.count", "999", set()),
    ],
)
def test_each_scope_tag_finds_exactly_the_traces_whose_scope_has_it(server, key, value, found):
    assert v1_search(server, {key: value}) == found
    assert v3_search(server, {key: value}) == found


def test_a_scope_tag_and_a_span_tag_match_together(server):
    assert v1_search(server, {"scopeattr.count": "321", "spanattr.text": "samevalue"}) == {TRACE}
    assert v1_search(server, {"scopeattr.count": "321", "spanattr.text": "other"}) == set()


def test_api_v3_returns_the_scope_attributes_with_their_types(server):
    body = server.client().get(f"/api/v3/traces/{TRACE}").json()
    [scope_spans] = body["result"]["resourceSpans"][0]["scopeSpans"]
    assert scope_spans["scope"] == {
        "name": "scoped-lib",
        "version": "0.3.1",
        "attributes": [  # sorted by key, as Jaeger's sort adjuster does
            {"key": "scopeattr.blob", "value": {"bytesValue": "AAAwOQ=="}},
            {"key": "scopeattr.count", "value": {"intValue": "321"}},
            {"key": "scopeattr.on", "value": {"boolValue": True}},
            {"key": "scopeattr.ratio", "value": {"doubleValue": 17.25}},
            {"key": "scopeattr.text", "value": {"stringValue": "samevalue"}},
        ],
    }


def test_the_ui_model_shows_scope_name_and_version_but_not_scope_attributes(server):
    """As the Collector-contrib OTLP→Jaeger translator that Jaeger's query service uses."""
    [trace] = server.client().get(f"/api/traces/{TRACE}").json()["data"]
    keys = [t["key"] for t in trace["spans"][0]["tags"]]
    assert keys == ["otel.scope.name", "otel.scope.version", "spanattr.text"]


def test_the_rest_api_shows_and_searches_scope_attributes(server):
    client = server.client()
    span = client.get(f"/api/v1/traces/{TRACE}").json()["spans"][0]
    assert span["scope"]["attributes"] == {
        "scopeattr.text": "samevalue",
        "scopeattr.count": 321,
        "scopeattr.on": True,
        "scopeattr.ratio": 17.25,
        "scopeattr.blob": {"$bytes": "AAAwOQ=="},
    }
    found = client.get("/api/v1/traces", params={"attributes": json.dumps({"scopeattr.count": 322})}).json()
    assert [t["trace_id"] for t in found["traces"]] == [DECOY]


def previous_schema() -> str:
    """The store as versions before scope attributes made it: their spans table without that column (and without
    source_id, which came later), beside today's other tables."""
    schema = package_files.files("telemetron_oracle_api.store").joinpath("schema.sql").read_text()
    return older_spans_table(later_columns=False) + ";\n" + schema


def test_a_store_made_by_the_previous_schema_opens_and_gets_the_column(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(previous_schema())
        conn.execute("INSERT INTO resources VALUES ('r1', 'old-service', '{\"service.name\":\"old-service\"}')")
        conn.execute(
            "INSERT INTO spans (trace_id, span_id, name, kind, service_name, start_ns, end_ns, duration_ns,"
            " status_code, status_message, attributes, events, links, resource_key, scope_name, scope_version,"
            " trace_state, flags, dropped_counts, received_ns)"
            " VALUES (?, 'aaaaaaaaaaaaaaaa', 'old span', 1, 'old-service', ?, ?, 1000, 0, '', '{\"k\":\"v\"}',"
            " '[]', '[]', 'r1', 'old-lib', '1', '', 1, '[0,0,0]', ?)",
            (TRACE, T0, T0 + 1000, T0),
        )
        conn.execute(
            "INSERT INTO traces (trace_id, start_ns, end_ns, span_count, error_count, root_name, root_service, services)"
            " VALUES (?, ?, ?, 1, 0, 'old span', 'old-service', '[\"old-service\"]')",
            (TRACE, T0, T0 + 1000),
        )
        conn.execute("INSERT INTO attribute_keys VALUES (1, 'k')")
        conn.execute(
            "INSERT INTO attribute_hashes SELECT 1, ?, trace_no FROM traces WHERE trace_id = ?",
            (attribute_index.value_hash("v"), TRACE),
        )
        assert "scope_attributes" not in {r[1] for r in conn.execute("PRAGMA table_info(spans)")}
    conn.close()
    running = start_oracle(path)
    try:
        with sqlite3.connect(path) as conn:
            assert "scope_attributes" in {r[1] for r in conn.execute("PRAGMA table_info(spans)")}
        conn.close()
        client = running.client()
        assert client.get(f"/api/v1/traces/{TRACE}").json()["spans"][0]["scope"]["attributes"] == {}
        assert v1_search(running, {"k": "v"}, service="old-service") == {TRACE}
        request = ExportTraceServiceRequest(resource_spans=[scoped_trace(DECOY, 5, b"\x02")])
        channel = grpc.insecure_channel(running.grpc_endpoint)
        export = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
        export(request.SerializeToString(), timeout=30)
        channel.close()
        assert running.wait_for(lambda: v1_search(running, {"scopeattr.count": "5"})) == {DECOY}
    finally:
        running.stop()
