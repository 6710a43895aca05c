"""Where a span came from, numbered once: its resource key and instrumentation scope (name, version).

Every span of a resource and scope repeats the same three strings (~50 bytes). The span_sources table
numbers each distinct triple; a span_rows row holds the number (``source_id``), and the spans view gives
the strings back. Retention leaves the table alone: it holds a row per process and library that ever
sent spans.
"""

from __future__ import annotations

import sqlite3

from ..model import SpanRecord
from .numbers import Numbers, Value

COLUMNS = ("resource_key", "scope_name", "scope_version")


def numbers(conn: sqlite3.Connection) -> Numbers:
    """The writer's numbers of the sources (``ids``)."""
    return Numbers(conn, "span_sources", "source_id", COLUMNS)


def ids(sources: Numbers, conn: sqlite3.Connection, spans: list[SpanRecord]) -> tuple[list[int], dict[Value, int]]:
    """Each span's source number, numbering new sources in the open transaction; and those, for ``committed``."""
    return sources.ids(conn, ((s.resource.key, s.scope_name, s.scope_version) for s in spans))
