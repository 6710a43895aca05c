"""An agent's share of failed tasks jumping above its threshold and its own baseline.

When the failures come from a model or a tool that is itself reported failing, the agent's
issue is a symptom of that one and is folded into it.
"""

from __future__ import annotations

from ..issues import MAX_LISTED, Issue
from ..tasks import FAILED
from ..view import StateView
from ..window import NS
from .llm import failing_models


def error_rate_spike(view: StateView, now_ns: int) -> list[Issue]:
    settings = view.settings
    window = int(settings.spike_window_s * NS)
    since, baseline_since = now_ns - window, now_ns - 15 * window
    out: list[Issue] = []
    models = [(stats, issue) for stats, issue in failing_models(view, now_ns)]
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
                explained_by=_cause(view, agent.name, recent, models, now_ns - int(settings.issue_window_s * NS)),
            )
        )
    return out


def _cause(view: StateView, agent: str, recent: list, models: list, since: int) -> str | None:
    """A failing model this agent called, or a failing tool, seen in the same traces or with the same errors."""
    traces = {t.trace_id for t in recent}
    errors = {t.error for t in recent if t.error}
    for stats, issue in models:
        if agent in stats.agents and (traces & set(stats.error_traces) or errors & set(stats.error_counts)):
            return issue.id
    threshold = view.settings.tool_failure_threshold
    for tool in view.tools.tools.values():
        if tool.failures.count(since) >= threshold and traces & {f[1] for f in tool.recent_failures}:
            return f"tool_failing:tool:{tool.name}"
    return None
