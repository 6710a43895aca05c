"""Inserting many rows in few SQLite statements, for the writer thread.

``executemany`` steps SQLite once per row, and Python's sqlite3 lets go of the GIL around every
step: the writer thread then has to take it back from the threads decoding the next requests,
once per row, and under load it spent most of its time waiting so. One statement of many rows
(``INSERT ... VALUES (...), (...), ...``) takes one step for all of them.
"""

from __future__ import annotations

import functools
import sqlite3

# Rows per statement: 500 spans of 31 columns bind 15,500 parameters, within SQLite's 32,766 (3.32+).
MAX_ROWS_PER_STATEMENT = 500


def insert_many(conn: sqlite3.Connection, insert: str, rows: list[tuple], tail: str = "") -> int:
    """Run ``{insert} (row), (row), ...{tail}`` for every row, in as few statements as fit; rows changed."""
    if not rows:
        return 0
    width = len(rows[0])
    per_statement = min(MAX_ROWS_PER_STATEMENT, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width)
    changed = 0
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        sql = _statement(insert, tail, width, len(chunk))
        changed += conn.execute(sql, [value for row in chunk for value in row]).rowcount
    return changed


@functools.lru_cache(maxsize=128)
def _statement(insert: str, tail: str, width: int, rows: int) -> str:
    one = f"({', '.join('?' * width)})"
    return f"{insert} {', '.join([one] * rows)}{tail}"
