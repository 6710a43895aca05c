"""Telemetron agent-side instrumentation: OpenTelemetry spans, metrics and work-in-progress records for multi-agent LLM apps."""

from importlib import import_module
from importlib import metadata as _metadata
from typing import Any

try:
    __version__ = _metadata.version("telemetron")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

# Each name is imported from its module on first use, so that importing a submodule alone (the
# server's ``semconv``, for the attribute names both sides share) does not load the OpenTelemetry SDK,
# and importing LiteLLM (a second or two) waits until the callback is asked for.
_MODULES = {
    "execute_tool": "agents",
    "handoff": "agents",
    "invoke_agent": "agents",
    "invoke_workflow": "agents",
    "Telemetry": "configure",
    "configure": "configure",
    "shutdown": "configure",
    "ConversationSpanProcessor": "conversation",
    "conversation": "conversation",
    "current_conversation_id": "conversation",
    "PendingSpanProcessor": "pending",
    "TaskHandle": "queues",
    "enqueue": "queues",
    "process_task": "queues",
    "TelemetronLiteLLMCallback": "litellm_callback",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})
