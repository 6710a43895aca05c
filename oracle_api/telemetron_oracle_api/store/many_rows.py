"""Inserting many rows in few SQLite statements, for the writer thread.

``executemany`` steps SQLite once per row, and Python's sqlite3 lets go of the GIL around every
step: the writer thread then has to take it back from the threads decoding the next requests,
once per row, and under load it spent most of its time waiting so. One statement of many rows
(``INSERT ... VALUES (...), (...), ...``) takes one step for all of them.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator

# Rows per statement: 500 spans of 31 columns bind 15,500 parameters, within SQLite's 32,766 (3.32+).
MAX_ROWS_PER_STATEMENT = 500


def insert_many(conn: sqlite3.Connection, insert: str, rows: list[tuple], tail: str = "") -> int:
    """Run ``{insert} (row), (row), ...{tail}`` for every row, in as few statements as fit; rows changed."""
    return sum(conn.execute(sql, params).rowcount for sql, params in _statements(conn, insert, rows, tail))


def insert_many_returning(conn: sqlite3.Connection, insert: str, rows: list[tuple], tail: str) -> list[tuple]:
    """``insert_many`` with a ``tail`` that ends in ``RETURNING ...``: the rows the statements returned."""
    return [r for sql, params in _statements(conn, insert, rows, tail) for r in conn.execute(sql, params).fetchall()]


def _statements(conn: sqlite3.Connection, insert: str, rows: list[tuple], tail: str) -> Iterator[tuple[str, list]]:
    if not rows:
        return
    width = len(rows[0])
    per_statement = min(MAX_ROWS_PER_STATEMENT, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        yield _statement(insert, tail, width, len(chunk)), [value for row in chunk for value in row]


@functools.lru_cache(maxsize=128)
def _statement(insert: str, tail: str, width: int, rows: int) -> str:
    one = f"({', '.join('?' * width)})"
    return f"{insert} {', '.join([one] * rows)}{tail}"
