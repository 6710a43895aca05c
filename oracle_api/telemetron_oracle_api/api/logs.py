"""REST: stored log records and metric points, filtered and paged (``GET /api/v1/logs``, ``/metric-points``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from ..formats import iso
from ..store.telemetry_reads import LogFilter, MetricFilter, parse_cursor
from . import errors
from ._respond import json_response
from .deps import Services, get_services
from .params import BadParameter, limit_query, normalize_trace_id, time_query
from .rest_model import log_json
from .schemas import ok

router = APIRouter(prefix="/api/v1", tags=["logs and metrics"])

# OTLP SeverityNumber ranges: each name is the lowest number of its range.
_SEVERITY = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "WARNING": 13, "ERROR": 17, "FATAL": 21}


class LogRecordOut(BaseModel):
    time: str
    time_ns: int
    observed_ns: int
    service_name: str
    scope_name: str
    severity_number: int
    severity_text: str
    body: Any
    body_type: str  # string (body is the text) or json (any other OTLP value, as JSON)
    attributes: dict[str, Any]
    trace_id: str | None
    span_id: str | None
    event_name: str
    resource_key: str


class LogList(BaseModel):
    """A page of log records, newest first."""

    logs: list[LogRecordOut]
    count: int
    next_cursor: str | None


class MetricPointOut(BaseModel):
    time: str
    time_ns: int
    start_ns: int
    name: str
    unit: str
    kind: str
    service_name: str
    scope_name: str
    attributes: dict[str, Any]
    value: float | None
    data: Any
    resource_key: str


class MetricPointList(BaseModel):
    """A page of metric data points, newest first."""

    points: list[MetricPointOut]
    count: int
    next_cursor: str | None


def _severity(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().upper()
    if text in _SEVERITY:
        return _SEVERITY[text]
    if text.isdigit() and 1 <= int(text) <= 24:
        return int(text)
    raise BadParameter("severity", value, "expected a minimum severity: TRACE, DEBUG, INFO, WARN, ERROR, FATAL or 1-24")


def _cursor(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_cursor(value)
        except ValueError as exc:
            raise BadParameter("cursor", value, "expected the next_cursor of a previous page") from exc
    return value


def _span_id(value: str | None) -> str | None:
    if value is None:
        return None
    span_id = value.strip().lower()
    if len(span_id) != 16 or any(c not in "0123456789abcdef" for c in span_id):
        raise BadParameter("span_id", value, "expected 16 hex digits")
    return span_id


def _trace_id(value: str | None) -> str | None:
    if value is None:
        return None
    trace_id = normalize_trace_id(value)
    if trace_id is None:
        raise BadParameter("trace_id", value, "expected 16 or 32 hex digits")
    return trace_id


@router.get("/logs", responses={**ok(LogList), **errors.documented("rest", 400)})
def list_logs(
    services: Annotated[Services, Depends(get_services)],
    trace_id: Annotated[str | None, Query(description="only records of this trace (32 hex digits)")] = None,
    span_id: Annotated[str | None, Query(description="only records of this span (16 hex digits)")] = None,
    service: Annotated[str | None, Query(description="service.name of the sender")] = None,
    severity: Annotated[
        str | None, Query(description="minimum severity: TRACE, DEBUG, INFO, WARN, ERROR, FATAL or a number 1-24")
    ] = None,
    start: Annotated[int | None, time_query("start", "records at or after this time")] = None,
    end: Annotated[int | None, time_query("end", "records at or before this time")] = None,
    contains: Annotated[str | None, Query(description="text the body contains (case-insensitive)")] = None,
    limit: Annotated[int, limit_query(1000, "records per page")] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Response:
    """Log records, newest first; a string body is served as its text, any other body as its JSON value."""
    f = LogFilter(
        trace_id=_trace_id(trace_id),
        span_id=_span_id(span_id),
        service=service,
        min_severity=_severity(severity),
        start_ns=start,
        end_ns=end,
        contains=contains or None,
    )
    rows, next_cursor = services.store.log_records(f, limit=limit, cursor=_cursor(cursor))
    logs = [log_json(r) for r in rows]
    return json_response({"logs": logs, "count": len(logs), "next_cursor": next_cursor})


@router.get("/metric-points", responses={**ok(MetricPointList), **errors.documented("rest", 400)})
def list_metric_points(
    services: Annotated[Services, Depends(get_services)],
    name: Annotated[str | None, Query(description="metric name, e.g. gen_ai.client.token.usage")] = None,
    service: Annotated[str | None, Query(description="service.name of the sender")] = None,
    start: Annotated[int | None, time_query("start", "points at or after this time")] = None,
    end: Annotated[int | None, time_query("end", "points at or before this time")] = None,
    limit: Annotated[int, limit_query(1000, "points per page")] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Response:
    """Metric data points, newest first: ``value`` for gauges and sums, ``data`` for the whole point."""
    f = MetricFilter(name=name, service=service, start_ns=start, end_ns=end)
    rows, next_cursor = services.store.metric_points(f, limit=limit, cursor=_cursor(cursor))
    points = [{"time": iso(r["time_ns"]), **r} for r in rows]
    return json_response({"points": points, "count": len(points), "next_cursor": next_cursor})
