"""Token counts for a streamed call whose provider was not asked to report usage.

OpenAI-style providers send a stream's usage only with ``stream_options={"include_usage": True}``.
Without it the counts LiteLLM hands over are its own estimate, or zero: unknown is not zero, so
they are counted with LiteLLM's token counter where missing and marked ``telemetron.llm.usage.estimated``.
A count that cannot be had is left out (no attribute, no histogram point), never recorded as 0.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from . import semconv
from ._litellm_data import get

_log = logging.getLogger(__name__)


def _output_text(response: Any) -> str:
    parts = []
    for choice in get(response, "choices") or ():
        message = get(choice, "message") or get(choice, "delta")
        content = get(message, "content") if message is not None else None
        if isinstance(content, str):
            parts.append(content)
    return "".join(parts)


def estimate_stream_usage(kwargs: Mapping, response: Any, attributes: dict) -> tuple[int | None, int | None]:
    """Fill missing or zero token counts from LiteLLM's counter, mark them estimated, return both."""
    input_tokens = attributes.get(semconv.GEN_AI_USAGE_INPUT_TOKENS) or None
    output_tokens = attributes.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS) or None
    try:
        import litellm

        model = kwargs.get("model") or ""
        if input_tokens is None and kwargs.get("messages"):
            input_tokens = litellm.token_counter(model=model, messages=kwargs["messages"])
        text = _output_text(response)
        if output_tokens is None and text:
            output_tokens = litellm.token_counter(model=model, text=text, count_response_tokens=True)
    except Exception:
        _log.debug("telemetron: could not estimate a stream's tokens", exc_info=True)
    for attribute, value in (
        (semconv.GEN_AI_USAGE_INPUT_TOKENS, input_tokens),
        (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens),
    ):
        if value:
            attributes[attribute] = value
        else:
            attributes.pop(attribute, None)  # never a 0 that was not counted
    if input_tokens or output_tokens:
        attributes[semconv.LLM_USAGE_ESTIMATED] = True
    return input_tokens or None, output_tokens or None
