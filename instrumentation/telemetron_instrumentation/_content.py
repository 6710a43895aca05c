"""Chat messages in the GenAI conventions' JSON shape (role + parts), for opt-in content capture."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_ON_VALUES = {"true", "1", "yes", "on", "span_only", "span_and_event"}

# The conventions' finish reasons for output messages; OpenAI spells two of them differently.
_FINISH_REASONS = {"tool_calls": "tool_call", "function_call": "tool_call"}


def capture_enabled_from_env() -> bool:
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in _ON_VALUES


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _content_parts(content: Any) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict] = []
    for item in content if isinstance(content, list) else [content]:
        kind = _get(item, "type")
        if kind == "text":
            parts.append({"type": "text", "content": _get(item, "text", "")})
        elif kind == "image_url":
            url = _get(_get(item, "image_url", {}), "url", "")
            if url.startswith("data:"):
                mime, _, data = url[5:].partition(";base64,")
                parts.append({"type": "blob", "modality": "image", "mime_type": mime or None, "content": data})
            else:
                parts.append({"type": "uri", "modality": "image", "uri": url})
        elif isinstance(item, str):
            parts.append({"type": "text", "content": item})
        elif kind:
            parts.append({"type": str(kind)})
    return parts


def _tool_call_parts(message: Any) -> list[dict]:
    parts = []
    for call in _get(message, "tool_calls") or []:
        function = _get(call, "function") or {}
        parts.append(
            {
                "type": "tool_call",
                "id": _get(call, "id"),
                "name": _get(function, "name", ""),
                "arguments": _arguments(_get(function, "arguments")),
            }
        )
    return parts


def input_messages(messages: Any) -> list[dict]:
    """OpenAI-format request messages; system messages stay in the history, as the conventions ask."""
    out = []
    for message in messages or []:
        role = _get(message, "role") or "user"
        if role == "tool":
            parts = [
                {
                    "type": "tool_call_response",
                    "id": _get(message, "tool_call_id"),
                    "response": _get(message, "content"),
                }
            ]
        else:
            parts = _content_parts(_get(message, "content")) + _tool_call_parts(message)
        out.append({"role": role, "parts": parts})
    return out


def embedding_inputs(inputs: Any) -> list[dict]:
    items = inputs if isinstance(inputs, list) else [inputs]
    return [
        {"role": "user", "parts": [{"type": "text", "content": x if isinstance(x, str) else str(x)}]} for x in items
    ]


def output_messages(response: Any) -> list[dict]:
    out = []
    for choice in _get(response, "choices") or []:
        message = _get(choice, "message")
        finish = _get(choice, "finish_reason") or "stop"
        if message is None:  # text completion
            parts = _content_parts(_get(choice, "text"))
        else:
            parts = _content_parts(_get(message, "content")) + _tool_call_parts(message)
        out.append({"role": "assistant", "parts": parts, "finish_reason": _FINISH_REASONS.get(finish, finish)})
    return out


def system_instructions(value: Any) -> list[dict]:
    return _content_parts(value)


def tool_definitions(tools: Any) -> list[dict]:
    out = []
    for tool in tools or []:
        kind = _get(tool, "type") or "function"
        function = _get(tool, "function") or tool
        entry = {"type": kind, "name": _get(function, "name", "")}
        if _get(function, "description") is not None:
            entry["description"] = _get(function, "description")
        if _get(function, "parameters") is not None:
            entry["parameters"] = _get(function, "parameters")
        out.append(entry)
    return out


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
