"""A model's spend in the spike window above the configured rate or its own baseline."""

from __future__ import annotations

from ..issues import MAX_LISTED, Issue
from ..view import StateView
from ..window import NS


def cost_spike(view: StateView, now_ns: int) -> list[Issue]:
    settings = view.settings
    window = int(settings.spike_window_s * NS)
    since, baseline_since = now_ns - window, now_ns - 15 * window
    limit = settings.cost_spike_usd_per_min * settings.spike_window_s / 60
    out = []
    for stats in view.llm.models.values():
        cost = stats.cost.total(since)
        if cost <= 0:
            continue
        baseline = stats.cost.total(baseline_since, since) / 14
        relative = baseline > 0 and cost >= settings.spike_factor * baseline and cost >= limit / 10
        if cost < limit and not relative:
            continue
        name = f"{stats.provider}/{stats.model}"
        out.append(
            Issue(
                "cost_spike",
                "warning",
                "model",
                name,
                f"{name} cost ${cost:.2f} in the last {settings.spike_window_s:g}s "
                f"(baseline ${baseline:.2f} per window, alert at ${limit:.2f})",
                trace_ids=[],
                numbers={
                    "cost_usd": round(cost, 4),
                    "baseline_usd": round(baseline, 4),
                    "threshold_usd": round(limit, 4),
                    "requests": stats.tokens.count(since),
                },
                details={"agents": sorted(stats.agents)[:MAX_LISTED]},
                hint="telemetron llm",
            )
        )
    return out
