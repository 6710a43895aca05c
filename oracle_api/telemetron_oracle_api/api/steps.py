"""What a span is in a multi-agent run (agent, tool, llm, handoff, queue or other) and which agent it belongs to.

Shared by the timeline, the agent graph, the metrics and the live stream, so that every view
labels a span the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import telemetron_semconv as sc

AGENT, TOOL, LLM, HANDOFF, QUEUE, OTHER = "agent", "tool", "llm", "handoff", "queue", "other"
STEP_KINDS = (AGENT, TOOL, LLM, HANDOFF, QUEUE, OTHER)
_LLM_OPERATIONS = frozenset((sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_EMBEDDINGS, sc.OP_GENERATE_CONTENT))
_AGENT_OPERATIONS = frozenset((sc.OP_INVOKE_AGENT, sc.OP_CREATE_AGENT))
_PRODUCER, _CONSUMER = 4, 5


def tool_name(name: str, attributes: Mapping) -> str | None:
    """The tool a span executes: ``gen_ai.tool.name`` or the part of ``execute_tool {name}`` after the space."""
    tool = attributes.get(sc.GEN_AI_TOOL_NAME)
    if tool:
        return str(tool)
    if name.startswith(sc.OP_EXECUTE_TOOL + " "):
        return name[len(sc.OP_EXECUTE_TOOL) + 1 :] or None
    return None


def handoff_ends(name: str, attributes: Mapping) -> tuple[str | None, str | None] | None:
    """(source, target) when the span is a handoff (the proposed ``transfer_to_<agent>`` tool), else None."""
    source = attributes.get(sc.GEN_AI_HANDOFF_SOURCE)
    target = attributes.get(sc.GEN_AI_HANDOFF_TARGET)
    if source is None and target is None:
        tool = tool_name(name, attributes)
        if not tool or not tool.startswith(sc.OP_HANDOFF_TOOL_PREFIX):
            return None
        target = tool[len(sc.OP_HANDOFF_TOOL_PREFIX) :]
    return (None if source is None else str(source), None if target is None else str(target))


def step_kind(
    operation: str | None,
    name: str,
    kind: int,
    attributes: Mapping,
    request_model: str | None = None,
    provider: str | None = None,
) -> str:
    """The step label of a span."""
    if operation in _AGENT_OPERATIONS:
        return AGENT
    if operation == sc.OP_EXECUTE_TOOL or sc.GEN_AI_TOOL_NAME in attributes:
        return HANDOFF if handoff_ends(name, attributes) else TOOL
    if sc.GEN_AI_HANDOFF_SOURCE in attributes or sc.GEN_AI_HANDOFF_TARGET in attributes:
        return HANDOFF
    if operation in _LLM_OPERATIONS or request_model or provider:
        return LLM
    if sc.MESSAGING_OPERATION_TYPE in attributes or sc.MESSAGING_SYSTEM in attributes or kind in (_PRODUCER, _CONSUMER):
        return QUEUE
    return OTHER


class AgentResolver:
    """Finds the agent a span runs in: the nearest agent span at or above it in the trace."""

    def __init__(self, spans: Iterable[tuple[str, str | None, str | None]]) -> None:
        """``spans``: (span id, parent span id, agent name if it is an agent span else None)."""
        self._parent: dict[str, str | None] = {}
        self._agent: dict[str, str] = {}
        for span_id, parent_id, agent in spans:
            self._parent[span_id] = parent_id
            if agent:
                self._agent[span_id] = agent
        self._memo: dict[str, str | None] = {}

    def owner(self, span_id: str) -> str | None:
        """The agent of the span itself if it is an agent span, else of its nearest agent ancestor."""
        if span_id in self._memo:
            return self._memo[span_id]
        path: list[str] = []
        current: str | None = span_id
        found: str | None = None
        seen: set[str] = set()
        while current is not None and current not in seen:
            seen.add(current)
            if current in self._memo:
                found = self._memo[current]
                break
            path.append(current)
            if current in self._agent:
                found = self._agent[current]
                break
            current = self._parent.get(current)
        for visited in path:
            self._memo[visited] = found
        return found

    def parent_agent(self, span_id: str) -> str | None:
        """The agent above this span, not counting the span itself."""
        parent = self._parent.get(span_id)
        return None if parent is None else self.owner(parent)
