"""schema.sql's statements by the table, index or view each creates: what a migration rebuilds an older
store's object from (trace_numbers.py, span_layout.py)."""

from __future__ import annotations

import re
import sqlite3

_NAMED = re.compile(r"CREATE (?:TABLE|INDEX|VIEW) IF NOT EXISTS (\w+)")


def statements(schema: str) -> dict[str, str]:
    """The CREATE TABLE, CREATE INDEX and CREATE VIEW statements of ``schema`` (schema.sql's text), by name."""
    out: dict[str, str] = {}
    statement = ""
    for line in schema.splitlines(keepends=True):
        if not statement and (not line.strip() or line.lstrip().startswith("--")):
            continue
        statement += line
        if sqlite3.complete_statement(statement):
            if named := _NAMED.match(statement):
                out[named[1]] = statement
            statement = ""
    return out
