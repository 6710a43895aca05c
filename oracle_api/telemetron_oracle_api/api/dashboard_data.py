"""Time series the dashboard charts that no other endpoint gives: LLM usage per model over time.

``GET /api/v1/dashboard/llm-series?window=1h&step=60s``: for each model, per step, the calls,
errors, rate-limited calls, input and output tokens, cost, latency p50/p95 and the smallest
rate-limit headroom (tokens and requests remaining) its provider reported.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from ..oracle.llm import error_class
from ._respond import json_response
from .deps import Services, get_services
from .metrics import percentile
from .params import AMOUNT, amount_ns

router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"])

_MAX_POINTS = 2000


class _Series:
    """One model's arrays, one value per step."""

    def __init__(self, provider: str | None, points: int) -> None:
        self.provider = provider
        self.counts = {k: [0] * points for k in ("calls", "errors", "rate_limited", "input_tokens", "output_tokens")}
        self.cost = [0.0] * points
        self.durations: list[list[float]] = [[] for _ in range(points)]
        self.headroom: dict[str, list[float | None]] = {
            k: [None] * points for k in ("tokens_remaining", "requests_remaining")
        }

    def json(self, model: str) -> dict:
        ordered = [sorted(d) for d in self.durations]
        p50 = [percentile(d, 50) for d in ordered]
        p95 = [percentile(d, 95) for d in ordered]
        return {
            "model": model,
            "provider": self.provider,
            **self.counts,
            "cost_usd": [round(c, 6) for c in self.cost],
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            **self.headroom,
        }


@router.get("/llm-series")
def llm_series(
    services: Annotated[Services, Depends(get_services)],
    window: Annotated[
        str, Query(description="how far back from now, e.g. 15m, 1h, 1d", json_schema_extra=AMOUNT)
    ] = "1h",
    step: Annotated[str, Query(description="the width of one point, e.g. 10s, 1m", json_schema_extra=AMOUNT)] = "1m",
):
    """Per model and step: calls, errors, rate-limited calls, tokens, cost (USD), latency p50/p95 (ms), headroom."""
    span_ns, step_ns = amount_ns(window, "window"), amount_ns(step, "step")
    if step_ns <= 0 or span_ns // step_ns > _MAX_POINTS:
        raise HTTPException(400, f"window / step must be between 1 and {_MAX_POINTS} points")
    points = max(1, -(-span_ns // step_ns))
    until = time.time_ns()
    since = until - points * step_ns
    rows = services.store.llm_spans(since, until)
    by_model: dict[str, _Series] = {}
    for r in rows:
        i = min(points - 1, (r["start_ns"] - since) // step_ns)
        s = by_model.setdefault(r["request_model"], _Series(r["provider"], points))
        s.counts["calls"][i] += 1
        failed = r["status_code"] == 2 or r["error_type"] is not None
        if failed:
            s.counts["errors"][i] += 1
            if error_class(r["error_type"] or "") == "rate_limited":
                s.counts["rate_limited"][i] += 1
        s.counts["input_tokens"][i] += r["input_tokens"] or 0
        s.counts["output_tokens"][i] += r["output_tokens"] or 0
        s.cost[i] += r["cost_usd"] or 0.0
        s.durations[i].append(r["duration_ns"] / 1e6)
        for key in ("tokens_remaining", "requests_remaining"):
            if r[key] is not None:
                old = s.headroom[key][i]
                s.headroom[key][i] = r[key] if old is None else min(old, r[key])
    return json_response(
        {
            "step_seconds": step_ns / 1e9,
            "timestamps": [(since + (i + 1) * step_ns) / 1e9 for i in range(points)],
            "models": [by_model[m].json(m) for m in sorted(by_model)],
        }
    )
