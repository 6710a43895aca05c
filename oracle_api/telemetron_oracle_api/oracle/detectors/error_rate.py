"""An agent's share of failed tasks jumping above its threshold and its own baseline."""

from __future__ import annotations

from ..issues import MAX_LISTED, Issue
from ..tasks import FAILED
from ..view import StateView
from ..window import NS


def error_rate_spike(view: StateView, now_ns: int) -> list[Issue]:
    settings = view.settings
    window = int(settings.spike_window_s * NS)
    since, baseline_since = now_ns - window, now_ns - 15 * window
    out = []
    for agent in view.agents.agents.values():
        total = agent.finished.count(since)
        if total < settings.error_rate_min_count:
            continue
        failed = agent.failed.count(since)
        rate = failed / total
        base_total = agent.finished.count(baseline_since, since)
        base_rate = (
            agent.failed.count(baseline_since, since) / base_total
            if base_total >= settings.error_rate_min_count
            else 0.0
        )
        if rate < settings.error_rate_threshold or (base_rate > 0 and rate < settings.spike_factor * base_rate):
            continue
        recent = [t for t in agent.done if t.status == FAILED and (t.ended_ns or 0) >= since]
        out.append(
            Issue(
                "error_rate_spike",
                "error",
                "agent",
                agent.name,
                f"{failed} of {total} tasks of {agent.name} failed in the last {settings.spike_window_s:g}s "
                f"({rate:.0%}, baseline {base_rate:.0%})",
                trace_ids=[t.trace_id for t in reversed(recent)],
                numbers={
                    "failed": failed,
                    "total": total,
                    "error_rate": round(rate, 3),
                    "baseline_error_rate": round(base_rate, 3),
                },
                details={"errors": sorted({t.error for t in recent if t.error})[:MAX_LISTED]},
                hint=f"telemetron agents {agent.name}",
            )
        )
    return out
