"""Where a span came from, numbered once: its resource key and instrumentation scope (name, version).

Every span of a resource and scope repeats the same three strings (~50 bytes). The span_sources table
numbers each distinct triple; a span row written by this version holds the number (``source_id``) and
'' in its own three columns, a row written before holds the strings and no number. Reads take either:
SELECT through ``columns`` with ``JOIN``, filter on ``sql``. Retention leaves the table alone: it holds
a row per process and library that ever sent spans.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from ..model import SpanRecord

COLUMNS = ("resource_key", "scope_name", "scope_version")

# Joined to ``spans s`` by the reads: a LEFT JOIN, as rows written before the table hold no number.
JOIN = "LEFT JOIN span_sources src ON src.source_id = s.source_id"

Source = tuple[str, str, str]

_NEW = "INSERT OR IGNORE INTO span_sources (resource_key, scope_name, scope_version) VALUES (?, ?, ?)"
_ID = "SELECT source_id FROM span_sources WHERE resource_key = ? AND scope_name = ? AND scope_version = ?"


def column(name: str) -> str:
    """SQL giving one of ``COLUMNS`` of a span ``s`` read with ``JOIN``, whichever form its row holds."""
    return f"coalesce(src.{name}, s.{name})"


def columns(names: Iterable[str]) -> str:
    """A SELECT list of span columns (of ``s``, read with ``JOIN``), the source columns read through ``column``."""
    return ", ".join(column(n) if n in COLUMNS else n for n in names)


def sql(name: str) -> str:
    """SQL giving one of ``COLUMNS`` of a span ``s`` without ``JOIN``: for conditions on the spans a search walks."""
    return f"coalesce((SELECT v.{name} FROM span_sources v WHERE v.source_id = s.source_id), s.{name})"


class SqliteSources:
    """The writer's numbers of the sources, kept in memory once committed (like attribute_index.SqliteIndex)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._ids: dict[Source, int] = {
            (r[1], r[2], r[3]): r[0]
            for r in conn.execute("SELECT source_id, resource_key, scope_name, scope_version FROM span_sources")
        }

    def ids(self, conn: sqlite3.Connection, spans: list[SpanRecord]) -> tuple[list[int], dict[Source, int]]:
        """Each span's source number, numbering new sources in the open transaction; and those, for ``committed``."""
        known = self._ids
        new: dict[Source, int] = {}
        out = []
        for s in spans:
            key = (s.resource.key, s.scope_name, s.scope_version)
            source_id = known.get(key)
            if source_id is None:
                source_id = new.get(key)
                if source_id is None:
                    conn.execute(_NEW, key)
                    source_id = new[key] = conn.execute(_ID, key).fetchone()[0]
            out.append(source_id)
        return out, new

    def committed(self, new: dict[Source, int]) -> None:
        """The transaction that numbered ``new`` committed (a rolled-back one numbered nothing)."""
        self._ids.update(new)
