"""State snapshots in the store's SQLite file (table ``oracle_snapshots``), for ``?at=`` and diffs.

The Oracle writes them from its own thread over its own connection, never from the span writer.
The state is zlib-compressed JSON (a busy system's document is hundreds of KiB and compresses
about tenfold); the issues are plain JSON:

    sqlite3 var/telemetron.db "SELECT id, datetime(taken_ns / 1e9, 'unixepoch'), reason, issues FROM oracle_snapshots"
    python -c "import sqlite3, zlib; print(zlib.decompress(sqlite3.connect('var/telemetron.db').execute(
        'SELECT state FROM oracle_snapshots ORDER BY id DESC').fetchone()[0]).decode())"
"""

from __future__ import annotations

import json
import sqlite3
import threading
import zlib
from pathlib import Path

from ..store.sqlite import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS oracle_snapshots (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    taken_ns INTEGER NOT NULL,             -- Unix nanoseconds
    reason   TEXT NOT NULL,                -- interval | change | shutdown
    state    BLOB NOT NULL,                -- zlib(the state JSON as GET /api/v1/oracle/state served it)
    issues   TEXT NOT NULL                 -- JSON array of the issues open at that moment
);
CREATE INDEX IF NOT EXISTS oracle_snapshots_taken ON oracle_snapshots (taken_ns);
"""

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class SnapshotStore:
    def __init__(self, path: Path, retention: int) -> None:
        self.retention = max(1, retention)
        self._conn = connect(path)
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def save(self, taken_ns: int, reason: str, state: bytes, issues: list[dict]) -> int:
        """Store ``state`` (the document's JSON, as served) and the open issues."""
        taken_ns -= taken_ns % 1000  # microseconds, as served: asking for a served taken_at finds this row
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO oracle_snapshots (taken_ns, reason, state, issues) VALUES (?,?,?,?)",
                (taken_ns, reason, zlib.compress(state, 1), _dumps(issues)),
            )
            snapshot_id = cursor.lastrowid
            if snapshot_id is None:  # sqlite3 sets it after every successful INSERT
                raise RuntimeError("oracle snapshot insert returned no row id")
            self._conn.execute("DELETE FROM oracle_snapshots WHERE id <= ?", (snapshot_id - self.retention,))
            return snapshot_id

    def _one(self, sql: str, params: tuple) -> dict | None:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return _row(row)

    def by_id(self, snapshot_id: int) -> dict | None:
        return self._one("SELECT * FROM oracle_snapshots WHERE id = ?", (snapshot_id,))

    def at(self, t_ns: int) -> dict | None:
        """The latest snapshot taken at or before ``t_ns``."""
        return self._one(
            "SELECT * FROM oracle_snapshots WHERE taken_ns <= ? ORDER BY taken_ns DESC, id DESC LIMIT 1", (t_ns,)
        )

    def latest(self) -> dict | None:
        return self._one("SELECT * FROM oracle_snapshots ORDER BY id DESC LIMIT 1", ())

    def listing(self, limit: int = 100, before_id: int | None = None) -> list[dict]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, taken_ns, reason, length(state) AS compressed_size FROM oracle_snapshots "
                "WHERE id < ? ORDER BY id DESC LIMIT ?",
                (before_id if before_id is not None else 2**62, limit),
            ).fetchall()
        return [dict(r) for r in rows]

    def count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM oracle_snapshots").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _row(row: sqlite3.Row | None) -> dict | None:
    if row is None:
        return None
    return {
        "id": row["id"],
        "taken_ns": row["taken_ns"],
        "reason": row["reason"],
        # Rows written before compression was introduced hold the JSON text itself.
        "state": json.loads(row["state"] if isinstance(row["state"], str) else zlib.decompress(row["state"])),
        "issues": json.loads(row["issues"]),
    }
