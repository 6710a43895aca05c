"""Reading what LiteLLM hands its callbacks: response objects, usage, metadata, times, its logging queue."""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
from collections.abc import Mapping
from typing import Any

from litellm.types.utils import ModelResponse, Usage
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
# LiteLLM's ModelResponse keeps usage among its pydantic extras, not as a field or property.
_USAGE_IN_EXTRAS = _plain_pydantic_field(ModelResponse, "usage")


def response_attributes(response: Any, attributes: dict) -> tuple[Any, int | None, int | None, Any]:
    """Set a response's id, model, finish reasons and token counts; returns (model, input tokens, output tokens, choices).

    One function for what every call reads: LiteLLM's responses keep id, model and choices in
    their ``__dict__`` and usage in their pydantic extras (one read each; the general lookup only
    when absent).
    """
    if _USAGE_IN_EXTRAS and type(response) is ModelResponse:
        found = _model_response_attributes(response, attributes)
        if found is not None:
            return found
    fields = response if type(response) is dict else getattr(response, "__dict__", None) or _NO_FIELDS
    response_id = fields.get("id") or get(response, "id")
    if response_id:
        attributes[semconv.GEN_AI_RESPONSE_ID] = response_id if type(response_id) is str else str(response_id)
    model = fields.get("model") or get(response, "model")
    if model:
        if type(model) is not str:
            model = str(model)
        attributes[semconv.GEN_AI_RESPONSE_MODEL] = model
    choices = fields.get("choices") or get(response, "choices")
    if choices:
        reasons = []
        for choice in choices:
            reason = (getattr(choice, "__dict__", None) or _NO_FIELDS).get("finish_reason") or get(
                choice, "finish_reason"
            )
            if reason:
                reasons.append(reason if type(reason) is str else str(reason))
        if reasons:
            attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(reasons)  # the SDK stores a tuple
    usage = fields.get("usage")
    if usage is None:
        if "usage" not in fields and _plain_pydantic_field(type(response), "usage"):
            usage = (response.__pydantic_extra__ or _NO_FIELDS).get("usage")  # LiteLLM's ModelResponse
        else:
            usage = get(response, "usage")
        if usage is None:
            return model, None, None, choices
    if _PLAIN_MODELS.get(type(usage)) or _is_plain_model(type(usage)):
        counts = _plain_usage_attributes(usage, attributes)
        if counts is not None:
            return model, counts[0], counts[1], choices
    input_tokens, output_tokens = _any_usage_attributes(usage, attributes)
    return model, input_tokens, output_tokens, choices


def _model_response_attributes(response: Any, attributes: dict) -> tuple[str, int, int, list] | None:
    """Nearly every chat call: LiteLLM's ModelResponse with one choice and LiteLLM's Usage, no cache or
    reasoning tokens. Read straight through (about 2 µs less a call than the general reader, in
    context); sets what the general reader would set, or sets nothing and returns None for it.
    """
    fields = response.__dict__
    if "usage" in fields:
        return None
    response_id, model, choices = fields.get("id"), fields.get("model"), fields.get("choices")
    usage = (response.__pydantic_extra__ or _NO_FIELDS).get("usage")
    if not (
        type(response_id) is str
        and response_id
        and type(model) is str
        and model
        and type(choices) is list
        and len(choices) == 1
        and type(usage) is Usage
    ):
        return None
    reason = (getattr(choices[0], "__dict__", None) or _NO_FIELDS).get("finish_reason")
    counts = usage.__dict__
    input_tokens, output_tokens = counts.get("prompt_tokens"), counts.get("completion_tokens")
    prompt, completion = counts.get("prompt_tokens_details"), counts.get("completion_tokens_details")
    if not (
        type(reason) is str
        and reason
        and type(input_tokens) is int
        and type(output_tokens) is int
        and not usage.__pydantic_extra__  # where other providers' cache counts are
        and (prompt is None or _PLAIN_MODELS.get(type(prompt)))
        and (completion is None or _PLAIN_MODELS.get(type(completion)))
    ):
        return None
    prompt_details = prompt.__dict__ if prompt is not None else _NO_FIELDS
    if (
        prompt_details.get("cached_tokens")
        or prompt_details.get("cache_creation_tokens")
        or (completion is not None and completion.__dict__.get("reasoning_tokens"))
    ):
        return None
    attributes[semconv.GEN_AI_RESPONSE_ID] = response_id
    attributes[semconv.GEN_AI_RESPONSE_MODEL] = model
    attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = (reason,)
    attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    return model, input_tokens, output_tokens, choices


