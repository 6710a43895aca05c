"""``GET /api/v1/traces/{id}/timeline``: a trace's spans and span events in time order, each step labelled."""

from __future__ import annotations

from typing import Annotated

import telemetron_semconv as sc
from fastapi import APIRouter, Depends, HTTPException

from ..formats import STATUS_CODES, iso, span_kind_name
from . import errors, steps
from ._respond import json_response
from .deps import Services, get_services
from .params import normalize_trace_id
from .schemas import Timeline, ok

router = APIRouter(prefix="/api/v1", tags=["traces"])


def _details(step: str, row: dict, attributes: dict) -> dict:
    """The few fields that say what a step did, by kind."""
    if step == steps.LLM:
        return {
            "provider": row["provider"],
            "request_model": row["request_model"],
            "response_model": row["response_model"],
            "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"],
            "cost_usd": attributes.get(sc.LLM_COST_USD),
            "finish_reasons": attributes.get(sc.GEN_AI_RESPONSE_FINISH_REASONS),
        }
    if step == steps.HANDOFF:
        source, target = steps.handoff_ends(row["name"], attributes) or (None, None)
        return {"source": source, "target": target, "reason": attributes.get(sc.HANDOFF_REASON)}
    if step == steps.TOOL:
        return {"tool": steps.tool_name(row["name"], attributes), "call_id": attributes.get(sc.GEN_AI_TOOL_CALL_ID)}
    if step == steps.QUEUE:
        return {
            "destination": attributes.get(sc.MESSAGING_DESTINATION_NAME),
            "operation": attributes.get(sc.MESSAGING_OPERATION_TYPE),
            "task_id": attributes.get(sc.TASK_ID),
        }
    if step == steps.AGENT:
        return {"task_id": attributes.get(sc.TASK_ID)}
    return {}


def build_timeline(rows: list[dict], active: list[dict]) -> dict:
    """Chronological steps: every span (at its start) and every span event, plus work still in progress."""
    parsed = [(row, row["attributes"]) for row in rows]
    agent_of_span = {
        row["span_id"]: (row["agent_name"] or row["name"].partition(" ")[2] or row["name"])
        for row, attrs in parsed
        if steps.step_kind(row["operation"], row["name"], row["kind"], attrs) == steps.AGENT
    }
    for item in active:
        if item["operation"] in (sc.OP_INVOKE_AGENT, sc.OP_CREATE_AGENT) and item["agent_name"]:
            agent_of_span.setdefault(item["span_id"], item["agent_name"])
    parents = [(row["span_id"], row["parent_span_id"], agent_of_span.get(row["span_id"])) for row, _ in parsed]
    parents += [(a["span_id"], a["parent_span_id"], agent_of_span.get(a["span_id"])) for a in active]
    resolver = steps.AgentResolver(parents)
    t0 = min([row["start_ns"] for row in rows] + [a["start_ns"] for a in active]) if rows or active else 0
    depth: dict[str, int] = {}
    parent_of = {span_id: parent for span_id, parent, _ in parents}

    def depth_of(span_id: str) -> int:
        if span_id not in depth:
            chain, current = [], span_id
            while current in parent_of and current not in depth and current not in chain:
                chain.append(current)
                current = parent_of[current]
            base = depth.get(current, -1) if current in parent_of else -1
            for i, node in enumerate(reversed(chain)):
                depth[node] = base + 1 + i
        return depth[span_id]

    entries = []
    for row, attrs in parsed:
        step = steps.step_kind(row["operation"], row["name"], row["kind"], attrs, row["request_model"], row["provider"])
        agent = resolver.owner(row["span_id"])
        if step == steps.HANDOFF:
            source = (steps.handoff_ends(row["name"], attrs) or (None, None))[0]
            agent = source or agent
        entries.append(
            {
                "type": "span",
                "step": step,
                "agent": agent,
                "parent_agent": resolver.parent_agent(row["span_id"]) if step == steps.AGENT else None,
                "name": row["name"],
                "trace_id": row["trace_id"],
                "span_id": row["span_id"],
                "parent_span_id": row["parent_span_id"],
                "service_name": row["service_name"],
                "span_kind": span_kind_name(row["kind"]),
                "depth": depth_of(row["span_id"]),
                "time": iso(row["start_ns"]),
                "start_ns": row["start_ns"],
                "end_ns": row["end_ns"],
                "offset_ms": (row["start_ns"] - t0) / 1e6,
                "duration_ms": row["duration_ns"] / 1e6,
                "status": STATUS_CODES[row["status_code"]],
                "status_message": row["status_message"],
                "error": row["status_code"] == 2,
                "in_progress": False,
                "details": _details(step, row, attrs),
            }
        )
        for event in row["events"]:
            entries.append(
                {
                    "type": "event",
                    "step": step,
                    "agent": agent,
                    "name": event["name"],
                    "trace_id": row["trace_id"],
                    "span_id": row["span_id"],
                    "span_name": row["name"],
                    "depth": depth_of(row["span_id"]) + 1,
                    "time": iso(event["time_ns"]),
                    "start_ns": event["time_ns"],
                    "offset_ms": (event["time_ns"] - t0) / 1e6,
                    "error": event["name"] == "exception",
                    "attributes": event["attributes"],
                }
            )
    for item in active:
        step = steps.step_kind(item["operation"], item["name"], item["kind"], item["attributes"])
        entries.append(
            {
                "type": "span",
                "step": step,
                "agent": resolver.owner(item["span_id"]),
                "name": item["name"],
                "trace_id": item["trace_id"],
                "span_id": item["span_id"],
                "parent_span_id": item["parent_span_id"],
                "service_name": item["service_name"],
                "span_kind": span_kind_name(item["kind"]),
                "depth": depth_of(item["span_id"]),
                "time": iso(item["start_ns"]),
                "start_ns": item["start_ns"],
                "end_ns": None,
                "offset_ms": (item["start_ns"] - t0) / 1e6,
                "duration_ms": None,
                "last_seen": iso(item["last_seen_ns"]),
                "status": "RUNNING",
                "error": False,
                "in_progress": True,
                "details": {},
            }
        )
    # Stable: a span comes before its own events at the same instant; parents before children.
    entries.sort(key=lambda e: (e["start_ns"], e["type"] == "event", e["depth"]))
    return {
        "trace_id": rows[0]["trace_id"] if rows else (active[0]["trace_id"] if active else None),
        "start_time": iso(t0),
        "steps": entries,
        "count": len(entries),
    }


@router.get("/traces/{trace_id}/timeline", responses={**ok(Timeline), **errors.documented("rest", 400, 404)})
def trace_timeline(trace_id: str, services: Annotated[Services, Depends(get_services)]):
    """Spans and span events in time order, each labelled agent / tool / llm / handoff / queue / other."""
    tid = normalize_trace_id(trace_id)
    if tid is None:
        raise HTTPException(400, f"invalid trace id {trace_id!r}: expected 16 or 32 hex digits")
    rows = services.store.trace_spans(tid)
    active = services.store.active_spans(tid)
    if not rows and not active:
        raise HTTPException(404, f"trace {trace_id} not found")
    return json_response(build_timeline(rows, active))
