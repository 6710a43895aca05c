"""read_rows: a query's rows read in one SQLite step come back exactly as sqlite3 returns them row by row."""

from __future__ import annotations

import sqlite3

from telemetron_oracle_api.store.reads import read_rows

VALUES = [
    (1, "plain", None),
    (2**63 - 1, 'quote " backslash \\ slash /', '{"json": [1, 2]}'),
    (-(2**63), "tab\tnewline\ncontrol\x01", ""),
    (0, "ünïcødé ✓ 𝄞", "[]"),
]


def test_rows_match_a_row_by_row_read(tmp_path):
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (n INTEGER, s TEXT, j TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", VALUES)
    expected = conn.execute("SELECT n, s, NULLIF(j, '') FROM t ORDER BY rowid").fetchall()
    got = read_rows(conn, "n, s, NULLIF(j, '')", "FROM (SELECT * FROM t ORDER BY rowid)")
    assert [tuple(row) for row in got] == expected
    assert got[1][2] == '{"json": [1, 2]}'  # stored JSON text stays text


def test_no_rows_is_an_empty_list(tmp_path):
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (n INTEGER)")
    assert read_rows(conn, "n", "FROM t WHERE n = ?", (1,)) == []


def test_documents_come_parsed_at_the_end_of_their_own_row(tmp_path):
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (n INTEGER, doc TEXT, extra TEXT)")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, ?)",
        [
            (1, '{"a": "x,y", "b": [1, {"c": null}]}', "[]"),
            (2, "[]", '[{"time_ns": 5}]'),
            (3, '"just a string, with a comma"', "[]"),
        ],
    )
    rows = read_rows(conn, "n", "FROM (SELECT * FROM t ORDER BY n DESC)", documents=("doc", "NULLIF(extra, '[]')"))
    assert rows == [
        [3, "just a string, with a comma", None],
        [2, [], [{"time_ns": 5}]],
        [1, {"a": "x,y", "b": [1, {"c": None}]}, None],
    ]
    assert read_rows(conn, "n", "FROM t WHERE n > 9", documents=("doc",)) == []


def test_texts_come_unparsed_after_the_documents_of_their_own_row(tmp_path):
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (n INTEGER, doc TEXT)")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?)",
        [
            (1, '{"a": "x,y\\u001e"}'),  # an escaped U+001E inside JSON text does not split it
            (2, None),
            (3, "[1, 2]"),
        ],
    )
    rows = read_rows(
        conn, "n", "FROM (SELECT * FROM t ORDER BY n)", documents=("doc",), texts=("doc", "json_object('n', n)")
    )
    assert rows == [
        [1, {"a": "x,y\x1e"}, '{"a": "x,y\\u001e"}', '{"n":1}'],
        [2, None, "", '{"n":2}'],
        [3, [1, 2], "[1, 2]", '{"n":3}'],
    ]
    assert read_rows(conn, "n", "FROM t WHERE n > 9", texts=("doc",)) == []
