"""REST: trace search and trace by id (the timeline and graph of a trace are in timeline.py and graph.py)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from ..store.search import TraceFilter, decode_cursor
from . import errors
from ._respond import json_response
from .deps import Services, get_services
from .params import (
    INT64_MAX,
    BadParameter,
    DurationMs,
    duration_ms_ns,
    limit_query,
    normalize_trace_id,
    time_query,
    unicode_pairs,
)
from .rest_model import trace_json, trace_summary_json
from .schemas import Trace, TraceList, ok

router = APIRouter(prefix="/api/v1", tags=["traces"])


def _parse_tags(tags: str | None) -> dict[str, str] | None:
    if not tags:
        return None
    try:
        value = json.loads(tags)
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"attributes must be a JSON object of strings: {exc}") from exc
    if not isinstance(value, dict):
        raise HTTPException(400, 'attributes must be a JSON object, e.g. {"gen_ai.request.model":"gpt-4o"}')
    return unicode_pairs(
        {str(k): (json.dumps(v) if not isinstance(v, str) else v) for k, v in value.items()}, "attributes"
    )


def _check_cursor(cursor: str) -> None:
    """A cursor this API issued holds a stored start time; anything else, however it decodes, is refused."""
    try:
        start_ns, _ = decode_cursor(cursor)
    except ValueError as exc:
        raise BadParameter("cursor", cursor, "expected the next_cursor of a previous page") from exc
    if not 0 <= start_ns <= INT64_MAX:
        raise BadParameter("cursor", cursor, "expected the next_cursor of a previous page")


@router.get("/traces", responses={**ok(TraceList), **errors.documented("rest", 400)})
def list_traces(
    services: Annotated[Services, Depends(get_services)],
    service: str | None = None,
    agent: str | None = None,
    model: str | None = None,
    status: Annotated[str | None, Query(pattern="^(ok|error)$")] = None,
    start: Annotated[int | None, time_query("start", "traces ending after this time")] = None,
    end: Annotated[int | None, time_query("end", "traces starting before this time")] = None,
    min_duration_ms: DurationMs = None,
    max_duration_ms: DurationMs = None,
    conversation_id: str | None = None,
    operation: str | None = None,
    attributes: Annotated[str | None, Query(description='JSON object, e.g. {"gen_ai.request.model":"gpt-4o"}')] = None,
    limit: Annotated[int, limit_query(1000, "traces per page")] = 20,
    cursor: str | None = None,
) -> Response:
    """Trace summaries, newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    if cursor:
        _check_cursor(cursor)
    f = TraceFilter(
        service=service,
        agent=agent,
        model=model,
        status=status,
        start_ns=start,
        end_ns=end,
        min_duration_ns=duration_ms_ns(min_duration_ms, "min_duration_ms") if min_duration_ms is not None else None,
        max_duration_ns=duration_ms_ns(max_duration_ms, "max_duration_ms") if max_duration_ms is not None else None,
        conversation_id=conversation_id,
        operation=operation,
        attributes=_parse_tags(attributes),
    )
    try:
        rows, next_cursor = services.store.list_traces(f, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    traces = [trace_summary_json(r) for r in rows]
    return json_response({"traces": traces, "count": len(traces), "next_cursor": next_cursor})


@router.get("/traces/{trace_id}", responses={**ok(Trace), **errors.documented("rest", 400, 404)})
def get_trace(trace_id: str, services: Annotated[Services, Depends(get_services)]):
    """Every span of the trace, each with its parent and children, plus spans still running."""
    tid = normalize_trace_id(trace_id)
    if tid is None:
        raise HTTPException(400, f"invalid trace id {trace_id!r}: expected 16 or 32 hex digits")
    text = trace_json(services.store, tid)
    if text is None:
        raise HTTPException(404, f"trace {trace_id} not found")
    return Response(text, media_type="application/json")
