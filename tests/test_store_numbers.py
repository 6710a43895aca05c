"""The writer keeps a bounded number of the values it numbered once (attribute keys, span sources) in
memory: a sender making millions of distinct keys costs table rows, not the writer's memory, and a
forgotten value keeps its number. Real SQLite files through the real Store writer."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from records import span_record, thread_writer
from telemetron_oracle_api.model import Decoded
from telemetron_oracle_api.store import numbers, search
from telemetron_oracle_api.store.numbers import Numbers
from telemetron_oracle_api.store.sqlite import Store, connect


def test_past_the_bound_the_oldest_values_are_forgotten_and_keep_their_number(tmp_path: Path) -> None:
    Store(tmp_path / "t.db").close()  # the schema
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    keys = Numbers(conn, "attribute_keys", "key_id", ("key",), kept=100)
    first: dict = {}
    for batch in range(10):
        new: dict = {}
        for i in range(100):
            keys.number(conn, f"key-{batch}-{i}", new)
        keys.committed(new)
        first.update(new)
    assert len(keys.known) <= 100 and "key-9-99" in keys.known and "key-0-0" not in keys.known
    again: dict = {}
    assert [keys.number(conn, f"key-0-{i}", again) for i in range(100)] == [first[f"key-0-{i}"] for i in range(100)]
    assert conn.execute("SELECT count(*) FROM attribute_keys").fetchone()[0] == 1000
    reopened = Numbers(conn, "attribute_keys", "key_id", ("key",), kept=100)
    assert reopened.known == {f"key-9-{i}": first[f"key-9-{i}"] for i in range(100)}  # the latest, at open


def test_a_store_flooded_with_distinct_keys_and_scopes_stays_bounded_and_finds_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(numbers, "KEPT", 50)
    now = time.time_ns()
    store = Store(tmp_path / "t.db")
    try:
        for trace in range(1, 41):
            attributes = {f"flood.{trace}.{i}": f"v-{trace}-{i}" for i in range(10)}
            spans = [
                span_record(
                    f"{trace:032x}", f"{trace:016x}", now - trace, attributes=attributes, scope_name=f"lib-{trace}"
                )
            ]
            store.write(Decoded(spans=spans))
        assert len(thread_writer(store)._attribute_index._keys.known) <= 50
        assert len(thread_writer(store)._sources.known) <= 50
        with store.reader() as conn:
            found = search.find_trace_ids(conn, search.SpanSearch(tags={"flood.1.0": "v-1-0"}))
            by_scope = search.find_trace_ids(conn, search.SpanSearch(tags={"otel.scope.name": "lib-2"}))
    finally:
        store.close()
    assert found == [f"{1:032x}"] and by_scope == [f"{2:032x}"]
    with connect(tmp_path / "t.db") as conn:
        assert conn.execute("SELECT count(*) FROM attribute_keys").fetchone()[0] == 400
        assert conn.execute("SELECT count(DISTINCT key_id) FROM attribute_hashes").fetchone()[0] == 400
