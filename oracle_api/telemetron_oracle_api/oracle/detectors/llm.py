"""LLM models near or over their rate limits, and models answering with errors.

The subject of an error storm is the failing model and the endpoint serving it, never the
provider name: ``openai`` names every OpenAI-compatible endpoint, so one failing model would be
diluted among all of them.
"""

from __future__ import annotations

from ..issues import MAX_LISTED, Issue
from ..llm import ModelStats
from ..view import StateView
from ..window import NS


def llm_limits_and_errors(view: StateView, now_ns: int) -> list[Issue]:
    settings = view.settings
    since = now_ns - int(settings.issue_window_s * NS)
    out = []
    for stats in view.llm.models.values():
        name = f"{stats.provider}/{stats.model}"
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
    out.extend(issue for _, issue in failing_models(view, now_ns))
    return out


def failing_models(view: StateView, now_ns: int) -> list[tuple[ModelStats, Issue]]:
    """Each model whose calls fail (5xx-type errors, or a high error rate, 429s excluded), with its incident."""
    settings = view.settings
    since = now_ns - int(settings.issue_window_s * NS)
    out = []
    for stats in view.llm.models.values():
        requests = stats.requests.count(since)
        server = stats.server_errors.count(since)
        errors = stats.errors.count(since) - stats.rate_limited.count(since)
        rate = errors / requests if requests else 0.0
        if server < settings.provider_server_errors and not (
            requests >= settings.provider_error_min_requests and rate >= settings.provider_error_rate
        ):
            continue
        name = f"{stats.provider}/{stats.model}"
        endpoint = stats.error_servers.most_common(1)[0][0] if stats.error_servers else None
        types = [t for t, _ in stats.error_counts.most_common(MAX_LISTED)]
        at = f" at {endpoint}" if endpoint else ""
        issue = Issue(
            "llm_provider_errors",
            "error",
            "model",
            name,
            f"model {stats.model}{at} failed {errors} of {requests} calls in {settings.issue_window_s:g}s "
            f"({rate:.0%}; {server} server errors"
            + (f": {', '.join(types[:3])}" if types else "")
            + (f"; status {', '.join(sorted(stats.error_statuses))}" if stats.error_statuses else "")
            + ")",
            trace_ids=list(reversed(stats.error_traces)),
            numbers={"errors": errors, "server_errors": server, "requests": requests, "error_rate": round(rate, 3)},
            details={
                "models": [stats.model],
                "error_types": types,
                "status_codes": dict(stats.error_statuses.most_common(MAX_LISTED)),
                "last_error": stats.last_error,
                "agents": sorted(stats.agents)[:MAX_LISTED],
            },
            entity_extra={
                "provider": stats.provider,
                "model": stats.model,
                **({"server_address": endpoint} if endpoint else {}),
            },
            hint="telemetron llm",
        )
        out.append((stats, issue))
    return out
