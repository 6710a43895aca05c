"""Empty events, links and scope attributes and zero dropped counts are stored as nothing (''), and rows written
before, holding their JSON ('[]', '{}', '[0,0,0]'), read back the same on every read path.

Real SQLite files through the real Store writer; the older rows are made by rewriting stored ones as an older
version's spans table held them, which the store moves into its current layout when it opens the file again.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from records import as_older_layout, span_record
from telemetron_oracle_api.model import Decoded, Resource, SpanRecord
from telemetron_oracle_api.store import attribute_index
from telemetron_oracle_api.store.search import SpanSearch, TraceFilter
from telemetron_oracle_api.store.sqlite import Store, connect

NOW = time.time_ns()
RESOURCE = Resource(key="r1", service_name="svc", attributes={"service.name": "svc"})
EMPTY_COLUMNS = ("events", "links", "scope_attributes", "dropped_counts")


def span(trace: int, n: int, **fields: Any) -> SpanRecord:
    return span_record(
        f"{trace:032x}",
        f"{trace * 100 + n:016x}",
        NOW - 3600 * 10**9 + trace * 10**9 + n * 10**6,
        parent_span_id=None if n == 0 else f"{trace * 100:016x}",
        attributes={"customer.id": f"c-{trace}"},
        resource=RESOURCE,
        **fields,
    )


def full(trace: int, n: int) -> SpanRecord:
    """A span with every document set, beside the empty ones of its trace."""
    return span(
        trace,
        n,
        events=[{"name": "retry", "time_unix_nano": NOW, "attributes": {"attempt": "2"}}],
        links=[{"trace_id": "ab" * 16, "span_id": "cd" * 8, "trace_state": "", "attributes": {"kind": "x"}}],
        scope_attributes={"scope.key": "v"},
        dropped=(1, 0, 2),
    )


# Trace 1 is rewritten as an older store holds it; trace 2 stays as written.
SPANS = [span(1, 0), full(1, 1), span(2, 0), full(2, 1)]


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "t.db")
    s.write(Decoded(spans=SPANS))
    s.close()
    as_older_layout(s.path)
    with sqlite3.connect(s.path) as conn:
        conn.execute(
            "UPDATE spans SET events = '[]', links = '[]', scope_attributes = '{}', dropped_counts = '[0,0,0]'"
            " WHERE trace_id = ? AND span_id = ?",
            (f"{1:032x}", f"{100:016x}"),
        )
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def stored(path: Path, trace: int) -> tuple:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            f"SELECT {', '.join(EMPTY_COLUMNS)} FROM spans WHERE trace_id = ? AND parent_span_id IS NULL",
            (f"{trace:032x}",),
        ).fetchone()


def test_empty_documents_are_stored_as_nothing(store):
    assert stored(store.path, 2) == ("", "", "", "")
    assert stored(store.path, 1) == ("[]", "[]", "{}", "[0,0,0]")


@pytest.mark.parametrize("trace", [1, 2])
def test_a_trace_reads_back_the_same_from_either_form(store, trace):
    empty, filled = store.trace_spans(f"{trace:032x}")
    assert (empty["events"], empty["links"], empty["scope_attributes"], empty["dropped_counts"]) == (
        [],
        [],
        {},
        [0, 0, 0],
    )
    assert filled["events"][0]["attributes"] == {"attempt": "2"} and filled["dropped_counts"] == [1, 0, 2]
    assert filled["scope_attributes"] == {"scope.key": "v"} and filled["links"][0]["attributes"] == {"kind": "x"}
    empty_row, filled_row = store.jaeger_span_rows([f"{trace:032x}"])
    assert empty_row[-4:] == [None, None, None, None]
    assert filled_row[-4:] == [filled["events"], filled["links"], [1, 0, 2], {"scope.key": "v"}]


def test_the_oracle_rebuild_reads_no_links_from_either_form(store):
    rows = [row for batch in store.recent_span_rows(0, 0) for row in batch]
    links = {(row[0], row[1]): row[-1] for row in rows}
    assert links[(f"{1:032x}", f"{100:016x}")] is None and links[(f"{2:032x}", f"{200:016x}")] is None
    assert links[(f"{1:032x}", f"{101:016x}")] is not None


@pytest.mark.parametrize("tags", [{"attempt": "2"}, {"kind": "x"}, {"scope.key": "v"}])
def test_searches_by_event_link_and_scope_attributes_find_both_forms(store, tags):
    assert sorted(store.find_trace_ids(SpanSearch(service="svc", tags=tags))) == [f"{t:032x}" for t in (1, 2)]
    assert sorted(store.find_trace_ids(SpanSearch(tags=tags))) == [f"{t:032x}" for t in (1, 2)]
    on_scope = store.list_traces(TraceFilter(attributes={"scope.key": "v"}))[0]
    assert sorted(r["trace_id"] for r in on_scope) == [f"{t:032x}" for t in (1, 2)]


def test_the_attribute_index_is_rebuilt_and_deleted_from_either_form(store):
    def indexed() -> set[tuple]:
        with sqlite3.connect(store.path) as conn:
            return set(
                conn.execute(
                    "SELECT k.key, a.value_hash, t.trace_id FROM attribute_hashes a JOIN attribute_keys k USING (key_id)"
                    " LEFT JOIN traces t USING (trace_no)"
                )
            )

    before = indexed()
    hashed = attribute_index.value_hash
    assert ("attempt", hashed("2"), f"{1:032x}") in before and ("scope.key", hashed("v"), f"{2:032x}") in before
    conn = connect(store.path)  # with telemetron_json, as the writer's
    try:
        conn.execute("DELETE FROM attribute_hashes")
        attribute_index.backfill(conn, older_table=False)
        assert indexed() == before
        attribute_index.delete_traces(conn, f'["{1:032x}", "{2:032x}"]')
        assert indexed() == set()
    finally:
        conn.close()
