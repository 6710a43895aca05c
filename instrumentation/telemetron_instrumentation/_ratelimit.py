"""Provider rate-limit state from the response headers LiteLLM passes on.

Limits and remaining counts are ints; resets are seconds until the provider's window resets (a
double), parsed from ``"6m0s"``, ``"20ms"``, ``"1s"``, a number, or an RFC 3339 time.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from typing import Any

from . import semconv

# (attribute, keys in LiteLLM's additional_headers: parsed OpenAI-style first, then raw headers)
_RATE_LIMIT_HEADERS = (
    (
        semconv.LLM_RATELIMIT_REQUESTS_LIMIT,
        True,
        (
            "x_ratelimit_limit_requests",
            "llm_provider-x-ratelimit-limit-requests",
            "llm_provider-anthropic-ratelimit-requests-limit",
        ),
    ),
    (
        semconv.LLM_RATELIMIT_REQUESTS_REMAINING,
        True,
        (
            "x_ratelimit_remaining_requests",
            "llm_provider-x-ratelimit-remaining-requests",
            "llm_provider-anthropic-ratelimit-requests-remaining",
        ),
    ),
    (
        semconv.LLM_RATELIMIT_REQUESTS_RESET,
        False,
        (
            "x_ratelimit_reset_requests",
            "llm_provider-x-ratelimit-reset-requests",
            "llm_provider-anthropic-ratelimit-requests-reset",
        ),
    ),
    (
        semconv.LLM_RATELIMIT_TOKENS_LIMIT,
        True,
        (
            "x_ratelimit_limit_tokens",
            "llm_provider-x-ratelimit-limit-tokens",
            "llm_provider-anthropic-ratelimit-tokens-limit",
        ),
    ),
    (
        semconv.LLM_RATELIMIT_TOKENS_REMAINING,
        True,
        (
            "x_ratelimit_remaining_tokens",
            "llm_provider-x-ratelimit-remaining-tokens",
            "llm_provider-anthropic-ratelimit-tokens-remaining",
        ),
    ),
    (
        semconv.LLM_RATELIMIT_TOKENS_RESET,
        False,
        (
            "x_ratelimit_reset_tokens",
            "llm_provider-x-ratelimit-reset-tokens",
            "llm_provider-anthropic-ratelimit-tokens-reset",
        ),
    ),
)

# The same as (attribute, is_count, first key, the other keys), for one lookup of the first key.
_LOOKUPS = tuple((attribute, is_count, keys[0], keys[1:]) for attribute, is_count, keys in _RATE_LIMIT_HEADERS)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def rate_limit_attributes(headers: Mapping, attributes: dict) -> None:
    """Set the rate-limit attributes found in LiteLLM's ``additional_headers``, in a fixed order."""
    if type(headers) is dict and _openai_layout(headers, attributes):
        return
    get = headers.get
    for attribute, is_count, first, others in _LOOKUPS:
        value = get(first)
        if type(value) is int:  # LiteLLM's parsed OpenAI-style count: the common case, no loop
            attributes[attribute] = value if is_count else float(value)
            continue
        for key in others if value is None else (first, *others):
            value = get(key)
            if value is None:
                continue
            parsed: float | None
            if type(value) is int:  # LiteLLM's parsed OpenAI-style counts
                parsed = value if is_count else float(value)
            elif value == "":
                continue
            elif is_count:
                parsed = int_or_none(value)
            else:
                parsed = _RESET_CACHE.get(value) if type(value) is str else None
                if parsed is None:
                    parsed = _reset_seconds_cached(value)
            if parsed is not None:
                attributes[attribute] = parsed
                break


def _openai_layout(headers: dict, attributes: dict) -> bool:
    """What LiteLLM passes on from OpenAI and OpenAI-compatible servers, nearly every call, read
    straight through: the four counts it parsed (x_ratelimit_*), no parsed resets, and the raw reset
    headers already in the cache. Sets what the general loop would set, or returns False for the loop.
    """
    get = headers.get
    requests_limit = get("x_ratelimit_limit_requests")
    requests_remaining = get("x_ratelimit_remaining_requests")
    tokens_limit = get("x_ratelimit_limit_tokens")
    tokens_remaining = get("x_ratelimit_remaining_tokens")
    raw_requests_reset = get("llm_provider-x-ratelimit-reset-requests")
    raw_tokens_reset = get("llm_provider-x-ratelimit-reset-tokens")
    if not (
        type(requests_limit) is int
        and type(requests_remaining) is int
        and type(tokens_limit) is int
        and type(tokens_remaining) is int
        and type(raw_requests_reset) is str
        and type(raw_tokens_reset) is str
        and "x_ratelimit_reset_requests" not in headers
        and "x_ratelimit_reset_tokens" not in headers
    ):
        return False
    requests_reset, tokens_reset = _RESET_CACHE.get(raw_requests_reset), _RESET_CACHE.get(raw_tokens_reset)
    if requests_reset is None or tokens_reset is None:  # not parsed yet: the loop parses them and keeps them
        return False
    attributes[semconv.LLM_RATELIMIT_REQUESTS_LIMIT] = requests_limit
    attributes[semconv.LLM_RATELIMIT_REQUESTS_REMAINING] = requests_remaining
    attributes[semconv.LLM_RATELIMIT_REQUESTS_RESET] = requests_reset
    attributes[semconv.LLM_RATELIMIT_TOKENS_LIMIT] = tokens_limit
    attributes[semconv.LLM_RATELIMIT_TOKENS_REMAINING] = tokens_remaining
    attributes[semconv.LLM_RATELIMIT_TOKENS_RESET] = tokens_reset
    return True


_RESET_CACHE: dict[str, float | None] = {}


def _reset_seconds_cached(value: Any) -> float | None:
    # Providers send a handful of distinct strings ("4s", "59s"...): parse each once. Times of day
    # ("...Z", "...T...") are never cached, so a hit needs no other check.
    if type(value) is str:
        parsed = _RESET_CACHE.get(value)
        if parsed is not None:
            return parsed
    if not isinstance(value, str) or value[-1:] == "Z" or "T" in value:
        return parse_reset_seconds(value)
    parsed = _RESET_CACHE.get(value)
    if parsed is None:
        parsed = parse_reset_seconds(value)
        if len(_RESET_CACHE) > 512:
            _RESET_CACHE.clear()
        _RESET_CACHE[value] = parsed
    return parsed


def parse_reset_seconds(value: Any) -> float | None:
    """Seconds until a rate-limit window resets: ``"6m0s"``, ``"20ms"``, ``"1.5"`` or an RFC 3339 time."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.replace(".", "", 1).isdigit():
        return float(text)
    parts = _DURATION_PART.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    try:
        when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return max(0.0, (when - _dt.datetime.now(_dt.UTC)).total_seconds())
