"""The PostgreSQL store's own guarantees: idempotent writes, per-record rejection, migrations once,
and retention that drops whole time partitions."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from telemetron_oracle_api.receiver.decode import ResourceCache, decode_traces
from telemetron_oracle_api.store import postgres_retention
from telemetron_oracle_api.store.postgres import PostgresStore
from telemetron_oracle_api.store.retention import RetentionPolicy
from telemetron_oracle_api.store.search import TraceFilter
from test_receiver import make_span, request_of

HOUR = 3600 * 10**9


@pytest.fixture
def url(postgres_server) -> str:
    return postgres_server.create_database(f"s_{uuid.uuid4().hex[:12]}")


def decoded_spans(*spans):
    return decode_traces(request_of(*spans).SerializeToString(), ResourceCache())


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_a_span_delivered_twice_by_two_writers_is_stored_and_counted_once(url):
    first, second = PostgresStore(url), PostgresStore(url)
    try:
        spans = [make_span(n, trace=7) for n in range(4)]
        first.write(decoded_spans(*spans[:3]))
        second.write(decoded_spans(*spans))  # a batch read again after a worker died, plus one new span
        first.write(decoded_spans(spans[1], spans[1]))  # twice in one batch
        assert rows(url, "SELECT count(*), count(DISTINCT span_id) FROM spans") == [(4, 4)]
        assert rows(url, "SELECT span_count FROM traces") == [(4,)]
        assert len(second.trace_spans(format(7, "032x"))) == 4
    finally:
        first.close()
        second.close()


def test_a_record_postgresql_refuses_is_rejected_and_the_rest_stored(url):
    store = PostgresStore(url)
    try:
        decoded = decoded_spans(*(make_span(n) for n in range(5)))
        decoded.spans[3].name = "nul\x00byte"  # text PostgreSQL cannot hold, which SQLite takes
        store.write(decoded)
        assert sorted(r[0] for r in rows(url, "SELECT name FROM spans")) == ["span-0", "span-1", "span-2", "span-4"]
        [rejection] = decoded.rejections
        assert (rejection.what, rejection.count, rejection.example["name"]) == ("span", 1, "nul\x00byte")
    finally:
        store.close()


def test_migrations_run_once_whoever_opens_first(url):
    for _ in range(2):
        PostgresStore(url).close()
    assert rows(url, "SELECT version FROM schema_migrations ORDER BY 1") == [(1,), (2,)]


def test_retention_drops_whole_partitions_by_age_then_by_size(url):
    store = PostgresStore(url)
    now = time.time_ns()
    try:
        for hours_ago, trace in ((5, 1), (3, 2), (0, 3)):
            span = make_span(trace, trace=trace, start_time_unix_nano=now - hours_ago * HOUR)
            span.end_time_unix_nano = span.start_time_unix_nano + 1000
            store.write(decoded_spans(span))
        with psycopg.connect(url, autocommit=True) as conn:
            assert len(postgres_retention.partitions(conn)) == 3
            by_age = RetentionPolicy(max_age_s=4 * 3600, max_bytes=0)
            assert len(postgres_retention.apply(conn, by_age, now)) == 1
            assert [t["trace_id"][-1] for t in store.list_traces(TraceFilter())[0]] == ["3", "2"]
            by_size = RetentionPolicy(max_age_s=0, max_bytes=1)
            assert len(postgres_retention.apply(conn, by_size, now)) == 1  # never the newest partition
            assert len(postgres_retention.partitions(conn)) == 1
        assert [t["trace_id"][-1] for t in store.list_traces(TraceFilter())[0]] == ["3"]
        assert store.trace_spans(format(2, "032x")) == []
        store.write(decoded_spans(make_span(9, trace=9)))  # ingest goes on
    finally:
        store.close()
