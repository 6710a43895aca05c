"""LLM usage per model and provider: tokens and requests in the last 60 s, limits, cost, errors, latency.

Limits come from the provider's rate-limit headers (recorded on the span as
``telemetron.llm.ratelimit.*``) or, when a provider sends none, from configuration.

Unknown is not zero: a successful call that reported no token counts (a stream whose provider sent
no usage) adds nothing to the tokens or cost and is counted in ``calls_without_usage``; counts the
agent side estimated (``telemetron.llm.usage.estimated``) are counted and also shown apart.
"""

from __future__ import annotations

import json
import re
from collections import Counter, deque
from dataclasses import dataclass, field

import telemetron_semconv as sc

from ..model import SpanRecord
from . import _attrs
from .window import NS, Rolling

LLM_OPERATIONS = {sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_EMBEDDINGS, sc.OP_GENERATE_CONTENT}
_COST_KEYS = (sc.LLM_COST_USD, "gen_ai.usage.cost.amount", "gen_ai.usage.cost")
_RATE_LIMITED = re.compile(r"429|rate.?limit|too.?many.?requests", re.IGNORECASE)
_SERVER_ERROR = re.compile(
    r"^5\d\d$|internal.?server|service.?unavailable|bad.?gateway|gateway.?timeout|overloaded|"
    r"api.?connection|timeout|^APIError$",
    re.IGNORECASE,
)


def error_class(error_type: str | None, status_code: object = None) -> str | None:
    """'rate_limited', 'server' or 'client' for a failed call; None for a successful one."""
    if error_type is None:
        return None
    if _RATE_LIMITED.search(error_type) or str(status_code) == "429":
        return "rate_limited"
    if _SERVER_ERROR.search(error_type) or str(status_code).startswith("5"):
        return "server"
    return "client"


def is_llm_span(span: SpanRecord) -> bool:
    if span.operation in LLM_OPERATIONS:
        return True
    return span.operation is None and span.request_model is not None and span.kind == 3


@dataclass(slots=True)
class ModelStats:
    provider: str
    model: str
    tokens: Rolling = field(default_factory=lambda: Rolling(1, 60))
    requests: Rolling = field(default_factory=lambda: Rolling(10, 3600))
    errors: Rolling = field(default_factory=lambda: Rolling(10, 3600))
    server_errors: Rolling = field(default_factory=lambda: Rolling(10, 3600))
    rate_limited: Rolling = field(default_factory=lambda: Rolling(10, 3600))
    cost: Rolling = field(default_factory=lambda: Rolling(10, 3600))
    estimated_tokens: Rolling = field(default_factory=lambda: Rolling(1, 60))
    without_usage: Rolling = field(default_factory=lambda: Rolling(1, 60))
    requests_total: int = 0
    tokens_total: int = 0
    without_usage_total: int = 0
    estimated_total: int = 0
    rate_limited_total: int = 0
    server_errors_total: int = 0
    cost_total: float = 0.0
    error_counts: Counter = field(default_factory=Counter)
    last_error: dict | None = None
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=1000))
    error_traces: deque = field(default_factory=lambda: deque(maxlen=10))
    error_servers: Counter = field(default_factory=Counter)  # server.address of failed calls
    error_statuses: Counter = field(default_factory=Counter)  # http.response.status_code of failed calls
    # From the latest response that carried rate-limit headers.
    tokens_limit: float | None = None
    tokens_remaining: float | None = None
    tokens_reset_s: float | None = None
    requests_limit: float | None = None
    requests_remaining: float | None = None
    requests_reset_s: float | None = None
    ratelimit_seen_ns: int = 0
    last_seen_ns: int = 0
    agents: set = field(default_factory=set)


def parse_configured_limits(raw: str) -> dict[str, dict[str, float]]:
    """``{"openai/gpt-4o": {"tpm": 30000, "rpm": 500}, "gpt-4o-mini": {...}}`` (JSON)."""
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("llm_rate_limits must be a JSON object keyed by 'provider/model' or 'model'")
    return {str(k): {str(n): float(v) for n, v in dict(limits).items()} for k, limits in value.items()}


