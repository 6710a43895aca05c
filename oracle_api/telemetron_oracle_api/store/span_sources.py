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
from .numbers import Numbers, Value

COLUMNS = ("resource_key", "scope_name", "scope_version")

# Joined to ``spans s`` by the reads: a LEFT JOIN, as rows written before the table hold no number.
JOIN = "LEFT JOIN span_sources src ON src.source_id = s.source_id"


def column(name: str) -> str:
    """SQL giving one of ``COLUMNS`` of a span ``s`` read with ``JOIN``, whichever form its row holds."""
    return f"coalesce(src.{name}, s.{name})"


def columns(names: Iterable[str]) -> str:
    """A SELECT list of span columns (of ``s``, read with ``JOIN``), the source columns read through ``column``."""
    return ", ".join(column(n) if n in COLUMNS else n for n in names)


def sql(name: str) -> str:
    """SQL giving one of ``COLUMNS`` of a span ``s`` without ``JOIN``: for conditions on the spans a search walks."""
    return f"coalesce((SELECT v.{name} FROM span_sources v WHERE v.source_id = s.source_id), s.{name})"


def numbers(conn: sqlite3.Connection) -> Numbers:
    """The writer's numbers of the sources (``ids``)."""
    return Numbers(conn, "span_sources", "source_id", COLUMNS)


def ids(sources: Numbers, conn: sqlite3.Connection, spans: list[SpanRecord]) -> tuple[list[int], dict[Value, int]]:
    """Each span's source number, numbering new sources in the open transaction; and those, for ``committed``."""
    known = sources.known
    new: dict[Value, int] = {}
    out = []
    for s in spans:
        key = (s.resource.key, s.scope_name, s.scope_version)
        out.append(known.get(key) or sources.number(conn, key, new))
    return out, new
