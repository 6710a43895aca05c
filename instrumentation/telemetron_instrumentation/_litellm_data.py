"""Reading what LiteLLM hands its callbacks: response objects, usage, metadata, times, its logging queue."""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from . import semconv
from ._ratelimit import int_or_none

_log = logging.getLogger(__name__)


def drain_logging_queue(timeout: float) -> None:
    """Run LiteLLM's async logging queue to empty on a fresh loop (a private LiteLLM object; absent is fine)."""
    try:
        asyncio.get_running_loop()
        return  # cannot block a running loop; its own worker drains the queue
    except RuntimeError:
        pass
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

        # clear_queue runs what a closed loop left queued; before LiteLLM 1.106 flush() would wait
        # for those forever on a new loop.
        asyncio.run(asyncio.wait_for(GLOBAL_LOGGING_WORKER.clear_queue(), timeout))
    except Exception:
        _log.debug("telemetron: could not drain LiteLLM's logging queue", exc_info=True)


def get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise, None when absent; LiteLLM's pydantic objects fast."""
    if type(obj) is dict:
        return obj.get(key)
    fields = getattr(obj, "__dict__", None)
    if fields is not None:
        value = fields.get(key)
        if value is not None or key in fields:
            return value
        if _plain_pydantic_field(type(obj), key):
            # What pydantic's __getattr__ would find, without raising and catching AttributeError.
            extra = obj.__pydantic_extra__
            return extra.get(key) if extra else None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


_PLAIN_PYDANTIC_FIELDS: dict[tuple[type, str], bool] = {}


def _plain_pydantic_field(cls: type, key: str) -> bool:
    """True if ``cls`` is a pydantic model on which only pydantic's ``__getattr__`` (extras) could find ``key``."""
    plain = _PLAIN_PYDANTIC_FIELDS.get((cls, key))
    if plain is None:
        plain = (
            issubclass(cls, BaseModel)
            and getattr(cls, "__getattr__", None) is getattr(BaseModel, "__getattr__", None)
            and not hasattr(cls, key)  # no property or method of that name
        )
        if len(_PLAIN_PYDANTIC_FIELDS) < 1024:
            _PLAIN_PYDANTIC_FIELDS[(cls, key)] = plain
    return plain


_NO_FIELDS: dict = {}


def usage_attributes(usage: Any, attributes: dict) -> tuple[int | None, int | None]:
    if usage is None:
        return None, None
    fields = usage if type(usage) is dict else getattr(usage, "__dict__", None) or _NO_FIELDS
    # The counts are plain fields on LiteLLM's Usage: read them straight from its dict when there.
    input_tokens = fields.get("prompt_tokens")
    if type(input_tokens) is not int:
        input_tokens = int_or_none(get(usage, "prompt_tokens"))
        if input_tokens is None:
            input_tokens = int_or_none(get(usage, "input_tokens"))
    output_tokens = fields.get("completion_tokens")
    if type(output_tokens) is not int:
        output_tokens = int_or_none(get(usage, "completion_tokens"))
        if output_tokens is None:
            output_tokens = int_or_none(get(usage, "output_tokens"))
    if input_tokens is not None:
        attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    if output_tokens is not None:
        attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    prompt_details = (
        fields["prompt_tokens_details"] if "prompt_tokens_details" in fields else get(usage, "prompt_tokens_details")
    )
    cached = int_or_none(get(prompt_details, "cached_tokens")) if prompt_details is not None else None
    if cached is None:
        cached = int_or_none(get(usage, "cache_read_input_tokens"))
    # Cache and reasoning counts only when there are some: every attribute costs on every call.
    if cached:
        attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cached
    created = int_or_none(get(usage, "cache_creation_input_tokens"))
    if created is None and prompt_details is not None:
        created = int_or_none(get(prompt_details, "cache_creation_tokens"))
    if created:
        attributes[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = created
    completion_details = (
        fields["completion_tokens_details"]
        if "completion_tokens_details" in fields
        else get(usage, "completion_tokens_details")
    )
    if completion_details is not None:
        reasoning = int_or_none(get(completion_details, "reasoning_tokens"))
        if reasoning:
            attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
    return input_tokens, output_tokens


def conversation_from_litellm(litellm_params: Mapping) -> str | None:
    metadata = litellm_params.get("metadata") or {}
    if isinstance(metadata, Mapping):
        for key in (semconv.GEN_AI_CONVERSATION_ID, "conversation_id", "session_id"):
            if metadata.get(key):
                return str(metadata[key])
    return litellm_params.get("litellm_session_id")


def to_ns(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return int(value.timestamp() * 1e9)
    if isinstance(value, (int, float)):
        return int(value * 1e9) if value < 1e12 else int(value)
    return None
