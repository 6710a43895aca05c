"""Reads of the stored log records and metric points (``GET /api/v1/logs``, ``/metric-points``, trace views).

Pages run newest first, ordered by (time, rowid); a cursor is the ``<time_ns>.<rowid>`` of the last
row of the previous page, so a page costs the same however deep it is.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from . import log_bodies

_CURSOR = re.compile(r"^([0-9]{1,19})\.([0-9]{1,19})$")
_INT64_MAX = 2**63 - 1
MAX_TRACE_LOGS = 1000  # log records a trace view shows (oldest first); GET /api/v1/logs?trace_id= pages them all


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


def parse_cursor(cursor: str) -> tuple[int, int]:
    """(time_ns, rowid) of a cursor this module issued; ValueError for anything else."""
    match = _CURSOR.match(cursor)
    if match is None or int(match[1]) > _INT64_MAX or int(match[2]) > _INT64_MAX:
        raise ValueError(f"not a cursor: {cursor!r}")
    return int(match[1]), int(match[2])


def _page(
    conn: sqlite3.Connection, table: str, where: list[str], params: list, limit: int, cursor: str | None
) -> tuple[list[sqlite3.Row], str | None]:
    if cursor:
        time_ns, rowid = parse_cursor(cursor)
        where.append("(time_ns < ? OR (time_ns = ? AND rowid < ?))")
        params += [time_ns, time_ns, rowid]
    sql = f"SELECT rowid AS row_id, * FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY time_ns DESC, rowid DESC LIMIT ?"
    rows = conn.execute(sql, [*params, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = f"{rows[-1]['time_ns']}.{rows[-1]['row_id']}" if more else None
    return rows, next_cursor


def _time_range(where: list[str], params: list, start_ns: int | None, end_ns: int | None) -> None:
    if start_ns is not None:
        where.append("time_ns >= ?")
        params.append(start_ns)
    if end_ns is not None:
        where.append("time_ns <= ?")
        params.append(end_ns)


def log_row(row: sqlite3.Row) -> dict:
    """A ``log_records`` row with its JSON columns parsed and its body decoded (see ``log_bodies.py``)."""
    out = dict(row)
    out.pop("row_id", None)
    out["body"] = log_bodies.decode(row["body"], row["body_type"])
    out["body_type"] = row["body_type"] or log_bodies.JSON
    out["attributes"] = json.loads(row["attributes"])
    return out


def log_records(
    conn: sqlite3.Connection, f: LogFilter, *, limit: int = 100, cursor: str | None = None
) -> tuple[list[dict], str | None]:
    where: list[str] = []
    params: list = []
    for column, value in (("trace_id", f.trace_id), ("span_id", f.span_id), ("service_name", f.service)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if f.min_severity is not None:
        where.append("severity_number >= ?")
        params.append(f.min_severity)
    if f.contains:
        where.append("instr(lower(body), lower(?)) > 0")
        params.append(f.contains)
    _time_range(where, params, f.start_ns, f.end_ns)
    rows, next_cursor = _page(conn, "log_records", where, params, limit, cursor)
    return [log_row(r) for r in rows], next_cursor


def trace_log_records(conn: sqlite3.Connection, trace_id: str, limit: int) -> list[dict]:
    """The first ``limit`` log records of a trace, oldest first (for the trace views)."""
    rows = conn.execute(
        "SELECT * FROM log_records WHERE trace_id = ? ORDER BY time_ns, rowid LIMIT ?", (trace_id, limit)
    ).fetchall()
    return [log_row(r) for r in rows]


def log_counts(conn: sqlite3.Connection, trace_ids: Sequence[str]) -> dict[str, int]:
    """How many log records each trace has (a trace view is re-rendered when this changes)."""
    if not trace_ids:
        return {}
    marks = ",".join("?" * len(trace_ids))
    rows = conn.execute(
        f"SELECT trace_id, count(*) FROM log_records WHERE trace_id IN ({marks}) GROUP BY trace_id", list(trace_ids)
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def metric_points(
    conn: sqlite3.Connection, f: MetricFilter, *, limit: int = 100, cursor: str | None = None
) -> tuple[list[dict], str | None]:
    where: list[str] = []
    params: list = []
    for column, value in (("name", f.name), ("service_name", f.service)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    _time_range(where, params, f.start_ns, f.end_ns)
    rows, next_cursor = _page(conn, "metric_points", where, params, limit, cursor)
    out = []
    for row in rows:
        point = dict(row)
        point.pop("row_id")
        point["attributes"] = json.loads(row["attributes"])
        point["data"] = json.loads(row["data"])
        out.append(point)
    return out, next_cursor
