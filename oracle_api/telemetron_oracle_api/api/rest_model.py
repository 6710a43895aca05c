"""The REST API's JSON shapes (``/api/v1``): a span, a trace summary, a whole trace.

Beside ``jaeger_model.py``, which writes Jaeger's shapes from the same stored rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import orjson

from ..formats import STATUS_CODES, iso, span_kind_name
from ..store.interface import TelemetryStore
from ..store.telemetry_reads import MAX_TRACE_LOGS
from .trace_cache import rendered


def span_json(row: Mapping) -> dict:
    """A stored span (a row of ``store.trace_spans``, JSON columns parsed) as the REST API shows it."""
    start_ns, end_ns = row["start_ns"], row["end_ns"]
    return {
        "trace_id": row["trace_id"],
        "span_id": row["span_id"],
        "parent_span_id": row["parent_span_id"],
        "name": row["name"],
        "kind": span_kind_name(row["kind"]),
        "service_name": row["service_name"],
        "start_time": iso(start_ns),
        "end_time": iso(end_ns),
        "start_ns": start_ns,
        "end_ns": end_ns,
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
        "attributes": row["attributes"],
        "events": row["events"],
        "links": row["links"],
        "scope": {"name": row["scope_name"], "version": row["scope_version"], "attributes": row["scope_attributes"]},
        "resource_key": row["resource_key"],
    }


def log_json(row: Mapping) -> dict:
    """A log record (a row of ``store.log_records``, body decoded) as the REST API shows it."""
    return {"time": iso(row["time_ns"] or row["observed_ns"]), **row}


def trace_summary_json(row: Mapping) -> dict:
    """A ``traces`` row as the trace list and a trace's ``summary`` show it."""
    return {
        "trace_id": row["trace_id"],
        "root_name": row["root_name"],
        "root_service": row["root_service"],
        "services": orjson.loads(row["services"]),
        "start_time": iso(row["start_ns"]),
        "end_time": iso(row["end_ns"]),
        "start_ns": row["start_ns"],
        "end_ns": row["end_ns"],
        "duration_ms": (row["end_ns"] - row["start_ns"]) / 1e6,
        "span_count": row["span_count"],
        "error_count": row["error_count"],
    }


def active_span_json(row: Mapping) -> dict:
    """A span that has started and not yet ended (a row of ``store.active_spans``)."""
    return {
        "trace_id": row["trace_id"],
        "span_id": row["span_id"],
        "parent_span_id": row["parent_span_id"],
        "name": row["name"],
        "kind": span_kind_name(row["kind"]),
        "service_name": row["service_name"],
        "operation": row["operation"],
        "agent_name": row["agent_name"],
        "start_ns": row["start_ns"],
        "start_time": iso(row["start_ns"]),
        "last_seen_ns": row["last_seen_ns"],
        "attributes": row["attributes"],
    }


def trace_json(store: TelemetryStore, trace_id: str) -> bytes | None:
    """All spans of a trace with their parentage, summary, work in progress and resources; None when unknown.

    Everything but the work in progress follows from the trace's spans, so it is kept by span count
    (``trace_cache.py``) and only the active spans are read at every request.
    """
    trace_id = trace_id.lower()
    summary = store.trace_summary(trace_id)
    log_count = store.log_counts([trace_id]).get(trace_id, 0)
    key = (str(store.path), "rest", trace_id, summary["span_count"] if summary else None, log_count)
    done = rendered.get(key)
    if done is None:
        rows = store.trace_spans(trace_id)
        if not rows:
            return _running_only(store, trace_id)
        if summary is None or summary["span_count"] != len(rows):  # a batch landed between the two reads
            summary = store.trace_summary(trace_id)
        logs = store.trace_log_records(trace_id, MAX_TRACE_LOGS) if log_count else []
        done = _spans_and_resources(store, trace_id, summary, rows, logs, log_count)
        if summary and summary["span_count"] == len(rows):
            key = (str(store.path), "rest", trace_id, len(rows), log_count)
            rendered.put(key, done, len(done[0]) + len(done[1]))
    head, resources = cast(tuple[bytes, bytes], done)
    active = orjson.dumps([active_span_json(r) for r in store.active_spans(trace_id)])
    return b"".join((head, b',"active_spans":', active, b',"resources":', resources, b"}"))


def _running_only(store: TelemetryStore, trace_id: str) -> bytes | None:
    """A trace none of whose spans has ended yet: its work in progress alone; None when nothing is known."""
    active = [active_span_json(r) for r in store.active_spans(trace_id)]
    if not active:
        return None
    return orjson.dumps(
        {
            "trace_id": trace_id,
            "summary": None,
            "roots": [],
            "spans": [],
            "logs_without_span": [],
            "log_count": 0,
            "active_spans": active,
            "resources": {},
        }
    )


def _spans_and_resources(
    store: TelemetryStore, trace_id: str, summary: dict | None, rows: list[dict], logs: list[dict], log_count: int
) -> tuple[bytes, bytes]:
    """The trace's JSON up to its spans (without the closing brace), and its resources' JSON."""
    spans = [span_json(r) for r in rows]
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[str]] = {}
    logs_of: dict[str | None, list[dict]] = {}
    for record in logs:
        logs_of.setdefault(record["span_id"] if record["span_id"] in ids else None, []).append(log_json(record))
    for s in spans:
        if s["parent_span_id"] in ids:
            children.setdefault(s["parent_span_id"], []).append(s["span_id"])
    for s in spans:
        s["children"] = children.get(s["span_id"], [])
        # A parent that has not arrived (or is outside this trace) makes the span a root here.
        s["is_root"] = s["parent_span_id"] not in ids
        s["logs"] = logs_of.get(s["span_id"], [])
    head = {
        "trace_id": trace_id,
        "summary": trace_summary_json(summary) if summary else None,
        "roots": [s["span_id"] for s in spans if s["is_root"]],
        "spans": spans,
        # Records of the trace whose span is not stored (yet), and how many the trace has in all.
        "logs_without_span": logs_of.get(None, []),
        "log_count": log_count,
    }
    resources = store.resources({s["resource_key"] for s in spans})
    return orjson.dumps(head)[:-1], orjson.dumps(resources)
