"""Reads of the stored log records and metric points (``GET /api/v1/logs``, ``/metric-points``, trace views).

Pages run newest first, ordered by (time, row id); a cursor is the ``<time_ns>.<row id>`` of the
last row of the previous page, so a page costs the same however deep it is. The SQL is built here
once for both backends: a ``Dialect`` names what differs (placeholder, row id, substring search).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import log_bodies

_CURSOR = re.compile(r"^([0-9]{1,19})\.([0-9]{1,19})$")
_INT64_MAX = 2**63 - 1
MAX_TRACE_LOGS = 1000  # log records a trace view shows (oldest first); GET /api/v1/logs?trace_id= pages them all

# The columns a read returns, in this order, whichever backend holds them.
LOG_COLUMNS = (
    "resource_key, service_name, scope_name, time_ns, observed_ns, severity_number, severity_text, body,"
    " attributes, trace_id, span_id, event_name, body_type, received_ns"
)
METRIC_COLUMNS = (
    "resource_key, service_name, scope_name, name, unit, kind, time_ns, start_ns, attributes, value, data, received_ns"
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """What the SQL of these reads spells differently on a backend."""

    mark: str  # the parameter placeholder
    row_id: str  # the column ordering rows that share a time, in arrival order
    position: str  # position(needle in haystack) as a function (haystack, needle), 0 when absent


SQLITE = Dialect(mark="?", row_id="rowid", position="instr")
POSTGRES = Dialect(mark="%s", row_id="id", position="strpos")


@dataclass(slots=True)
class LogFilter:
    trace_id: str | None = None
    span_id: str | None = None
    service: str | None = None
    min_severity: int | None = None  # OTLP severity_number, 1 (TRACE) to 24 (FATAL4)
    start_ns: int | None = None
    end_ns: int | None = None
    contains: str | None = None  # in the body's text, case-insensitive


@dataclass(slots=True)
class MetricFilter:
    name: str | None = None
    service: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None


@dataclass(frozen=True, slots=True)
class Query:
    """One statement and its parameters, for the caller's connection to run."""

    sql: str
    params: list[Any]


def parse_cursor(cursor: str) -> tuple[int, int]:
    """(time_ns, row id) of a cursor this module issued; ValueError for anything else."""
    match = _CURSOR.match(cursor)
    if match is None or int(match[1]) > _INT64_MAX or int(match[2]) > _INT64_MAX:
        raise ValueError(f"not a cursor: {cursor!r}")
    return int(match[1]), int(match[2])


class _Where:
    """Conditions joined by AND, with their parameters in the dialect's placeholder style."""

    def __init__(self, d: Dialect) -> None:
        self.d = d
        self.terms: list[str] = []
        self.params: list[Any] = []

    def add(self, template: str, *values: Any) -> None:
        """``template`` with ``{}`` where each value goes."""
        self.terms.append(template.format(*([self.d.mark] * len(values))))
        self.params += values

    def equal(self, column: str, value: Any) -> None:
        if value is not None:
            self.add(f"{column} = {{}}", value)

    def time_range(self, start_ns: int | None, end_ns: int | None) -> None:
        if start_ns is not None:
            self.add("time_ns >= {}", start_ns)
        if end_ns is not None:
            self.add("time_ns <= {}", end_ns)

    def page(self, table: str, columns: str, limit: int, cursor: str | None) -> Query:
        """A page newest first, from ``cursor`` on; one row more than ``limit`` tells there is a next page."""
        row_id = self.d.row_id
        if cursor:
            time_ns, after = parse_cursor(cursor)
            self.add(f"(time_ns < {{}} OR (time_ns = {{}} AND {row_id} < {{}}))", time_ns, time_ns, after)
        sql = f"SELECT {row_id} AS row_id, {columns} FROM {table}"
        if self.terms:
            sql += " WHERE " + " AND ".join(self.terms)
        sql += f" ORDER BY time_ns DESC, {row_id} DESC LIMIT {self.d.mark}"
        return Query(sql, [*self.params, limit + 1])


