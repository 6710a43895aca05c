"""Trace numbers: the attribute index names a trace by traces.trace_no; older stores, whose index held
16-byte trace ids, are numbered once at startup; a number is never given to a second trace.

Real SQLite files through the real Store writer, reopened as an older version left them.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from polling import wait_until
from records import indexed, reopened, span_record, sqlite_store_with, thread_writer
from telemetron_oracle_api.model import Decoded, SpanRecord
from telemetron_oracle_api.store import attribute_index, search, trace_numbers, trace_summaries
from telemetron_oracle_api.store.retention import RetentionPolicy
from telemetron_oracle_api.store.sqlite import Store

NOW = time.time_ns()
HOUR_NS = 3600 * 10**9


def trace(n: int) -> str:
    return f"{n:032x}"


def span(t: int, n: int, **attributes: object) -> SpanRecord:
    return span_record(
        trace(t),
        f"{t * 100 + n:016x}",
        NOW - HOUR_NS + t * 10**9 + n * 10**6,
        duration_ns=10**6,
        parent_span_id=None if n == 0 else f"{t * 100:016x}",
        attributes=attributes,
        conversation_id=attributes.get("gen_ai.conversation.id"),  # as the receiver sets it (normalize.py)
    )


SPANS = [
    span(1, 0, **{"customer.id": "c-1", "gen_ai.conversation.id": "conv-a"}),
    span(1, 1, **{"customer.id": "c-1"}),
    span(2, 0, **{"customer.id": "c-2", "gen_ai.conversation.id": "conv-a"}),
    span(3, 0, **{"customer.id": "c-1", "gen_ai.conversation.id": "conv-b"}),
]
SEARCHES = [{"customer.id": "c-1"}, {"customer.id": "c-2"}, {"customer.id": "nobody"}]
TRACES_COLUMNS = trace_summaries.COLUMNS


def columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def numbers(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT trace_id, trace_no FROM traces"))


def found(store: Store) -> list:
    """What the searches that use the index find: Jaeger's, REST's by attribute and by conversation."""
    with store.reader() as conn:
        jaeger = [search.find_trace_ids(conn, search.SpanSearch(tags=tags)) for tags in SEARCHES]
        rest = [
            [t["trace_id"] for t in search.list_traces(conn, search.TraceFilter(attributes=a))[0]] for a in SEARCHES
        ]
        conversations = [
            [t["trace_id"] for t in search.list_traces(conn, search.TraceFilter(conversation_id=c))[0]]
            for c in ("conv-a", "conv-b")
        ]
    return [jaeger, rest, conversations]


EXPECTED = [
    [[trace(3), trace(1)], [trace(2)], []],
    [[trace(3), trace(1)], [trace(2)], []],
    [[trace(2), trace(1)], [trace(3)]],
]


def test_a_trace_keeps_its_number_as_its_spans_arrive_in_later_batches(tmp_path):
    with sqlite_store_with(tmp_path / "t.db", SPANS[:1]) as store:
        first = numbers(store.path)[trace(1)]
        store.write(Decoded(spans=[span(2, 0), span(1, 1, **{"customer.id": "late"})]))  # the upsert updates trace 1
        assert numbers(store.path)[trace(1)] == first
        assert (attribute_index.value_hash("late"), trace(1)) in {r[1:] for r in indexed(store.path)}
        store.write(Decoded(spans=[span(1, 1, **{"customer.id": "late"})]))  # delivered again: stored once
        assert numbers(store.path)[trace(1)] == first
        with store.reader() as conn:
            assert search.find_trace_ids(conn, search.SpanSearch(tags={"customer.id": "late"})) == [trace(1)]
            assert conn.execute("SELECT span_count FROM traces WHERE trace_id = ?", (trace(1),)).fetchone()[0] == 2


def as_before_trace_numbers(path: Path) -> None:
    """The store as the version before trace numbers left it: traces keyed by trace id alone, and the index
    holding 16-byte trace ids, with one row of a trace the store does not hold."""
    with sqlite3.connect(path) as conn:
        index = conn.execute(
            "SELECT a.key_id, a.value_hash, t.trace_id FROM attribute_hashes a JOIN traces t USING (trace_no)"
        ).fetchall()
        conn.execute("ALTER TABLE traces RENAME TO traces_numbered")
        conn.execute("DROP INDEX traces_start_id")
        conn.execute(
            "CREATE TABLE traces (trace_id TEXT PRIMARY KEY, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
            " span_count INTEGER NOT NULL, error_count INTEGER NOT NULL, root_name TEXT, root_service TEXT,"
            " services TEXT NOT NULL)"
        )
        conn.execute(f"INSERT INTO traces SELECT {TRACES_COLUMNS} FROM traces_numbered ORDER BY trace_id DESC")
        conn.execute("DROP TABLE traces_numbered")
        conn.execute("CREATE INDEX traces_start_id ON traces (start_ns, trace_id)")
        conn.execute("DROP TABLE attribute_hashes")
        conn.execute(
            "CREATE TABLE attribute_hashes (key_id INTEGER NOT NULL, value_hash INTEGER NOT NULL, trace BLOB NOT NULL,"
            " PRIMARY KEY (key_id, value_hash, trace)) WITHOUT ROWID"
        )
        rows = [(key_id, value_hash, bytes.fromhex(trace_id)) for key_id, value_hash, trace_id in index]
        conn.executemany("INSERT INTO attribute_hashes VALUES (?, ?, ?)", [*rows, (1, 7, bytes.fromhex(trace(9)))])
    assert "trace_no" not in columns(path, "traces")


@pytest.fixture
def older(tmp_path: Path) -> tuple[Path, set[tuple]]:
    """A store left by the version before trace numbers, and its index as this version writes it."""
    with sqlite_store_with(tmp_path / "t.db", SPANS) as store:
        assert found(store) == EXPECTED
    before = indexed(store.path)
    assert len(before) == 6 and None not in {r[2] for r in before}
    as_before_trace_numbers(store.path)
    return store.path, before


def test_an_older_store_is_numbered_at_startup_and_searches_find_the_same_traces(older):
    path, before = older
    with reopened(path) as store:
        assert columns(path, "traces")[:2] == ["trace_no", "trace_id"]
        assert "trace_no" in columns(path, "attribute_hashes") and "trace" not in columns(path, "attribute_hashes")
        assert indexed(path) == before  # the row of trace 9, which the store does not hold, is gone
        assert found(store) == EXPECTED
        # The summaries the APIs return do not show the number.
        assert set(store.trace_summary(trace(1)) or {}) == set(TRACES_COLUMNS.split(", "))
        assert set(store.list_traces(search.TraceFilter())[0][0]) == set(TRACES_COLUMNS.split(", "))
        # Numbered in the older table's order; a new trace gets the next number and is indexed by it.
        assert sorted(numbers(path).values()) == [1, 2, 3]
        store.write(Decoded(spans=[span(4, 0, **{"customer.id": "c-2"})]))
        assert numbers(path)[trace(4)] > 3
        with store.reader() as conn:
            assert search.find_trace_ids(conn, search.SpanSearch(tags={"customer.id": "c-2"})) == [trace(4), trace(2)]
    with sqlite3.connect(path) as conn:
        assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} >= {"traces_start_id", "traces"}
        assert not [r for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%numbered%'")]


def test_a_numbered_store_is_not_numbered_again(older):
    path, _ = older
    Store(path).close()
    first = numbers(path)
    with sqlite3.connect(path) as conn:  # a row gone since: a second start must not rebuild the index
        conn.execute("DELETE FROM attribute_hashes WHERE trace_no = ?", (first[trace(2)],))
    with reopened(path) as store:
        assert numbers(path) == first
        assert found(store)[0] == [[trace(3), trace(1)], [], []]


def test_a_numbering_that_fails_leaves_the_older_store_to_number_next_start(older, monkeypatch):
    path, before = older
    with monkeypatch.context() as m:  # the traces are rebuilt, then the index fails
        m.setattr(trace_numbers, "_FILL_INDEX", "INSERT INTO attribute_hashes_numbered SELECT 1, 1, 1 FROM nowhere")
        with pytest.raises(sqlite3.OperationalError, match="nowhere"):
            Store(path)
    assert "trace_no" not in columns(path, "traces") and "trace" in columns(path, "attribute_hashes")
    with reopened(path) as store:
        assert indexed(path) == before
        assert found(store) == EXPECTED


def test_a_deleted_traces_number_is_never_given_again_so_a_row_left_behind_names_no_trace(tmp_path):
    path = tmp_path / "t.db"
    with sqlite_store_with(path, SPANS):
        pass
    gone = numbers(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE span_rows SET received_ns = received_ns - ?", (3 * HOUR_NS,))
    store = Store(path, retention=RetentionPolicy(max_age_s=3600, interval_s=0.05))
    try:
        wait_until(lambda: thread_writer(store).retention.stats.traces == 3, what="retention deleting every trace")
        assert indexed(path) == set()  # retention deleted exactly the deleted traces' rows: all of them
        with sqlite3.connect(path) as conn:  # rows retention missed, one for each deleted trace's number
            key_id = conn.execute("SELECT key_id FROM attribute_keys WHERE key = 'customer.id'").fetchone()[0]
            stale = [(key_id, attribute_index.value_hash("stale"), n) for n in gone.values()]
            conn.executemany("INSERT INTO attribute_hashes VALUES (?, ?, ?)", stale)
        store.write(Decoded(spans=[span(5, 0, **{"customer.id": "fresh"})]))
        assert numbers(path)[trace(5)] > max(gone.values())
        with store.reader() as conn:
            assert attribute_index.trace_ids(conn, "customer.id", "stale", 10) == []  # not even a read
            assert search.find_trace_ids(conn, search.SpanSearch(tags={"customer.id": "stale"})) == []
            assert search.find_trace_ids(conn, search.SpanSearch(tags={"customer.id": "fresh"})) == [trace(5)]
    finally:
        store.close()
