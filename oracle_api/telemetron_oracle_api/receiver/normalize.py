"""Promote the fields the product queries, whichever LLM instrumentation wrote the span.

Accepted: the current GenAI conventions (ours), the deprecated ``gen_ai.system`` and
``gen_ai.usage.prompt/completion_tokens``, LiteLLM's built-in ``otel`` callback (GenAI names plus
``llm.*`` extras), OpenLLMetry (``llm.request.type``, ``traceloop.span.kind``) and OpenInference
(``openinference.span.kind``, ``llm.model_name``, ``llm.token_count.*``, ``llm.provider``).
The stored attributes are never rewritten; only the promoted columns are normalized.
"""

from __future__ import annotations

from telemetron_instrumentation import semconv as sc

from ..model import SpanRecord

_PROVIDER_KEYS = (sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_SYSTEM_DEPRECATED, "llm.provider", "llm.system")
_REQUEST_MODEL_KEYS = (sc.GEN_AI_REQUEST_MODEL, "llm.request.model", "llm.model_name")
_RESPONSE_MODEL_KEYS = (sc.GEN_AI_RESPONSE_MODEL, "llm.response.model", "llm.model_name")
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
        return str(op)
    kind = attrs.get("openinference.span.kind")
    if kind:
        return _OPENINFERENCE_OPERATION.get(str(kind).upper())
    request_type = attrs.get("llm.request.type")
    if request_type:
        return _OPENLLMETRY_REQUEST_TYPE.get(str(request_type))
    traceloop_kind = attrs.get("traceloop.span.kind")
    if traceloop_kind:
        return _TRACELOOP_KIND.get(str(traceloop_kind))
    return None


def promote(span: SpanRecord) -> None:
    """Fill the promoted fields of ``span`` from its attributes."""
    attrs = span.attributes
    span.operation = _operation(attrs)
    provider = _first(attrs, _PROVIDER_KEYS)
    if provider is not None:
        provider = str(provider)
        span.provider = _PROVIDER_ALIASES.get(provider, provider.lower())
    request_model = _first(attrs, _REQUEST_MODEL_KEYS)
    span.request_model = None if request_model is None else str(request_model)
    response_model = _first(attrs, _RESPONSE_MODEL_KEYS)
    span.response_model = None if response_model is None else str(response_model)
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
    error_type = attrs.get(sc.ERROR_TYPE)
    if error_type is None and span.status_code == 2:
        error_type = "_OTHER"
    span.error_type = None if error_type is None else str(error_type)
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
