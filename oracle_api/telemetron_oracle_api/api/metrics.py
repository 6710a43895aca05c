"""``GET /api/v1/metrics``: calls, errors, latency percentiles, tokens and cost per agent, model and tool.

Computed from the spans that started inside the window (``window=15m``, ``1h``, ``30s`` …).
An LLM call's tokens and cost count for its model and for the agent it ran in.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ..formats import iso
from . import errors, steps
from ._respond import json_response
from .deps import Services, get_services
from .params import AMOUNT, amount_ns
from .schemas import Metrics, ok

router = APIRouter(prefix="/api/v1", tags=["metrics"])


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100)
    return sorted_values[int(rank) - 1]


class _Group:
    __slots__ = ("calls", "cost", "durations", "errors", "input_tokens", "llm_calls", "output_tokens", "without_usage")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.durations: list[float] = []
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost = 0.0
        self.llm_calls = 0
        self.without_usage = 0

    def call(self, duration_ns: int, error: bool) -> None:
        self.calls += 1
        self.errors += error
        self.durations.append(duration_ns / 1e6)

    def usage(self, row) -> None:
        self.llm_calls += 1
        if row["input_tokens"] is None and row["output_tokens"] is None and row["status_code"] != 2:
            self.without_usage += 1  # unknown is not zero: counted apart, adds no tokens
        self.input_tokens += row["input_tokens"] or 0
        self.output_tokens += row["output_tokens"] or 0
        cost = row["cost_usd"]
        if isinstance(cost, (int, float)):
            self.cost += cost

    def json(self, name: str) -> dict:
        ordered = sorted(self.durations)
        return {
            "name": name,
            "calls": self.calls,
            "errors": self.errors,
            "error_rate": self.errors / self.calls if self.calls else 0.0,
            "latency_ms": {
                "p50": percentile(ordered, 50),
                "p95": percentile(ordered, 95),
                "p99": percentile(ordered, 99),
                "avg": sum(ordered) / len(ordered) if ordered else None,
            },
            "llm_calls": self.llm_calls,
            "calls_without_usage": self.without_usage,
            "tokens": {"input": self.input_tokens, "output": self.output_tokens},
            "cost_usd": round(self.cost, 10),
        }


def compute_metrics(rows, since_ns: int, until_ns: int) -> dict:
    rows = list(rows)
    agent_span_names: dict[tuple[str, str], str] = {}
    kinds = {}
    for row in rows:
        kind = steps.step_kind(row["operation"], row["name"], row["kind"], {}, row["request_model"], row["provider"])
        if row["tool_name"] is not None:
            kind = steps.TOOL
        if row["handoff_target"] is not None or (row["tool_name"] or "").startswith("transfer_to_"):
            kind = steps.HANDOFF
        kinds[(row["trace_id"], row["span_id"])] = kind
        if kind == steps.AGENT:
            agent_span_names[(row["trace_id"], row["span_id"])] = row["agent_name"] or row["name"].partition(" ")[2]
    parents = {(r["trace_id"], r["span_id"]): r["parent_span_id"] for r in rows}

    def owner(trace_id: str, span_id: str | None) -> str | None:
        seen = 0
        while span_id is not None and seen < 256:
            key = (trace_id, span_id)
            if key in agent_span_names:
                return agent_span_names[key]
            span_id = parents.get(key)
            seen += 1
        return None

    agents: dict[str, _Group] = {}
    models: dict[str, _Group] = {}
    tools: dict[str, _Group] = {}
    for row in rows:
        key = (row["trace_id"], row["span_id"])
        kind = kinds[key]
        duration, error = row["duration_ns"], row["status_code"] == 2
        if kind == steps.AGENT:
            agents.setdefault(agent_span_names[key], _Group()).call(duration, error)
        elif kind in (steps.TOOL, steps.HANDOFF):
            name = row["tool_name"] or row["name"].partition(" ")[2] or row["name"]
            tools.setdefault(name, _Group()).call(duration, error)
        elif kind == steps.LLM:
            model = row["request_model"] or row["provider"] or row["name"]
            group = models.setdefault(model, _Group())
            group.call(duration, error)
            group.usage(row)
            agent = owner(row["trace_id"], row["parent_span_id"])
            if agent:
                agents.setdefault(agent, _Group()).usage(row)
    return {
        "window": {"start_time": iso(since_ns), "end_time": iso(until_ns)},
        "agents": [g.json(n) for n, g in sorted(agents.items())],
        "models": [g.json(n) for n, g in sorted(models.items())],
        "tools": [g.json(n) for n, g in sorted(tools.items())],
        "spans": len(rows),
    }


@router.get("/metrics", responses={**ok(Metrics), **errors.documented("rest", 400)})
def metrics(
    services: Annotated[Services, Depends(get_services)],
    window: Annotated[
        str, Query(description="how far back from now, e.g. 30s, 15m, 1h, 7d", json_schema_extra=AMOUNT)
    ] = "15m",
):
    """Per agent, model and tool over the window: calls, errors, latency p50/p95/p99, tokens in/out, cost (USD)."""
    span_ns = amount_ns(window, "window")
    until = time.time_ns()
    since = until - span_ns
    result = compute_metrics(services.store.spans_in_window(since, until), since, until)
    return json_response(result)
