"""Trace numbers for a store written before them, once, at startup: its traces table, keyed by trace id
alone, is rebuilt with schema.sql's trace_no column, and its attribute index (attribute_hashes holding
16-byte trace ids) is rebuilt with the traces' numbers, in one transaction."""

from __future__ import annotations

import logging
import sqlite3
import time

from . import trace_summaries
from .schema_statements import statements as schema_statements

log = logging.getLogger(__name__)

_FILL_TRACES = (
    f"INSERT INTO traces_numbered ({trace_summaries.COLUMNS})"
    f" SELECT {trace_summaries.COLUMNS} FROM traces ORDER BY rowid"
)
# An index row of a trace the store does not hold (no number) names nothing a search could read: left out.
_FILL_INDEX = """
INSERT INTO attribute_hashes_numbered (key_id, value_hash, trace_no)
SELECT a.key_id, a.value_hash, t.trace_no FROM attribute_hashes a JOIN traces t ON t.trace_id = lower(hex(a.trace))
"""


def missing(conn: sqlite3.Connection) -> bool:
    """Whether the store's traces have no numbers yet."""
    return "trace_no" not in _columns(conn, "traces")


def add(conn: sqlite3.Connection, schema: str) -> None:
    """Rebuild traces and attribute_hashes in their numbered forms (``schema``: schema.sql's text), in one
    transaction; a store another process numbered first is left as it is."""
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    try:
        if missing(conn):
            log.info("numbering the stored traces (once, for the attribute index)")
            statements = schema_statements(schema)
            _rebuild(conn, statements, "traces", _FILL_TRACES)
            if "trace" in _columns(conn, "attribute_hashes"):  # not "trace_no": 16-byte trace ids
                _rebuild(conn, statements, "attribute_hashes", _FILL_INDEX)
            log.info("traces numbered in %.1f s", time.perf_counter() - started)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _rebuild(conn: sqlite3.Connection, statements: dict[str, str], table: str, fill: str) -> None:
    """Create ``table`` as the schema has it, as {table}_numbered, run ``fill`` (the INSERT into it), put it
    in the old one's place, and create the schema's indexes on it."""
    numbered = f"{table}_numbered"
    conn.execute(statements[table].replace(f"IF NOT EXISTS {table} (", f"{numbered} (", 1))
    conn.execute(fill)
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {numbered} RENAME TO {table}")
    for sql in statements.values():
        if sql.startswith("CREATE INDEX") and f" ON {table} (" in sql:
            conn.execute(sql)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
