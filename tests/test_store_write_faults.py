"""When the database refuses a write: a data error rejects only the records at fault (the rest of
the batch is stored and acknowledged), a database error answers UNAVAILABLE so the sender retries."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from oracle_fixtures import start_oracle
from otlp_builders import TRACE_EXPORT
from telemetron_oracle_api.receiver.decode import ResourceCache, decode_traces
from telemetron_oracle_api.store.sqlite import Store
from test_receiver import make_span, request_of

# A real SQLite refusal that decode cannot foresee: a trigger aborting the insert of one span.
_POISON_TRIGGER = """
CREATE TRIGGER refuse_poison BEFORE INSERT ON span_shapes WHEN NEW.name = 'poison'
BEGIN SELECT RAISE(ABORT, 'poison span refused'); END
"""


def span_names(db_path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM spans ORDER BY name")]


def spans_without_resource(db_path) -> int:
    """Spans whose resource (or source) row is missing: a rolled-back batch must not leave either marked written."""
    with sqlite3.connect(db_path) as conn:
        return conn.execute(
            "SELECT count(*) FROM spans s LEFT JOIN span_sources src USING (source_id)"
            " WHERE coalesce(src.resource_key, s.resource_key) NOT IN (SELECT resource_key FROM resources)"
        ).fetchone()[0]


def test_a_record_the_database_cannot_bind_is_rejected_and_the_rest_of_the_request_stored(tmp_path):
    store = Store(tmp_path / "t.db")
    try:
        decoded = decode_traces(request_of(*(make_span(n) for n in range(5))).SerializeToString(), ResourceCache())
        decoded.spans[3].end_ns = 2**64 - 1  # what decode refuses, slipped past it: OverflowError at bind
        store.write(decoded)
        assert span_names(tmp_path / "t.db") == ["span-0", "span-1", "span-2", "span-4"]
        assert spans_without_resource(tmp_path / "t.db") == 0
        assert [s.name for s in decoded.spans] == ["span-0", "span-1", "span-2", "span-4"]
        [rejection] = decoded.rejections
        assert (rejection.what, rejection.count, rejection.example["name"]) == ("span", 1, "span-3")
        assert "OverflowError" in rejection.reason
    finally:
        store.close()


def test_a_refused_span_in_a_batch_of_requests_costs_only_that_span(tmp_path):
    running = start_oracle(tmp_path / "t.db")
    try:
        with sqlite3.connect(tmp_path / "t.db") as conn:
            conn.execute(_POISON_TRIGGER)
        channel = grpc.insecure_channel(running.grpc_endpoint)
        call = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
        requests = [
            request_of(make_span(0, trace=1), make_span(1, trace=1)),
            request_of(make_span(2, trace=2), make_span(3, trace=2, name="poison"), make_span(4, trace=2)),
            request_of(make_span(5, trace=3)),
        ]
        blocker = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # the writer waits, so the three requests form one batch
        with ThreadPoolExecutor(3) as pool:
            answers = [pool.submit(call, r.SerializeToString(), timeout=30) for r in requests]
            running.wait_for(lambda: running.oracle.store._queued >= 6)
            blocker.execute("ROLLBACK")
            responses = [a.result() for a in answers]
        assert [r.partial_success.rejected_spans for r in responses] == [0, 1, 0]
        assert "poison span refused" in responses[1].partial_success.error_message
        assert span_names(tmp_path / "t.db") == ["span-0", "span-1", "span-2", "span-4", "span-5"]
        assert spans_without_resource(tmp_path / "t.db") == 0
        health = running.client().get("/health").json()
        assert health["receiver"]["traces"]["accepted"] == 5
        assert any("poison span refused" in reason for reason in health["receiver"]["traces"]["by_reason"])
        [issue] = running.client().get("/api/v1/oracle/issues", params={"kind": "telemetry_rejected"}).json()["issues"]
        assert issue["evidence"]["reasons"][0]["example"]["name"] == "poison"
        channel.close()
    finally:
        running.stop()


def test_a_locked_database_answers_unavailable_and_the_retry_is_stored(tmp_path):
    running = start_oracle(tmp_path / "t.db")
    try:
        channel = grpc.insecure_channel(running.grpc_endpoint)
        call = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
        raw = request_of(make_span(0), make_span(1)).SerializeToString()
        blocker = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # held past the writer's busy timeout: "database is locked"
        try:
            with pytest.raises(grpc.RpcError) as err:
                call(raw, timeout=60)
        finally:
            blocker.execute("ROLLBACK")
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "database is locked" in err.value.details()
        assert span_names(tmp_path / "t.db") == []
        response = call(raw, timeout=30)  # the Collector's retry
        assert not response.HasField("partial_success")
        assert span_names(tmp_path / "t.db") == ["span-0", "span-1"]
        health = running.client().get("/health").json()
        assert health["receiver"]["traces"]["unavailable"] == 1
        assert health["receiver"]["traces"]["rejected"] == 0
        channel.close()
    finally:
        running.stop()
