"""Promote the fields the product queries, whichever LLM instrumentation wrote the span.

Accepted: the current GenAI conventions (ours), the deprecated ``gen_ai.system`` and
``gen_ai.usage.prompt/completion_tokens``, LiteLLM's built-in ``otel`` callback (GenAI names plus
``llm.*`` extras), OpenLLMetry (``llm.request.type``, ``traceloop.span.kind``) and OpenInference
(``openinference.span.kind``, ``llm.model_name``, ``embedding.model_name``, ``llm.token_count.*``,
``llm.provider``). The stored attributes are never rewritten; only the promoted columns are normalized:

- a model is named without its LiteLLM provider prefix (``openai/gpt-4o`` is model ``gpt-4o`` of
  provider ``openai``), whichever instrumentation wrote it, so every one gives the same model key;
- a provider missing from the span (LiteLLM ``otel`` and OpenInference embeddings) is taken from a
  ``provider/model`` the span names elsewhere (``litellm.provider.model``, the invocation parameters);
- a failed call whose ``error.type`` is missing or ``_OTHER`` (OpenInference) gets the exception
  event's type (``litellm.exceptions.RateLimitError`` -> ``RateLimitError``), else its HTTP status code.
"""

from __future__ import annotations

import json

import telemetron_semconv as sc

from ..model import SpanRecord