def log_records_query(d: Dialect, f: LogFilter, limit: int, cursor: str | None) -> Query:
    where = _Where(d)
    where.equal("trace_id", f.trace_id)
    where.equal("span_id", f.span_id)
    where.equal("service_name", f.service)
    if f.min_severity is not None:
        where.add("severity_number >= {}", f.min_severity)
    if f.contains:
        where.add(f"{d.position}(lower(body), lower({{}})) > 0", f.contains)
    where.time_range(f.start_ns, f.end_ns)
    return where.page("log_records", LOG_COLUMNS, limit, cursor)


def metric_points_query(d: Dialect, f: MetricFilter, limit: int, cursor: str | None) -> Query:
    where = _Where(d)
    where.equal("name", f.name)
    where.equal("service_name", f.service)
    where.time_range(f.start_ns, f.end_ns)
    return where.page("metric_points", METRIC_COLUMNS, limit, cursor)


def trace_log_records_query(d: Dialect, trace_id: str, limit: int) -> Query:
    return Query(
        f"SELECT {LOG_COLUMNS} FROM log_records WHERE trace_id = {d.mark} ORDER BY time_ns, {d.row_id} LIMIT {d.mark}",
        [trace_id, limit],
    )


def log_counts_query(d: Dialect, trace_ids: Sequence[str]) -> Query:
    marks = ",".join([d.mark] * len(trace_ids))
    return Query(
        f"SELECT trace_id, count(*) FROM log_records WHERE trace_id IN ({marks}) GROUP BY trace_id", list(trace_ids)
    )


def page(rows: Sequence[Mapping], limit: int, decode: Callable[[Mapping], dict]) -> tuple[list[dict], str | None]:
    """The page's rows, decoded, and the cursor of the next page (None on the last page)."""
    next_cursor = f"{rows[limit - 1]['time_ns']}.{rows[limit - 1]['row_id']}" if len(rows) > limit else None
    return [decode(r) for r in rows[:limit]], next_cursor


def log_row(row: Mapping) -> dict:
    """A ``log_records`` row with its JSON columns parsed and its body decoded (see ``log_bodies.py``)."""
    out = dict(row)
    out.pop("row_id", None)
    out["body"] = log_bodies.decode(row["body"], row["body_type"])
    out["body_type"] = row["body_type"] or log_bodies.JSON
    out["attributes"] = json.loads(row["attributes"])
    return out


def metric_point_row(row: Mapping) -> dict:
    """A ``metric_points`` row with its JSON columns parsed."""
    out = dict(row)
    out.pop("row_id", None)
    out["attributes"] = json.loads(row["attributes"])
    out["data"] = json.loads(row["data"])
    return out


# --- SQLite ---------------------------------------------------------------------------------------


def _run(conn: sqlite3.Connection, q: Query) -> list[dict]:
    return [dict(r) for r in conn.execute(q.sql, q.params)]


def log_records(
    conn: sqlite3.Connection, f: LogFilter, *, limit: int = 100, cursor: str | None = None
) -> tuple[list[dict], str | None]:
    return page(_run(conn, log_records_query(SQLITE, f, limit, cursor)), limit, log_row)


def trace_log_records(conn: sqlite3.Connection, trace_id: str, limit: int) -> list[dict]:
    """The first ``limit`` log records of a trace, oldest first (for the trace views)."""
    return [log_row(r) for r in _run(conn, trace_log_records_query(SQLITE, trace_id, limit))]


def log_counts(conn: sqlite3.Connection, trace_ids: Sequence[str]) -> dict[str, int]:
    """How many log records each trace has (a trace view is re-rendered when this changes)."""
    if not trace_ids:
        return {}
    q = log_counts_query(SQLITE, trace_ids)
    return {r[0]: r[1] for r in conn.execute(q.sql, q.params)}


def metric_points(
    conn: sqlite3.Connection, f: MetricFilter, *, limit: int = 100, cursor: str | None = None
) -> tuple[list[dict], str | None]:
    return page(_run(conn, metric_points_query(SQLITE, f, limit, cursor)), limit, metric_point_row)
