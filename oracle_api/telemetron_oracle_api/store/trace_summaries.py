"""The ``traces`` summary rows, kept up to date from each batch's own new spans.

Folding a batch into the summary costs what the batch holds, not what the trace already holds:
a trace delivered in many batches is not re-read at every commit. Only the arrival of a span
without a parent looks at the trace's stored roots, to keep the earliest one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..formats import compact_json
from ..model import SpanRecord
from .many_rows import insert_many_returning

# The summary's columns, without trace_no (the attribute index's number for the trace, schema.sql).
COLUMNS = "trace_id, start_ns, end_ns, span_count, error_count, root_name, root_service, services"

_INSERT = f"INSERT INTO traces ({COLUMNS}) VALUES"
# The traces' numbers come back with the upsert: one statement per 500 traces, no SELECT after it.
_ON_CONFLICT = """
ON CONFLICT (trace_id) DO UPDATE SET
    start_ns = min(start_ns, excluded.start_ns),
    end_ns = max(end_ns, excluded.end_ns),
    span_count = span_count + excluded.span_count,
    error_count = error_count + excluded.error_count,
    services = (
        SELECT json_group_array(value) FROM (
            SELECT value FROM json_each(traces.services) UNION SELECT value FROM json_each(excluded.services)
            ORDER BY value
        )
    )
RETURNING trace_id, trace_no
"""

# The earliest span without a parent names the trace (ties: the lower span id).
_SET_ROOT = """
UPDATE traces SET (root_name, root_service) = (
    SELECT r.name, r.service_name FROM spans r WHERE r.trace = telemetron_id(traces.trace_id) AND r.parent IS NULL
    ORDER BY r.start_ns, r.span LIMIT 1
)
WHERE trace_id = ?
"""

# The same summaries computed from every stored span: the reference the incremental ones must equal.
FULL_REAGGREGATION = """
SELECT s.trace_id, min(s.start_ns), max(s.end_ns), count(*), sum(s.status_code = 2),
       (SELECT r.name FROM spans r WHERE r.trace = s.trace AND r.parent IS NULL
        ORDER BY r.start_ns, r.span_id LIMIT 1),
       (SELECT r.service_name FROM spans r WHERE r.trace = s.trace AND r.parent IS NULL
        ORDER BY r.start_ns, r.span_id LIMIT 1),
       (SELECT json_group_array(value) FROM (SELECT DISTINCT service_name AS value FROM spans v
        WHERE v.trace = s.trace ORDER BY 1))
FROM spans s GROUP BY s.trace_id ORDER BY s.trace_id
"""


@dataclass(slots=True)
class Fold:
    """What a batch's new spans add to one trace's summary row."""

    start_ns: int
    end_ns: int
    spans: int = 0
    errors: int = 0
    services: set[str] = field(default_factory=set)
    has_root: bool = False


def first_stored(spans: list[SpanRecord], fresh: set[tuple[str, str]]) -> list[SpanRecord]:
    """The spans whose (trace id, span id) the insert reported as stored, each id once (``fresh`` is consumed)."""
    out = []
    for s in spans:
        key = (s.trace_id, s.span_id)
        if key in fresh:
            fresh.discard(key)  # a second copy in the same batch was ignored
            out.append(s)
    return out


def newly_stored(
    conn: sqlite3.Connection, spans: list[SpanRecord], inserted: int, rowid_before: int
) -> list[SpanRecord]:
    """The spans of a batch that ``INSERT OR IGNORE`` stored: not already in the store, first of their id in the batch.

    ``inserted`` is the insert's row count and ``rowid_before`` the largest rowid before it.
    """
    if inserted == len(spans):
        return spans
    fresh = {
        (r[0], r[1])
        for r in conn.execute(
            "SELECT lower(hex(trace)), lower(hex(span)) FROM span_rows WHERE rowid > ?", (rowid_before,)
        )
    }
    return first_stored(spans, fresh)


def folds(spans: Iterable[SpanRecord]) -> dict[str, Fold]:
    """Newly stored spans summed up by trace: both stores upsert these into ``traces``."""
    out: dict[str, Fold] = {}
    for s in spans:
        f = out.get(s.trace_id)
        if f is None:
            f = out[s.trace_id] = Fold(s.start_ns, s.end_ns)
        f.start_ns = min(f.start_ns, s.start_ns)
        f.end_ns = max(f.end_ns, s.end_ns)
        f.spans += 1
        f.errors += s.status_code == 2
        f.services.add(s.resource.service_name)
        f.has_root = f.has_root or s.parent_span_id is None
    return out


def fold(conn: sqlite3.Connection, spans: Iterable[SpanRecord]) -> dict[str, int]:
    """Add newly stored spans to their traces' summary rows; the numbers (trace_no) of those traces, by id."""
    by_trace = folds(spans)
    rows = [
        (trace_id, f.start_ns, f.end_ns, f.spans, f.errors, None, None, compact_json(sorted(f.services)))
        for trace_id, f in by_trace.items()
    ]
    numbers = {r[0]: r[1] for r in insert_many_returning(conn, _INSERT, rows, _ON_CONFLICT)}
    conn.executemany(_SET_ROOT, [(trace_id,) for trace_id, f in by_trace.items() if f.has_root])
    return numbers
