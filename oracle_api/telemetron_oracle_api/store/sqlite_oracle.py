"""The Oracle's own reads and writes over one SQLite file: its startup history and its snapshots.

``oracle/rebuild.py`` and ``oracle/snapshots.py`` call these by name (``interface.TelemetryStore``),
so the Oracle runs the same on every backend. Snapshots go through their own connection from the
Oracle's thread, never through the span writer:

    sqlite3 var/telemetron.db "SELECT id, datetime(taken_ns / 1e9, 'unixepoch'), reason, issues FROM oracle_snapshots"
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import span_documents
from .sqlite_reads import SqliteReads

_BATCH = 5000

_SNAPSHOT_SCHEMA = """
CREATE TABLE IF NOT EXISTS oracle_snapshots (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    taken_ns INTEGER NOT NULL,             -- Unix nanoseconds
    reason   TEXT NOT NULL,                -- interval | change | shutdown
    state    BLOB NOT NULL,                -- zlib(the state JSON as GET /api/v1/oracle/state served it)
    issues   TEXT NOT NULL                 -- JSON array of the issues open at that moment
);
CREATE INDEX IF NOT EXISTS oracle_snapshots_taken ON oracle_snapshots (taken_ns);
"""

_SNAPSHOT_COLUMNS = "id, taken_ns, reason, state, issues"

# The rebuild reads up to oracle_rebuild_max_spans rows: straight from span_rows, the ids' hex and the shapes'
# and sources' strings added in Python (the spans view computes the hex and joins both tables for every row,
# which took a third longer). Attributes and links come as stored (span_documents.py): the rebuild decides
# in Python which spans it parses them for, since SQL cannot look inside a compressed one.
_ORACLE_ROWS = (
    "SELECT trace, span, parent, shape_id, source_id, start_ns, duration_ns, status_code, status_message,"
    f" input_tokens, output_tokens, conversation_id, error_type, trace_state, flags, attributes,"
    f" {span_documents.none_if_empty('links')} FROM span_rows WHERE rowid > ? AND received_ns >= ? ORDER BY rowid"
)
_SHAPE = "SELECT name, kind, operation, agent_name, provider, request_model, response_model FROM span_shapes WHERE shape_id = ?"
_SOURCE = "SELECT resource_key, scope_name, scope_version FROM span_sources WHERE source_id = ?"


class _Numbered(dict):
    """The strings behind shape or source numbers, read from their table on first use."""

    def __init__(self, conn: sqlite3.Connection, sql: str) -> None:
        super().__init__()
        self._conn, self._sql = conn, sql

    def __missing__(self, number: int) -> tuple:
        found = self[number] = tuple(self._conn.execute(self._sql, (number,)).fetchone())
        return found


def _oracle_row(r: tuple, shapes: _Numbered, sources: _Numbered) -> tuple:
    """A span_rows row in ORACLE_SPAN_COLUMNS order."""
    name, kind, operation, agent, provider, request_model, response_model = shapes[r[3]]
    parent = r[2]
    return (
        r[0].hex(),
        r[1].hex(),
        parent.hex() if parent is not None else None,
        name,
        kind,
        r[5],
        r[5] + r[6],
        r[7],
        r[8],
        operation,
        agent,
        provider,
        request_model,
        response_model,
        r[9],
        r[10],
        r[11],
        r[12],
        *sources[r[4]],
        r[13],
        r[14],
        r[15],
        r[16],
    )


class SqliteOracle(SqliteReads):
    """The reads of ``SqliteReads`` plus the Oracle's; ``Store`` (sqlite.py) adds the writer."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._snapshot_conn: sqlite3.Connection | None = None
        self._snapshot_lock = threading.Lock()

    # --- the Oracle's startup history ----------------------------------------------------------------

    def span_marker(self) -> int:
        return self._conn().execute("SELECT coalesce(max(rowid), 0) FROM span_rows").fetchone()[0]

    def open_span_rows(self) -> list[dict]:
        return [dict(r) for r in self._conn().execute("SELECT * FROM active_spans ORDER BY start_ns")]

    def recent_span_rows(self, after_marker: int, since_received_ns: int) -> Iterator[list[tuple]]:
        conn = self._conn()
        cursor = conn.cursor()
        cursor.row_factory = None  # plain tuples
        cursor.execute(_ORACLE_ROWS, (after_marker, since_received_ns))
        shapes, sources = _Numbered(conn, _SHAPE), _Numbered(conn, _SOURCE)
        while rows := cursor.fetchmany(_BATCH):
            yield [_oracle_row(r, shapes, sources) for r in rows]

    def recent_metric_rows(self, names: Sequence[str], since_ns: int) -> Iterator[list[dict]]:
        cursor = self._conn().execute(
            f"SELECT * FROM metric_points WHERE name IN ({','.join('?' * len(names))}) AND time_ns >= ?"
            " ORDER BY time_ns",
            (*names, since_ns),
        )
        while rows := cursor.fetchmany(_BATCH):
            yield [dict(r) for r in rows]

    # --- snapshots -----------------------------------------------------------------------------------

    def _snapshots(self) -> sqlite3.Connection:
        if self._snapshot_conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.executescript(_SNAPSHOT_SCHEMA)
            self._snapshot_conn = conn
        return self._snapshot_conn

    def save_snapshot(self, taken_ns: int, reason: str, state: bytes, issues: str, keep: int) -> int:
        with self._snapshot_lock:
            conn = self._snapshots()
            cursor = conn.execute(
                "INSERT INTO oracle_snapshots (taken_ns, reason, state, issues) VALUES (?,?,?,?)",
                (taken_ns, reason, state, issues),
            )
            snapshot_id = cursor.lastrowid
            if snapshot_id is None:  # sqlite3 sets it after every successful INSERT
                raise RuntimeError("oracle snapshot insert returned no row id")
            conn.execute("DELETE FROM oracle_snapshots WHERE id <= ?", (snapshot_id - keep,))
            return snapshot_id

    def _snapshot_row(self, where: str, params: tuple) -> dict | None:
        with self._snapshot_lock:
            row = self._snapshots().execute(f"SELECT {_SNAPSHOT_COLUMNS} FROM oracle_snapshots {where}", params)
            found = row.fetchone()
        return dict(found) if found else None

    def snapshot_by_id(self, snapshot_id: int) -> dict | None:
        return self._snapshot_row("WHERE id = ?", (snapshot_id,))

    def snapshot_at(self, t_ns: int) -> dict | None:
        return self._snapshot_row("WHERE taken_ns <= ? ORDER BY taken_ns DESC, id DESC LIMIT 1", (t_ns,))

    def latest_snapshot(self) -> dict | None:
        return self._snapshot_row("ORDER BY id DESC LIMIT 1", ())

    def snapshot_listing(self, limit: int, before_id: int | None) -> list[dict]:
        with self._snapshot_lock:
            rows = self._snapshots().execute(
                "SELECT id, taken_ns, reason, length(state) AS compressed_size FROM oracle_snapshots"
                " WHERE id < ? ORDER BY id DESC LIMIT ?",
                (before_id if before_id is not None else 2**62, limit),
            )
            return [dict(r) for r in rows]

    def snapshot_count(self) -> int:
        with self._snapshot_lock:
            return self._snapshots().execute("SELECT count(*) FROM oracle_snapshots").fetchone()[0]

    def close_snapshots(self) -> None:
        with self._snapshot_lock:
            if self._snapshot_conn is not None:
                self._snapshot_conn.close()
                self._snapshot_conn = None
