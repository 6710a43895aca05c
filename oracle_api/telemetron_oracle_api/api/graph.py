"""``GET /api/v1/traces/{id}/graph``: who called whom in one trace.

Nodes are agents, tools and models (and a service, for calls made outside any agent). Edges:
``delegation`` (an agent span inside another agent's span), ``handoff`` (a ``transfer_to_<agent>``
span, source to target) and ``call`` (an agent's tool and LLM spans). Each edge carries its count,
errors and total/average duration.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from . import errors, steps
from ._respond import json_response
from .deps import Services, get_services
from .params import normalize_trace_id
from .schemas import Graph, ok

router = APIRouter(prefix="/api/v1", tags=["traces"])


class _Tally:
    __slots__ = ("count", "errors", "total_ns")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.total_ns = 0

    def add(self, duration_ns: int, error: bool) -> None:
        self.count += 1
        self.errors += error
        self.total_ns += duration_ns

    def json(self) -> dict:
        return {
            "count": self.count,
            "errors": self.errors,
            "total_duration_ms": self.total_ns / 1e6,
            "avg_duration_ms": self.total_ns / 1e6 / self.count if self.count else 0.0,
        }


def build_graph(rows: list[dict]) -> dict:
    parsed = [(row, row["attributes"]) for row in rows]
    kinds = {
        row["span_id"]: steps.step_kind(
            row["operation"], row["name"], row["kind"], attrs, row["request_model"], row["provider"]
        )
        for row, attrs in parsed
    }
    agent_names = {
        row["span_id"]: (row["agent_name"] or row["name"].partition(" ")[2] or row["name"])
        for row, _ in parsed
        if kinds[row["span_id"]] == steps.AGENT
    }
    resolver = steps.AgentResolver(
        (r["span_id"], r["parent_span_id"], agent_names.get(r["span_id"])) for r, _ in parsed
    )
    nodes: dict[str, dict] = {}
    node_tally: dict[str, _Tally] = {}
    edges: dict[tuple[str, str, str], _Tally] = {}

    def node(kind: str, name: str) -> str:
        node_id = f"{kind}:{name}"
        if node_id not in nodes:
            nodes[node_id] = {"id": node_id, "type": kind, "name": name}
            node_tally[node_id] = _Tally()
        return node_id

    def edge(source: str, target: str, kind: str, duration_ns: int, error: bool) -> None:
        edges.setdefault((source, target, kind), _Tally()).add(duration_ns, error)

    for row, attrs in parsed:
        span_id, kind = row["span_id"], kinds[row["span_id"]]
        duration, error = row["duration_ns"], row["status_code"] == 2
        if kind == steps.OTHER or kind == steps.QUEUE:
            continue
        owner = resolver.parent_agent(span_id) if kind == steps.AGENT else resolver.owner(span_id)
        if kind == steps.AGENT and not owner:
            node_tally[node("agent", agent_names[span_id])].add(duration, error)
            continue
        caller = node("agent", owner) if owner else node("service", row["service_name"])
        if kind == steps.AGENT:
            me = node("agent", agent_names[span_id])
            node_tally[me].add(duration, error)
            if owner:
                edge(caller, me, "delegation", duration, error)
        elif kind == steps.HANDOFF:
            source, target = steps.handoff_ends(row["name"], attrs) or (None, None)
            src = node("agent", source) if source else caller
            if target:
                dst = node("agent", target)
                edge(src, dst, "handoff", duration, error)
        elif kind == steps.TOOL:
            tool = node("tool", steps.tool_name(row["name"], attrs) or row["name"])
            node_tally[tool].add(duration, error)
            edge(caller, tool, "call", duration, error)
        elif kind == steps.LLM:
            model = node("model", row["request_model"] or row["response_model"] or row["provider"] or row["name"])
            node_tally[model].add(duration, error)
            edge(caller, model, "call", duration, error)
    return {
        "trace_id": rows[0]["trace_id"] if rows else None,
        "nodes": [{**n, **node_tally[n["id"]].json()} for n in nodes.values()],
        "edges": [{"source": s, "target": t, "type": kind, **tally.json()} for (s, t, kind), tally in edges.items()],
    }


@router.get("/traces/{trace_id}/graph", responses={**ok(Graph), **errors.documented("rest", 400, 404)})
def trace_graph(trace_id: str, services: Annotated[Services, Depends(get_services)]):
    """Agents, tools and models as nodes; delegation, handoff and call edges with counts and durations."""
    tid = normalize_trace_id(trace_id)
    if tid is None:
        raise HTTPException(400, f"invalid trace id {trace_id!r}: expected 16 or 32 hex digits")
    rows = services.store.trace_spans(tid)
    if not rows:
        raise HTTPException(404, f"trace {trace_id} not found")
    return json_response(build_graph(rows))