class LlmTracker:
    def __init__(self, configured_limits: dict[str, dict[str, float]] | None = None, max_models: int = 1000) -> None:
        self.models: dict[tuple[str, str], ModelStats] = {}
        self.configured = configured_limits or {}
        self._max = max_models

    def key_of(self, span: SpanRecord) -> tuple[str, str]:
        """The (provider, model) a call is counted under."""
        model = span.request_model or span.response_model or span.name.partition(" ")[2] or "unknown"
        return (span.provider or "unknown", model)

    def ended(self, span: SpanRecord) -> tuple[str, str]:
        """Count one finished call; returns its (provider, model) key. Its agent comes via ``attribute``."""
        key = self.key_of(span)
        provider, model = key
        stats = self.models.get(key)
        if stats is None:
            if len(self.models) >= self._max:
                return key
            stats = self.models[key] = ModelStats(provider, model)
        ended_ns = span.end_ns
        attrs = span.attributes
        usage_known = span.input_tokens is not None or span.output_tokens is not None
        tokens = (span.input_tokens or 0) + (span.output_tokens or 0)
        stats.tokens.add(ended_ns, tokens)
        if not usage_known and span.error_type is None:
            stats.without_usage.add(ended_ns)
            stats.without_usage_total += 1
        elif usage_known and attrs.get(sc.LLM_USAGE_ESTIMATED) is True:
            stats.estimated_tokens.add(ended_ns, tokens)
            stats.estimated_total += 1
        stats.requests.add(ended_ns)
        stats.requests_total += 1
        stats.tokens_total += tokens
        stats.last_seen_ns = max(stats.last_seen_ns, ended_ns)
        stats.latencies_ms.append((span.end_ns - span.start_ns) / 1e6)
        for key_name in _COST_KEYS:
            cost = _attrs.number(attrs, key_name)
            if cost is not None and (usage_known or cost):  # a 0 priced from no usage is not a fact either
                stats.cost.add(ended_ns, cost)
                stats.cost_total += cost
                break
        tokens_limit = _attrs.number(attrs, sc.LLM_RATELIMIT_TOKENS_LIMIT)
        requests_limit = _attrs.number(attrs, sc.LLM_RATELIMIT_REQUESTS_LIMIT)
        if tokens_limit is not None or requests_limit is not None:
            if ended_ns >= stats.ratelimit_seen_ns:
                stats.ratelimit_seen_ns = ended_ns
                stats.tokens_limit = tokens_limit
                stats.tokens_remaining = _attrs.number(attrs, sc.LLM_RATELIMIT_TOKENS_REMAINING)
                stats.tokens_reset_s = _attrs.number(attrs, sc.LLM_RATELIMIT_TOKENS_RESET)
                stats.requests_limit = requests_limit
                stats.requests_remaining = _attrs.number(attrs, sc.LLM_RATELIMIT_REQUESTS_REMAINING)
                stats.requests_reset_s = _attrs.number(attrs, sc.LLM_RATELIMIT_REQUESTS_RESET)
        error_type = span.error_type
        if error_type is not None:
            server, status = attrs.get(sc.SERVER_ADDRESS), attrs.get(sc.HTTP_RESPONSE_STATUS_CODE)
            kind = error_class(error_type, status)
            stats.errors.add(ended_ns)
            stats.error_counts[error_type] += 1
            stats.error_traces.append(span.trace_id)
            if server and len(stats.error_servers) < 20:
                stats.error_servers[str(server)] += 1
            if status is not None and len(stats.error_statuses) < 20:
                stats.error_statuses[str(status)] += 1
            if kind == "rate_limited":
                stats.rate_limited.add(ended_ns)
                stats.rate_limited_total += 1
            elif kind == "server":
                stats.server_errors.add(ended_ns)
                stats.server_errors_total += 1
            if stats.last_error is None or ended_ns >= stats.last_error["time_ns"]:
                stats.last_error = {
                    "type": error_type,
                    "message": (span.status_message or "")[:300],
                    "trace_id": span.trace_id,
                    "time_ns": ended_ns,
                }
        return key

    def attribute(self, key: tuple[str, str], agent: str) -> None:
        """A call's agent became known after the call was counted (its ancestors arrived later)."""
        stats = self.models.get(key)
        if stats is not None and len(stats.agents) < 100:
            stats.agents.add(agent)

    def limits(self, stats: ModelStats) -> tuple[float, float]:
        """(tpm_max, rpm_max): headers first, then configuration, else 0 (unknown)."""
        configured = self.configured.get(f"{stats.provider}/{stats.model}") or self.configured.get(stats.model) or {}
        tpm = stats.tokens_limit if stats.tokens_limit is not None else configured.get("tpm", 0.0)
        rpm = stats.requests_limit if stats.requests_limit is not None else configured.get("rpm", 0.0)
        return float(tpm), float(rpm)

    def window(self, stats: ModelStats, now_ns: int) -> tuple[float, int]:
        """(tokens, requests) in the 60 s before now."""
        since = now_ns - 60 * NS
        return stats.tokens.total(since), stats.tokens.count(since)

    def usage_gaps(self, stats: ModelStats, now_ns: int) -> tuple[float, int]:
        """(estimated tokens, calls without usage) in the 60 s before now."""
        since = now_ns - 60 * NS
        return stats.estimated_tokens.total(since), stats.without_usage.count(since)
