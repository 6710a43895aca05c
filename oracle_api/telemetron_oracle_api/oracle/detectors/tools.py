"""Tools failing repeatedly within the issue window."""

from __future__ import annotations

from ..issues import MAX_LISTED, Issue
from ..view import StateView
from ..window import NS


def failing_tools(view: StateView, now_ns: int) -> list[Issue]:
    settings = view.settings
    since = now_ns - int(settings.issue_window_s * NS)
    out = []
    for tool in view.tools.tools.values():
        failures = tool.failures.count(since)
        if failures < settings.tool_failure_threshold:
            continue
        recent = [f for f in tool.recent_failures if f[0] >= since]
        errors = sorted({f[2] for f in recent})
        out.append(
            Issue(
                "tool_failing",
                "error",
                "tool",
                tool.name,
                f"tool {tool.name} failed {failures} times in {settings.issue_window_s:g}s"
                + (f" ({', '.join(errors[:3])})" if errors else ""),
                trace_ids=[f[1] for f in reversed(recent)],
                numbers={
                    "failures": failures,
                    "calls": tool.calls.count(since),
                    "consecutive_failures": tool.consecutive_failures,
                },
                details={"errors": errors[:MAX_LISTED], "agents": sorted(a for a in {f[3] for f in recent} if a)},
                hint=f"telemetron trace {recent[-1][1]}" if recent else "",
            )
        )
    return out
