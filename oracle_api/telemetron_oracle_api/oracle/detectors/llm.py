"""LLM models near or over their rate limits, and providers answering with errors."""

from __future__ import annotations

from ..issues import MAX_LISTED, Issue
from ..view import StateView
from ..window import NS


def llm_limits_and_errors(view: StateView, now_ns: int) -> list[Issue]:
    settings = view.settings
    since = now_ns - int(settings.issue_window_s * NS)
    out = []
    by_provider: dict[str, list] = {}
    for stats in view.llm.models.values():
        name = f"{stats.provider}/{stats.model}"
        by_provider.setdefault(stats.provider, []).append(stats)
        fresh = stats.ratelimit_seen_ns >= now_ns - 60 * NS
        low = []
        for what, remaining, limit in (
            ("tokens", stats.tokens_remaining, stats.tokens_limit),
            ("requests", stats.requests_remaining, stats.requests_limit),
        ):
            if fresh and remaining is not None and limit and remaining / limit < settings.ratelimit_remaining_ratio:
                low.append((what, remaining, limit))
        if low:
            numbers = {}
            for what, remaining, limit in low:
                numbers[f"{what}_remaining"] = remaining
                numbers[f"{what}_limit"] = limit
            out.append(
                Issue(
                    "llm_rate_limit_near",
                    "warning",
                    "model",
                    name,
                    f"{name} is close to its rate limit ("
                    + ", ".join(f"{w} {r:g}/{lim:g} left" for w, r, lim in low)
                    + "): calls will start failing with 429",
                    trace_ids=[],
                    numbers=numbers,
                    details={"agents": sorted(stats.agents)[:MAX_LISTED]},
                    hint="telemetron llm",
                )
            )
        limited = stats.rate_limited.count(since)
        if limited:
            out.append(
                Issue(
                    "llm_rate_limited",
                    "error",
                    "model",
                    name,
                    f"{name} answered {limited} calls with a rate-limit error (429) in {settings.issue_window_s:g}s",
                    trace_ids=list(reversed(stats.error_traces)),
                    numbers={"rate_limited": limited, "requests": stats.requests.count(since)},
                    details={"agents": sorted(stats.agents)[:MAX_LISTED]},
                    hint="telemetron llm",
                )
            )
    for provider, models in by_provider.items():
        requests = sum(m.requests.count(since) for m in models)
        server = sum(m.server_errors.count(since) for m in models)
        errors = sum(m.errors.count(since) - m.rate_limited.count(since) for m in models)
        rate = errors / requests if requests else 0.0
        if server < settings.provider_server_errors and not (
            requests >= settings.provider_error_min_requests and rate >= settings.provider_error_rate
        ):
            continue
        failing = [m for m in models if m.errors.count(since)]
        types = sorted({t for m in failing for t in m.error_counts})
        out.append(
            Issue(
                "llm_provider_errors",
                "error",
                "provider",
                provider,
                f"provider {provider} failed {errors} of {requests} calls in {settings.issue_window_s:g}s "
                f"({server} server errors" + (f": {', '.join(types[:3])}" if types else "") + ")",
                trace_ids=[t for m in failing for t in reversed(m.error_traces)],
                numbers={"errors": errors, "server_errors": server, "requests": requests, "error_rate": round(rate, 3)},
                details={
                    "models": sorted(m.model for m in failing),
                    "error_types": types[:MAX_LISTED],
                    "last_error": max(
                        (m.last_error for m in failing if m.last_error), key=lambda e: e["time_ns"], default=None
                    ),
                },
                hint="telemetron llm",
            )
        )
    return out
