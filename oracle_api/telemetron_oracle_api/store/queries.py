"""Read queries over the store, returning JSON-ready dicts. Shared by the REST, Jaeger and Oracle APIs."""

from __future__ import annotations

import base64
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone

SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES = ("UNSET", "OK", "ERROR")


def iso(ns: int | None) -> str | None:
    """Unix nanoseconds as an RFC 3339 UTC timestamp with microseconds."""
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def to_ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1_000_000) * 1000


def span_json(row: sqlite3.Row) -> dict:
    """A stored span as the REST API shows it."""
    return {
        "trace_id": row["trace_id"],
        "span_id": row["span_id"],
        "parent_span_id": row["parent_span_id"],
        "name": row["name"],
        "kind": SPAN_KINDS[row["kind"]] if 0 <= row["kind"] < len(SPAN_KINDS) else str(row["kind"]),
        "service_name": row["service_name"],
        "start_time": iso(row["start_ns"]),
        "end_time": iso(row["end_ns"]),
        "start_ns": row["start_ns"],
        "end_ns": row["end_ns"],
        "duration_ms": row["duration_ns"] / 1e6,
        "status": {"code": STATUS_CODES[row["status_code"]], "message": row["status_message"]},
        "gen_ai": {
            "operation": row["operation"],
            "agent_name": row["agent_name"],
            "provider": row["provider"],
            "request_model": row["request_model"],
            "response_model": row["response_model"],
            "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"],
            "conversation_id": row["conversation_id"],
            "error_type": row["error_type"],
        },
        "attributes": json.loads(row["attributes"]),
        "events": json.loads(row["events"]),
        "links": json.loads(row["links"]),
        "scope": {"name": row["scope_name"], "version": row["scope_version"]},
        "resource_key": row["resource_key"],
    }


def trace_summary_json(row: sqlite3.Row) -> dict:
    return {
        "trace_id": row["trace_id"],
        "root_name": row["root_name"],
        "root_service": row["root_service"],
        "services": json.loads(row["services"]),
        "start_time": iso(row["start_ns"]),
        "end_time": iso(row["end_ns"]),
        "start_ns": row["start_ns"],
        "duration_ms": (row["end_ns"] - row["start_ns"]) / 1e6,
        "span_count": row["span_count"],
        "error_count": row["error_count"],
    }


@dataclass
class TraceFilter:
    """Filters of the trace search; every field is optional and they combine with AND."""

    service: str | None = None
    agent: str | None = None
    model: str | None = None
    status: str | None = None  # "ok" | "error"
    start_ns: int | None = None
    end_ns: int | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    conversation_id: str | None = None
    attributes: dict[str, str] | None = None  # attribute equality, on any span of the trace
    operation: str | None = None


def _encode_cursor(start_ns: int, trace_id: str) -> str:
    return base64.urlsafe_b64encode(f"{start_ns}:{trace_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Raises ValueError with a readable message for a cursor this API did not issue."""
    try:
        start, _, trace_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        return int(start), trace_id
    except Exception as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc


def list_traces(
    conn: sqlite3.Connection, f: TraceFilter, *, limit: int = 20, cursor: str | None = None
) -> tuple[list[dict], str | None]:
    """Newest first, keyset-paged: pass the returned cursor to get the next page."""
    where, params = [], []
    if f.start_ns is not None:
        where.append("t.end_ns >= ?")
        params.append(f.start_ns)
    if f.end_ns is not None:
        where.append("t.start_ns <= ?")
        params.append(f.end_ns)
    if f.status == "error":
        where.append("t.error_count > 0")
    elif f.status == "ok":
        where.append("t.error_count = 0")
    if f.min_duration_ns is not None:
        where.append("t.end_ns - t.start_ns >= ?")
        params.append(f.min_duration_ns)
    if f.max_duration_ns is not None:
        where.append("t.end_ns - t.start_ns <= ?")
        params.append(f.max_duration_ns)
    span_where, span_params = [], []
    for column, value in (
        ("service_name", f.service),
        ("agent_name", f.agent),
        ("request_model", f.model),
        ("conversation_id", f.conversation_id),
        ("operation", f.operation),
    ):
        if value is not None:
            span_where.append(f"s.{column} = ?")
            span_params.append(value)
    for key, value in (f.attributes or {}).items():
        span_where.append("CAST(json_extract(s.attributes, ?) AS TEXT) = ?")
        span_params.extend([json_path(key), value])
    if span_where:
        # Each condition may hold on a different span of the trace.
        for condition, *values in _pairs(span_where, span_params):
            where.append(f"t.trace_id IN (SELECT s.trace_id FROM spans s WHERE {condition})")
            params.extend(values)
    if cursor:
        start_ns, trace_id = decode_cursor(cursor)
        where.append("(t.start_ns < ? OR (t.start_ns = ? AND t.trace_id < ?))")
        params.extend([start_ns, start_ns, trace_id])
    sql = "SELECT * FROM traces t"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY t.start_ns DESC, t.trace_id DESC LIMIT ?"
    rows = conn.execute(sql, [*params, limit + 1]).fetchall()
    page = [trace_summary_json(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(last["start_ns"], last["trace_id"])
    return page, next_cursor


def _pairs(conditions: list[str], params: list) -> list[tuple]:
    out, i = [], 0
    for condition in conditions:
        n = condition.count("?")
        out.append((condition, *params[i : i + n]))
        i += n
    return out


def json_path(key: str) -> str:
    """A JSON path selecting one top-level attribute whose name contains dots."""
    return '$."' + key.replace('"', '\\"') + '"'


def get_trace_spans(conn: sqlite3.Connection, trace_id: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns, span_id", (trace_id.lower(),)
    ).fetchall()


def get_trace(conn: sqlite3.Connection, trace_id: str) -> dict | None:
    """All spans of a trace with their parentage, or None when the trace is unknown."""
    rows = get_trace_spans(conn, trace_id)
    if not rows:
        return None
    spans = [span_json(r) for r in rows]
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[str]] = {}
    for s in spans:
        if s["parent_span_id"] in ids:
            children.setdefault(s["parent_span_id"], []).append(s["span_id"])
    for s in spans:
        s["children"] = children.get(s["span_id"], [])
        # A parent that has not arrived (or is outside this trace) makes the span a root here.
        s["is_root"] = s["parent_span_id"] not in ids
    summary = conn.execute("SELECT * FROM traces WHERE trace_id = ?", (trace_id.lower(),)).fetchone()
    resource_keys = sorted({s["resource_key"] for s in spans})
    resources = {
        r["resource_key"]: {"service_name": r["service_name"], "attributes": json.loads(r["attributes"])}
        for r in conn.execute(
            f"SELECT * FROM resources WHERE resource_key IN ({','.join('?' * len(resource_keys))})",
            resource_keys,
        )
    }
    return {
        "trace_id": trace_id.lower(),
        "summary": trace_summary_json(summary) if summary else None,
        "roots": [s["span_id"] for s in spans if s["is_root"]],
        "spans": spans,
        "resources": resources,
    }
