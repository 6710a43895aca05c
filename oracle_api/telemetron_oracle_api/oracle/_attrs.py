"""Reading our conventions out of span and resource attributes (tolerant of how emitters encode them)."""

from __future__ import annotations

import json

from telemetron_instrumentation import semconv as sc

from ..model import Resource, SpanRecord

UNKNOWN_DEPLOYMENT = "unknown"


def text(attrs: dict, key: str) -> str | None:
    value = attrs.get(key)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def number(attrs: dict, key: str) -> float | None:
    value = attrs.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def string_list(value: object) -> list[str]:
    """A list attribute, a JSON array in a string, or a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    raw = str(value).strip()
    if raw.startswith("["):
        try:
            parsed = json.loads(raw)
            if isinstance(parsed, list):
                return [str(v) for v in parsed if v not in (None, "")]
        except json.JSONDecodeError:
            pass
    return [part.strip() for part in raw.split(",") if part.strip()]


def deployment_of(span: SpanRecord) -> str:
    """k8s.deployment.name (resource), else telemetron.agent.deployment, else service.name."""
    resource = span.resource.attributes
    return (
        text(resource, sc.K8S_DEPLOYMENT_NAME)
        or text(span.attributes, sc.AGENT_DEPLOYMENT)
        or text(resource, sc.AGENT_DEPLOYMENT)
        or span.resource.service_name
        or UNKNOWN_DEPLOYMENT
    )


def resource_deployment(resource: Resource) -> str | None:
    return text(resource.attributes, sc.K8S_DEPLOYMENT_NAME)


def messaging_operation(attrs: dict) -> str | None:
    # "messaging.operation" is the spelling before messaging.operation.type existed.
    return text(attrs, sc.MESSAGING_OPERATION_TYPE) or text(attrs, "messaging.operation")


def tool_name(span: SpanRecord) -> str:
    return text(span.attributes, sc.GEN_AI_TOOL_NAME) or span.name.partition(" ")[2] or span.name


def handoff_target(span: SpanRecord) -> str | None:
    target = text(span.attributes, sc.GEN_AI_HANDOFF_TARGET)
    if target:
        return target
    tool = tool_name(span)
    if tool.startswith(sc.OP_HANDOFF_TOOL_PREFIX):
        return tool[len(sc.OP_HANDOFF_TOOL_PREFIX) :] or None
    return None


def is_handoff(span: SpanRecord) -> bool:
    attrs = span.attributes
    return (
        sc.GEN_AI_HANDOFF_TARGET in attrs
        or sc.GEN_AI_HANDOFF_SOURCE in attrs
        or tool_name(span).startswith(sc.OP_HANDOFF_TOOL_PREFIX)
    )
