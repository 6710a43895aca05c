"""The writer's many-rows INSERT (store/many_rows.py) writes every row once, across statements."""

from __future__ import annotations

import sqlite3

from telemetron_oracle_api.store.many_rows import MAX_ROWS_PER_STATEMENT, insert_many


def test_every_row_is_written_across_statements_and_duplicates_count_once() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    total = 2 * MAX_ROWS_PER_STATEMENT + 7  # two full statements and a short one
    rows = [(k, bytes([k % 256])) for k in range(total)]
    assert insert_many(conn, "INSERT OR IGNORE INTO t (k, v) VALUES", rows) == total
    again = rows[:10] + [(total, b"new")]
    assert insert_many(conn, "INSERT OR IGNORE INTO t (k, v) VALUES", again) == 1
    assert conn.execute("SELECT count(*), sum(k) FROM t").fetchone() == (total + 1, sum(range(total + 1)))
    assert conn.execute("SELECT v FROM t WHERE k = 300").fetchone() == (bytes([300 % 256]),)
    assert insert_many(conn, "INSERT OR IGNORE INTO t (k, v) VALUES", []) == 0


def test_an_upsert_tail_applies_to_every_row() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)")
    upsert = " ON CONFLICT (k) DO UPDATE SET n = max(n, excluded.n)"
    insert_many(conn, "INSERT INTO t (k, n) VALUES", [("a", 1), ("b", 5)], upsert)
    insert_many(conn, "INSERT INTO t (k, n) VALUES", [("a", 3), ("b", 2)], upsert)
    assert conn.execute("SELECT k, n FROM t ORDER BY k").fetchall() == [("a", 3), ("b", 5)]
