"""Telemetron agent-side instrumentation: OpenTelemetry spans, metrics and work-in-progress records for multi-agent LLM apps."""

from importlib import metadata as _metadata
from typing import Any

try:
    __version__ = _metadata.version("telemetron")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

from .agents import execute_tool, handoff, invoke_agent, invoke_workflow
from .configure import Telemetry, configure, shutdown
from .conversation import ConversationSpanProcessor, conversation, current_conversation_id
from .pending import PendingSpanProcessor
from .queues import TaskHandle, enqueue, process_task

__all__ = [
    "ConversationSpanProcessor",
    "PendingSpanProcessor",
    "TaskHandle",
    "Telemetry",
    "TelemetronLiteLLMCallback",
    "configure",
    "conversation",
    "current_conversation_id",
    "enqueue",
    "execute_tool",
    "handoff",
    "invoke_agent",
    "invoke_workflow",
    "process_task",
    "shutdown",
]


def __getattr__(name: str) -> Any:
    # Importing LiteLLM takes a second or two: only when the callback is asked for.
    if name == "TelemetronLiteLLMCallback":
        from .litellm_callback import TelemetronLiteLLMCallback

        return TelemetronLiteLLMCallback
    raise AttributeError(name)
