"""Agent-side spans: agents, tools, workflows and handoffs, as context managers or decorators.

    with invoke_agent("researcher", models=["gpt-4o"]):          # or @invoke_agent("researcher")
        with execute_tool("search_web", call_id="call_1"):
            ...
    async with handoff("orchestrator", "writer", reason="draft"):
        ...

Names and attributes follow the GenAI conventions (``invoke_agent {name}``, ``execute_tool {name}``,
``invoke_workflow {name}``); a handoff is the proposed ``execute_tool transfer_to_{target}`` span.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import semconv
from ._providers import PROVIDER_NAMES
from ._scope import SpanScope


def _provider_of(models: Sequence[str] | None) -> str:
    prefix, slash, _ = (models[0] if models else "").partition("/")
    return PROVIDER_NAMES.get(prefix, prefix) if slash and prefix else "_OTHER"


def invoke_agent(
    name: str,
    id: str | None = None,  # noqa: A002 - the conventions' name for it
    description: str | None = None,
    models: Sequence[str] | None = None,
    max_parallel_invocations: int | None = None,
    deployment: str | None = None,
    *,
    version: str | None = None,
    task_id: str | None = None,
    provider: str | None = None,
) -> SpanScope:
    """An ``invoke_agent {name}`` span; ``task_id`` names the task the agent works on.

    ``provider`` (``gen_ai.provider.name``, required by the conventions) defaults to the LiteLLM
    prefix of the first model (``"openai/gpt-4o"`` gives ``openai``), else ``_OTHER``.
    """
    return SpanScope(
        f"{semconv.OP_INVOKE_AGENT} {name}",
        attributes={
            semconv.GEN_AI_OPERATION_NAME: semconv.OP_INVOKE_AGENT,
            semconv.GEN_AI_PROVIDER_NAME: provider or _provider_of(models),
            semconv.GEN_AI_AGENT_NAME: name,
            semconv.GEN_AI_AGENT_ID: id,
            semconv.GEN_AI_AGENT_DESCRIPTION: description,
            semconv.GEN_AI_AGENT_VERSION: version,
            semconv.AGENT_MODELS: list(models) if models else None,
            semconv.AGENT_MAX_PARALLEL: max_parallel_invocations,
            semconv.AGENT_DEPLOYMENT: deployment,
            semconv.TASK_ID: task_id,
        },
    )


def execute_tool(
    name: str,
    call_id: str | None = None,
    description: str | None = None,
    *,
    tool_type: str = "function",
) -> SpanScope:
    """An ``execute_tool {name}`` span; ``call_id`` is the model's tool call id, when there is one."""
    return SpanScope(
        f"{semconv.OP_EXECUTE_TOOL} {name}",
        attributes={
            semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
            semconv.GEN_AI_TOOL_NAME: name,
            semconv.GEN_AI_TOOL_CALL_ID: call_id,
            semconv.GEN_AI_TOOL_DESCRIPTION: description,
            semconv.GEN_AI_TOOL_TYPE: tool_type,
        },
    )


def invoke_workflow(name: str) -> SpanScope:
    """An ``invoke_workflow {name}`` span around a multi-agent run."""
    return SpanScope(
        f"{semconv.OP_INVOKE_WORKFLOW} {name}",
        attributes={semconv.GEN_AI_OPERATION_NAME: semconv.OP_INVOKE_WORKFLOW, semconv.GEN_AI_WORKFLOW_NAME: name},
    )


def handoff(source: str, target: str, task_id: str | None = None, reason: str | None = None) -> SpanScope:
    """Agent ``source`` hands work to ``target``: an ``execute_tool transfer_to_{target}`` span."""
    tool = f"{semconv.OP_HANDOFF_TOOL_PREFIX}{target}"
    return SpanScope(
        f"{semconv.OP_EXECUTE_TOOL} {tool}",
        attributes={
            semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
            semconv.GEN_AI_TOOL_NAME: tool,
            semconv.GEN_AI_TOOL_TYPE: "function",
            semconv.GEN_AI_HANDOFF_SOURCE: source,
            semconv.GEN_AI_HANDOFF_TARGET: target,
            semconv.TASK_ID: task_id,
            semconv.HANDOFF_REASON: reason,
        },
    )
