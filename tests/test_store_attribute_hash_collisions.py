"""Searches stay exact when values collide in the attribute index, which holds a 64-bit hash of each value.

The hash is forced to one constant for every value (a collision of everything), on real SQLite files
through the real Store writer: the index then names every trace with the key, and each search must
still return only the traces whose spans carry the value it asked for.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from records import span_record, sqlite_store_with
from telemetron_oracle_api.model import SpanRecord
from telemetron_oracle_api.receiver.normalize import promote
from telemetron_oracle_api.store import attribute_index, search
from telemetron_oracle_api.store.sqlite import connect

NOW = time.time_ns()


def span(trace: int, **attributes: object) -> SpanRecord:
    record = span_record(
        f"{trace:032x}", f"{trace * 100:016x}", NOW - 3600 * 10**9 + trace * 10**9, attributes=attributes
    )
    promote(record)  # the conversation id column, as the receiver fills it
    return record


SPANS = [
    span(1, **{"customer.id": "c-1", "gen_ai.conversation.id": "conv-a"}),
    span(2, **{"customer.id": "c-2", "gen_ai.conversation.id": "conv-b"}),
    span(3, **{"customer.id": "c-3", "gen_ai.conversation.id": "conv-a"}),
    span(4, **{"other.key": "c-2"}),  # the value searched for, under another key
]


def trace(n: int) -> str:
    return f"{n:032x}"


@pytest.fixture
def colliding(tmp_path: Path, monkeypatch):
    """A store whose index holds every value under the same hash."""
    monkeypatch.setattr(attribute_index, "value_hash", lambda value: 7)
    with sqlite_store_with(tmp_path / "t.db", SPANS) as s:
        yield s


def test_every_value_of_a_key_shares_the_forced_hash(colliding):
    with sqlite3.connect(colliding.path) as conn:
        assert {r[0] for r in conn.execute("SELECT value_hash FROM attribute_hashes")} == {7}
    with colliding.reader() as conn:  # so the index names every trace that has the key at all
        assert sorted(attribute_index.trace_ids(conn, "customer.id", "c-2", 100) or []) == [
            trace(1),
            trace(2),
            trace(3),
        ]


def test_jaeger_search_returns_only_the_traces_carrying_the_value(colliding):
    for service in (None, "svc"):
        found = colliding.find_trace_ids(search.SpanSearch(service=service, tags={"customer.id": "c-2"}))
        assert found == [trace(2)]
    assert colliding.find_trace_ids(search.SpanSearch(tags={"customer.id": "nobody"})) == []


def test_rest_attribute_search_returns_only_the_traces_carrying_the_value(colliding):
    rows, _ = colliding.list_traces(search.TraceFilter(attributes={"customer.id": "c-2"}))
    assert [r["trace_id"] for r in rows] == [trace(2)]


def test_conversation_filter_returns_only_the_conversations_traces(colliding):
    rows, _ = colliding.list_traces(search.TraceFilter(conversation_id="conv-a"))
    assert [r["trace_id"] for r in rows] == [trace(3), trace(1)]


def test_deleting_a_trace_leaves_the_colliding_rows_of_the_others(colliding):
    conn = connect(colliding.path)  # with telemetron_json, as the writer's
    try:
        attribute_index.delete_traces(conn, f'["{trace(2)}"]')
        left = {
            r[0] for r in conn.execute("SELECT t.trace_id FROM attribute_hashes LEFT JOIN traces t USING (trace_no)")
        }
    finally:
        conn.close()
    assert left == {trace(1), trace(3), trace(4)}
