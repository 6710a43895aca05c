"""State snapshots kept in the store (table ``oracle_snapshots``), for ``?at=`` and diffs.

The Oracle writes them from its own thread, never from the span writer. The state is
zlib-compressed JSON (a busy system's document is hundreds of KiB and compresses about tenfold);
the issues are plain JSON. The store holds the rows (``store/sqlite_oracle.py`` says how to read
them with sqlite3); this module compresses and parses.
"""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING

from ..formats import compact_json

if TYPE_CHECKING:
    from ..store.interface import TelemetryStore


class SnapshotStore:
    def __init__(self, store: TelemetryStore, retention: int) -> None:
        self.retention = max(1, retention)
        self._store = store

    def save(self, taken_ns: int, reason: str, state: bytes, issues: list[dict]) -> int:
        """Store ``state`` (the document's JSON, as served) and the open issues."""
        taken_ns -= taken_ns % 1000  # microseconds, as served: asking for a served taken_at finds this row
        return self._store.save_snapshot(
            taken_ns, reason, zlib.compress(state, 1), compact_json(issues), self.retention
        )

    def by_id(self, snapshot_id: int) -> dict | None:
        return _parsed(self._store.snapshot_by_id(snapshot_id))

    def at(self, t_ns: int) -> dict | None:
        """The latest snapshot taken at or before ``t_ns``."""
        return _parsed(self._store.snapshot_at(t_ns))

    def latest(self) -> dict | None:
        return _parsed(self._store.latest_snapshot())

    def listing(self, limit: int = 100, before_id: int | None = None) -> list[dict]:
        return self._store.snapshot_listing(limit, before_id)

    def count(self) -> int:
        return self._store.snapshot_count()

    def close(self) -> None:
        self._store.close_snapshots()


def _parsed(row: dict | None) -> dict | None:
    if row is None:
        return None
    state = row["state"]
    return {
        "id": row["id"],
        "taken_ns": row["taken_ns"],
        "reason": row["reason"],
        # Rows written before compression was introduced hold the JSON text itself.
        "state": json.loads(state if isinstance(state, str) else zlib.decompress(state)),
        "issues": json.loads(row["issues"]),
    }