_PROVIDER_KEYS = (sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_SYSTEM_DEPRECATED, "llm.provider", "llm.system")
_REQUEST_MODEL_KEYS = (sc.GEN_AI_REQUEST_MODEL, "llm.request.model", "llm.model_name", "embedding.model_name")
_RESPONSE_MODEL_KEYS = (sc.GEN_AI_RESPONSE_MODEL, "llm.response.model", "llm.model_name", "embedding.model_name")
# Where LiteLLM's own "provider/model" string shows when the provider attribute is missing or empty.
_ROUTED_MODEL_KEYS = ("litellm.provider.model",)
_INVOCATION_PARAMETER_KEYS = ("llm.invocation_parameters", "embedding.invocation_parameters")
# Operation names older instrumentations write (LiteLLM otel's and OpenLLMetry's "embedding").
_OPERATION_ALIASES = {"embedding": sc.OP_EMBEDDINGS}
_INPUT_TOKEN_KEYS = (
    sc.GEN_AI_USAGE_INPUT_TOKENS,
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
_OUTPUT_TOKEN_KEYS = (
    sc.GEN_AI_USAGE_OUTPUT_TOKENS,
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
_AGENT_KEYS = (sc.GEN_AI_AGENT_NAME, "agent.name", "graph.node.id")

# OpenInference span kinds and OpenLLMetry request types / span kinds, as GenAI operations.
_OPENINFERENCE_OPERATION = {
    "LLM": sc.OP_CHAT,
    "EMBEDDING": sc.OP_EMBEDDINGS,
    "TOOL": sc.OP_EXECUTE_TOOL,
    "AGENT": sc.OP_INVOKE_AGENT,
    "CHAIN": sc.OP_INVOKE_WORKFLOW,
}
_OPENLLMETRY_REQUEST_TYPE = {
    "chat": sc.OP_CHAT,
    "completion": sc.OP_TEXT_COMPLETION,
    "embedding": sc.OP_EMBEDDINGS,
}
_TRACELOOP_KIND = {
    "agent": sc.OP_INVOKE_AGENT,
    "tool": sc.OP_EXECUTE_TOOL,
    "workflow": sc.OP_INVOKE_WORKFLOW,
}
# Provider spellings of older instrumentations mapped onto gen_ai.provider.name values.
_PROVIDER_ALIASES = {
    "OpenAI": "openai",
    "Anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}


def _first(attrs: dict, keys: tuple[str, ...]) -> object:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def _as_int(value: object) -> int | None:
    """A token count as an int that fits the store's signed 64-bit column, else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = int(value)  # type: ignore[call-overload]  # any attribute value; int() refusing it is caught below
    except (TypeError, ValueError, OverflowError):  # "x", NaN, Infinity
        return None
    return number if -(2**63) <= number < 2**63 else None


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _operation(attrs: dict) -> str | None:
    op = attrs.get(sc.GEN_AI_OPERATION_NAME)
    if op:
        return _OPERATION_ALIASES.get(str(op), str(op))
    kind = attrs.get("openinference.span.kind")
    if kind:
        return _OPENINFERENCE_OPERATION.get(str(kind).upper())
    request_type = attrs.get("llm.request.type")
    if request_type:
        return _OPENLLMETRY_REQUEST_TYPE.get(str(request_type)) or _OPERATION_ALIASES.get(str(request_type))
    traceloop_kind = attrs.get("traceloop.span.kind")
    if traceloop_kind:
        return _TRACELOOP_KIND.get(str(traceloop_kind))
    return None


def _provider(name: str) -> str:
    return _PROVIDER_ALIASES.get(name, name.lower())


def _routed_model(attrs: dict) -> str | None:
    """LiteLLM's ``provider/model`` from where foreign instrumentations keep it, when the provider is not set."""
    routed = _text(_first(attrs, _ROUTED_MODEL_KEYS))
    if routed is not None:
        return routed
    for key in _INVOCATION_PARAMETER_KEYS:
        raw = attrs.get(key)
        if isinstance(raw, str) and raw.startswith("{"):
            try:
                model = json.loads(raw).get("model")
            except (ValueError, AttributeError):
                continue
            if isinstance(model, str) and model:
                return model
    return None


def _unprefixed(model: str | None, provider: str | None) -> str | None:
    """``gpt-4o`` for LiteLLM's ``openai/gpt-4o`` when ``openai`` is the call's provider."""
    if model is None or provider is None or "/" not in model:
        return model
    prefix, _, rest = model.partition("/")
    return rest if rest and _provider(prefix) == provider else model


def _error_type(span: SpanRecord) -> str | None:
    """``error.type``; when it is missing or ``_OTHER`` on a failed span, the exception's type or the HTTP status."""
    attrs = span.attributes
    error_type = _text(attrs.get(sc.ERROR_TYPE))
    if span.status_code != 2 or error_type not in (None, "_OTHER"):
        return error_type
    for event in span.events:
        if event.get("name") == "exception":
            exception_type = _text(event.get("attributes", {}).get("exception.type"))
            if exception_type:
                return exception_type.rpartition(".")[2]
    status = _as_int(attrs.get(sc.HTTP_RESPONSE_STATUS_CODE))
    return str(status) if status is not None and status >= 400 else "_OTHER"


def promote(span: SpanRecord) -> None:
    """Fill the promoted fields of ``span`` from its attributes."""
    attrs = span.attributes
    span.operation = _operation(attrs)
    provider = _text(_first(attrs, _PROVIDER_KEYS))
    request_model = _text(_first(attrs, _REQUEST_MODEL_KEYS))
    if provider is None and (span.operation is not None or request_model is not None):
        routed = _routed_model(attrs)
        if routed is not None and "/" in routed:
            provider = routed.partition("/")[0]
    span.provider = None if provider is None else _provider(provider)
    span.request_model = _unprefixed(request_model, span.provider)
    span.response_model = _unprefixed(_text(_first(attrs, _RESPONSE_MODEL_KEYS)), span.provider)
    span.input_tokens = _as_int(_first(attrs, _INPUT_TOKEN_KEYS))
    span.output_tokens = _as_int(_first(attrs, _OUTPUT_TOKEN_KEYS))
    agent = _first(attrs, _AGENT_KEYS)
    if agent is None and attrs.get("traceloop.span.kind") == "agent":
        agent = attrs.get("traceloop.entity.name")
    if agent is None and span.operation in (sc.OP_INVOKE_AGENT, sc.OP_CREATE_AGENT):
        # "invoke_agent {name}" with the name only in the span name.
        _, _, agent = span.name.partition(" ")
        agent = agent or None
    span.agent_name = None if agent is None else str(agent)
    conversation = _first(attrs, (sc.GEN_AI_CONVERSATION_ID, "session.id"))
    span.conversation_id = None if conversation is None else str(conversation)
    span.error_type = _error_type(span)
    span_type = attrs.get(sc.SPAN_TYPE) or attrs.get(sc.LOGFIRE_SPAN_TYPE)
    if span_type == sc.SPAN_TYPE_PENDING:
        span.pending = True
        if span.operation is None:  # ours since the record stopped posing as a GenAI operation
            operation = attrs.get(sc.PENDING_OPERATION_NAME)
            span.operation = None if operation is None else str(operation)
        parent = attrs.get(sc.PENDING_PARENT_ID) or attrs.get(sc.LOGFIRE_PENDING_PARENT_ID)
        span.pending_parent_id = str(parent) if parent else None
    promote_coordination(span)


def promote_coordination(span: SpanRecord) -> None:
    """Fill the task, handoff, tool and messaging fields of ``span`` (its ``operation`` already known)."""
    attrs = span.attributes
    span.task_id = _text(attrs.get(sc.TASK_ID))
    span.blocked_by = _text(attrs.get(sc.TASK_BLOCKED_BY))
    # "messaging.operation" is the spelling before messaging.operation.type existed.
    span.messaging_operation = _text(attrs.get(sc.MESSAGING_OPERATION_TYPE)) or _text(attrs.get("messaging.operation"))
    if span.operation != sc.OP_EXECUTE_TOOL:
        return
    tool = _text(attrs.get(sc.GEN_AI_TOOL_NAME)) or span.name.partition(" ")[2] or span.name
    span.tool_name = tool
    named_handoff = tool.startswith(sc.OP_HANDOFF_TOOL_PREFIX)
    span.handoff_source = _text(attrs.get(sc.GEN_AI_HANDOFF_SOURCE))
    span.handoff_target = _text(attrs.get(sc.GEN_AI_HANDOFF_TARGET)) or (
        tool[len(sc.OP_HANDOFF_TOOL_PREFIX) :] or None if named_handoff else None
    )
    span.is_handoff = sc.GEN_AI_HANDOFF_TARGET in attrs or sc.GEN_AI_HANDOFF_SOURCE in attrs or named_handoff
