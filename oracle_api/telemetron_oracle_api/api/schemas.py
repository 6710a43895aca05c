"""Success bodies as the OpenAPI document describes them, so that a client generated from it reads them right.

The routes return ready JSON bytes (``_respond.py``), so these models only document: they are
declared with ``responses={200: ...}``, never used to serialize. Extra keys are allowed, as the
Jaeger and Oracle contracts allow them; tests/test_api_schemathesis.py checks live answers against
them. The Oracle state is the JSON contract itself, oracle-state.schema.json.
"""

from __future__ import annotations

import copy
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from ..oracle.schema import schema as oracle_state_schema
from .errors import JaegerError

T = TypeVar("T")


class TraceSummary(BaseModel):
    trace_id: str
    root_name: str | None
    root_service: str | None
    services: list[str]
    start_time: str | None
    end_time: str | None
    start_ns: int
    end_ns: int
    duration_ms: float
    span_count: int
    error_count: int


class TraceList(BaseModel):
    """A page of trace summaries, newest first."""

    traces: list[TraceSummary]
    count: int
    next_cursor: str | None


class Trace(BaseModel):
    """Every span of a trace with its parent and children, plus spans still running."""

    trace_id: str
    summary: dict[str, Any]
    roots: list[Any]
    spans: list[dict[str, Any]]
    active_spans: list[dict[str, Any]]
    resources: dict[str, Any]


class Timeline(BaseModel):
    trace_id: str
    start_time: str | None
    steps: list[dict[str, Any]]
    count: int


class Graph(BaseModel):
    trace_id: str
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


class Window(BaseModel):
    start_time: str
    end_time: str


class Metrics(BaseModel):
    """Per agent, model and tool over the window."""

    window: Window
    agents: list[dict[str, Any]]
    models: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    spans: int


class Issues(BaseModel):
    """Open incidents within a token budget: ``issues`` in full, ``more`` briefly, the rest counted."""

    generated_at: str
    count: int
    by_severity: dict[str, int]
    issues: list[dict[str, Any]]
    truncated: bool
    more: list[dict[str, Any]] = []
    cursor: int = 0
    next_cursor: int | None = None
    omitted: int = 0
    budget_tokens: int = 0
    how_to_get_more: str = ""


class SnapshotRef(BaseModel):
    id: int
    taken_at: str
    note: str | None = None  # set when a diff's ``since`` predates every snapshot and the first one is used


class Diff(BaseModel):
    """An RFC 6902 JSON Patch between two states."""

    since: SnapshotRef
    keyed_by: str
    until: dict[str, Any]
    operations: int
    patch: list[dict[str, Any]]
    truncated: bool


class Snapshot(BaseModel):
    id: int
    taken_at: str
    reason: str
    stored_bytes: int


class Snapshots(BaseModel):
    snapshots: list[Snapshot]
    count: int


class Validation(BaseModel):
    valid: bool
    errors: list[dict[str, Any]]
    schema_: str = Field(alias="schema")


class JaegerEnvelope(BaseModel, Generic[T]):
    """Jaeger v1's envelope around every answer."""

    data: T
    total: int
    limit: int
    offset: int
    errors: list[JaegerError] | None


class JaegerOperation(BaseModel):
    name: str
    spanKind: str  # noqa: N815 - Jaeger's name


class JaegerDependency(BaseModel):
    parent: str
    child: str
    callCount: int  # noqa: N815 - Jaeger's name


class V3Services(BaseModel):
    services: list[str]


class V3Operations(BaseModel):
    operations: list[JaegerOperation]


class _ResourceSpans(BaseModel):
    resourceSpans: list[dict[str, Any]]  # noqa: N815 - OTLP's name


class V3Traces(BaseModel):
    """OTLP ``TracesData`` in JSON, wrapped as api_v3's gateway wraps it."""

    result: _ResourceSpans


class V3ServiceSummary(BaseModel):
    name: str
    spanCount: int  # noqa: N815 - Jaeger's name
    errorSpanCount: int | None = None  # noqa: N815


class V3TraceSummary(BaseModel):
    traceId: str  # noqa: N815 - Jaeger's names below
    rootServiceName: str | None = None  # noqa: N815
    rootOperationName: str | None = None  # noqa: N815
    minStartTimeUnixNano: str  # noqa: N815
    maxEndTimeUnixNano: str  # noqa: N815
    spanCount: int | None = None  # noqa: N815
    errorSpanCount: int | None = None  # noqa: N815
    orphanSpanCount: int | None = None  # noqa: N815
    services: list[V3ServiceSummary]


class V3TraceSummaries(BaseModel):
    summaries: list[V3TraceSummary]


def ok(model: type[BaseModel], description: str = "OK") -> dict:
    """``responses=`` entry for a 200 described by ``model``."""
    return {200: {"model": model, "description": description}}


def state_document(description: str) -> dict:
    """The 200 of the state routes: the contract's document, or ``{"log": ...}`` with ``format=log``."""
    state = {key: value for key, value in copy.deepcopy(oracle_state_schema()).items() if key not in ("$schema", "$id")}
    log = {"type": "object", "required": ["log"], "properties": {"log": {"type": "string"}}}
    return {200: {"description": description, "content": {"application/json": {"schema": {"anyOf": [state, log]}}}}}