def _plain_usage_attributes(usage: Any, attributes: dict) -> tuple[int, int] | None:
    """LiteLLM's Usage read straight from its fields (no lookup that can miss); None if it is not that shape."""
    fields = usage.__dict__
    input_tokens, output_tokens = fields.get("prompt_tokens"), fields.get("completion_tokens")
    prompt, completion = fields.get("prompt_tokens_details"), fields.get("completion_tokens_details")
    if (
        type(input_tokens) is not int
        or type(output_tokens) is not int
        or (prompt is not None and not (_PLAIN_MODELS.get(type(prompt)) or _is_plain_model(type(prompt))))
        or (completion is not None and not (_PLAIN_MODELS.get(type(completion)) or _is_plain_model(type(completion))))
    ):
        return None
    attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    cached = created = reasoning = None
    if prompt is not None:
        details = prompt.__dict__
        cached, created = details.get("cached_tokens"), details.get("cache_creation_tokens")
    if cached is None or created is None:
        extra = usage.__pydantic_extra__ or _NO_FIELDS
        if cached is None:
            cached = extra.get("cache_read_input_tokens")
        if created is None:
            created = extra.get("cache_creation_input_tokens")
    if completion is not None:
        reasoning = completion.__dict__.get("reasoning_tokens")
    if cached or created or reasoning:  # only when there are some: every attribute costs on every call
        for attribute, value in (
            (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, cached),
            (semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, created),
            (semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, reasoning),
        ):
            if value and (value := value if type(value) is int else int_or_none(value)):
                attributes[attribute] = value
    return input_tokens, output_tokens


def _any_usage_attributes(usage: Any, attributes: dict) -> tuple[int | None, int | None]:
    """Usage as a dict or any object, read through ``get``."""
    input_tokens = int_or_none(get(usage, "prompt_tokens"))
    if input_tokens is None:
        input_tokens = int_or_none(get(usage, "input_tokens"))
    output_tokens = int_or_none(get(usage, "completion_tokens"))
    if output_tokens is None:
        output_tokens = int_or_none(get(usage, "output_tokens"))
    if input_tokens is not None:
        attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    if output_tokens is not None:
        attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    prompt_details = get(usage, "prompt_tokens_details")
    cached = int_or_none(get(prompt_details, "cached_tokens")) if prompt_details is not None else None
    if cached is None:
        cached = int_or_none(get(usage, "cache_read_input_tokens"))
    if cached:
        attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cached
    created = int_or_none(get(prompt_details, "cache_creation_tokens")) if prompt_details is not None else None
    if created is None:
        created = int_or_none(get(usage, "cache_creation_input_tokens"))
    if created:
        attributes[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = created
    completion_details = get(usage, "completion_tokens_details")
    if completion_details is not None:
        reasoning = int_or_none(get(completion_details, "reasoning_tokens"))
        if reasoning:
            attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
    return input_tokens, output_tokens


_USAGE_KEYS = (
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cached_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
)
_PLAIN_MODELS: dict[type, bool] = {}


def _is_plain_model(cls: type) -> bool:
    """A pydantic model on which every usage key is its instance field or an extra (no property, no own lookup)."""
    plain = _PLAIN_MODELS.get(cls)
    if plain is None:
        plain = all(_plain_pydantic_field(cls, key) for key in _USAGE_KEYS)
        if len(_PLAIN_MODELS) < 256:
            _PLAIN_MODELS[cls] = plain
    return plain


def conversation_from_metadata(metadata: Any) -> str | None:
    """The conversation id a caller passed in LiteLLM's ``metadata``, if any."""
    if type(metadata) is dict or isinstance(metadata, Mapping):
        for key in _CONVERSATION_METADATA_KEYS:
            value = metadata.get(key)
            if value:
                return str(value)
    return None


_CONVERSATION_METADATA_KEYS = (semconv.GEN_AI_CONVERSATION_ID, "conversation_id", "session_id")
CONVERSATION_METADATA_KEYS = frozenset(_CONVERSATION_METADATA_KEYS)  # any of them: worth the lookup


def to_ns(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return int(value.timestamp() * 1e9)
    if isinstance(value, (int, float)):
        return int(value * 1e9) if value < 1e12 else int(value)
    return None
