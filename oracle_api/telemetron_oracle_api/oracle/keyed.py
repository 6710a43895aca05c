"""The state with its entity arrays turned into maps keyed by identity, so a JSON Patch names entities.

Diffed by position, one agent more at the front of ``agents`` renames every agent after it; keyed,
it is one ``add /agents/<name>``. Keys: ``agents`` and ``queues`` by name; ``active_task_ids``,
``recent_tasks`` and a queue's ``tasks`` by id; ``workload`` by deployment_name; ``pods`` by pod_id;
``litellm`` by provider/model. A key that repeats in one array gets ``#2``, ``#3``... A ``/`` in a
key is written ``~1`` in a patch path (RFC 6901). Other arrays stay arrays.
"""

from __future__ import annotations

from collections.abc import Callable

_IDENTITY: dict[str, Callable[[dict], object]] = {
    "agents": lambda item: item.get("name"),
    "queues": lambda item: item.get("name"),
    "active_task_ids": lambda item: item.get("id"),
    "recent_tasks": lambda item: item.get("id"),
    "tasks": lambda item: item.get("id"),
    "workload": lambda item: item.get("deployment_name"),
    "pods": lambda item: item.get("pod_id"),
    "litellm": lambda item: f"{item.get('provider')}/{item.get('model')}",
}


def keyed(value: object, field: str = "") -> object:
    """``value`` with every entity array (see above) as an ``{identity: entity}`` map, recursively."""
    if isinstance(value, dict):
        return {k: keyed(v, k) for k, v in value.items()}
    if not isinstance(value, list):
        return value
    identity = _IDENTITY.get(field)
    if identity is None or not all(isinstance(item, dict) for item in value):
        return [keyed(item) for item in value]
    out: dict[str, object] = {}
    for item in value:
        key = str(identity(item))
        unique, n = key, 1
        while unique in out:
            n += 1
            unique = f"{key}#{n}"
        out[unique] = keyed(item)
    return out
