"""Reading one-off conventions out of span and resource attributes (tolerant of how emitters encode them).

What every tracker needs (task, handoff, tool, messaging) is on the ``SpanRecord`` already: ``normalize.promote``.
"""

from __future__ import annotations

import json

import telemetron_semconv as sc

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
