"""Whether work moves and whether the processes doing it are alive.

A heartbeat only says a span is still open; progress is a child span starting or finishing.
``Progress`` keeps, per trace, when something last moved and which tool and LLM calls are open now, so
a task that keeps beating but does nothing can be told from one that works. ``Instances`` keeps
when each process (``service.instance.id``, else the pod, else host and pid) was first and last
heard from, per agent, so work left behind by a process that was replaced can be closed as lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Resource
from .agents import AgentTracker
from .tasks import FAILED, Outcome
from .window import Lru, RecentMap, id_key
from .workload import WorkloadTracker, restart_increase

_INSTANCE_KEYS = ("service.instance.id", "k8s.pod.name")
_MAX_INSTANCES_PER_AGENT = 200
_UNREAD = object()


@dataclass(slots=True)
class OpenSpan:
    """A tool or LLM call that has started (a pending record came) and not ended."""

    span_id: str
    trace_id: str
    kind: str  # "tool" | "llm"
    name: str  # the tool's name, or the (provider, model) key of the LLM call
    started_ns: int
    last_seen_ns: int


class Progress:
    """trace id -> when a span of it last started or ended, and its open tool and LLM calls."""

    def __init__(self, limit: int = 100_000) -> None:
        # id_key(trace id) -> latest child start or end (span time): an int key and dicts by age are
        # half the memory of an Lru of hex strings (``window.RecentMap``).
        self._moved = RecentMap(limit)
        self._open: Lru = Lru(limit)  # trace id -> {span id: OpenSpan}

    def moved(self, trace_id: str, t_ns: int) -> None:
        key = id_key(trace_id)
        if t_ns > (self._moved.get(key) or 0):
            self._moved.put(key, t_ns)

    def last_moved(self, trace_id: str) -> int:
        return self._moved.get(id_key(trace_id)) or 0

    def call_started(self, trace_id: str, span_id: str, kind: str, name, start_ns: int, seen_ns: int) -> None:
        """A tool's or LLM call's pending record: the first one is progress, later ones (heartbeats) are not."""
        spans = self._open.get(trace_id)
        if spans is None:
            spans = {}
            self._open.put(trace_id, spans)
        span = spans.get(span_id)
        if span is None:
            spans[span_id] = OpenSpan(span_id, trace_id, kind, name, start_ns, seen_ns)
            self.moved(trace_id, start_ns)
        else:
            span.last_seen_ns = max(span.last_seen_ns, seen_ns)

    def ended(self, trace_id: str, span_id: str, end_ns: int) -> None:
        spans = self._open.get(trace_id)
        if spans is not None and spans.pop(span_id, None) is not None and not spans:
            del self._open[trace_id]
        self.moved(trace_id, end_ns)

    def open_calls(self, trace_id: str) -> list[OpenSpan]:
        return list(self._open.get(trace_id, {}).values())


def instance_of(attrs: dict) -> str | None:
    """The process a resource's attributes name; None when they do not say (then it is never judged dead)."""
    for key in _INSTANCE_KEYS:
        value = attrs.get(key)
        if value:
            return str(value)
    host, pid = attrs.get("host.name"), attrs.get("process.pid")
    return f"{host}:{pid}" if host and pid else None


@dataclass(slots=True)
class Instance:
    name: str
    first_seen_ns: int
    last_seen_ns: int
    pod: str | None = None


@dataclass(slots=True)
class Crash:
    """Work closed as lost because the process running it was replaced (one incident per dead instance)."""

    agent: str
    deployment: str
    instance: str
    replaced_by: str
    last_seen_ns: int
    detected_ns: int
    pod: str | None = None
    lost: list = field(default_factory=list)  # the retired Tasks


class Instances:
    """agent -> instance -> first/last heard; the task key (invocation span id) -> its instance."""

    def __init__(self, limit: int = 100_000) -> None:
        self.by_agent: dict[str, dict[str, Instance]] = {}
        self.task_instance: Lru = Lru(limit)
        self.crashes: dict[tuple[str, str], Crash] = {}  # (agent, dead instance) -> crash
        self._names: Lru = Lru(10_000)  # resource key (a content hash) -> instance name, read once per resource

    def seen(self, agent: str, resource: Resource, start_ns: int, end_ns: int, task_key: str | None = None) -> None:
        name = self._names.get(resource.key, _UNREAD)
        if name is _UNREAD:
            name = instance_of(resource.attributes)
            self._names.put(resource.key, name)
        if name is None:
            return
        instances = self.by_agent.setdefault(agent, {})
        instance = instances.get(name)
        if instance is None:
            if len(instances) >= _MAX_INSTANCES_PER_AGENT:
                oldest = min(instances.values(), key=lambda i: i.last_seen_ns)
                del instances[oldest.name]
            instance = instances[name] = Instance(name, start_ns, end_ns, resource.attributes.get("k8s.pod.name"))
        instance.first_seen_ns = min(instance.first_seen_ns, start_ns)
        instance.last_seen_ns = max(instance.last_seen_ns, end_ns)
        if task_key is not None:
            self.task_instance.put(task_key, name)

    def replacement(self, agent: str, name: str, now_ns: int, silent_ns: int) -> Instance | None:
        """A newer instance of ``agent`` that started after ``name`` was last heard, ``name`` being silent since."""
        instances = self.by_agent.get(agent, {})
        dead = instances.get(name)
        if dead is None or now_ns - dead.last_seen_ns < silent_ns:
            return None
        newer = [i for i in instances.values() if i.name != name and i.first_seen_ns > dead.last_seen_ns]
        return min(newer, key=lambda i: i.first_seen_ns, default=None)

    def expire(self, now_ns: int, keep_ns: int) -> None:
        for key in [k for k, c in self.crashes.items() if now_ns - c.detected_ns > keep_ns]:
            del self.crashes[key]


LOST = "LostWithItsProcess"


def retire_lost_work(
    agents: AgentTracker, instances: Instances, workload: WorkloadTracker, now_ns: int, silent_ns: int
) -> int:
    """Close the invocations whose process was replaced or restarted since they were last heard of.

    Each becomes a failed task (error ``LostWithItsProcess``) under one ``Crash`` per dead instance,
    so it is neither reported as stuck later nor counted against its agent's capacity. Returns how many.
    """
    retired = 0
    for agent in agents.agents.values():
        for key, task in list(agent.running.items()):
            name = instances.task_instance.get(key)
            if name is None:
                continue
            dead = instances.by_agent.get(agent.name, {}).get(name)
            if dead is None:
                continue  # forgotten under the per-agent cap: nothing left to judge it by
            newer = instances.replacement(agent.name, name, now_ns, silent_ns)
            restarted = _restarted_since(workload, dead.pod, task.last_seen_ns) if newer is None else False
            if newer is None and not restarted:
                continue
            crash = instances.crashes.get((agent.name, name))
            if crash is None:
                crash = instances.crashes[(agent.name, name)] = Crash(
                    agent.name,
                    agent.deployment,
                    name,
                    newer.name if newer is not None else f"{dead.pod} (restarted)",
                    dead.last_seen_ns,
                    now_ns,
                    dead.pod,
                )
            del agent.running[key]
            task.status, task.ended_ns, task.error = FAILED, max(task.last_seen_ns, task.started_ns), LOST
            agent.done.append(task)
            crash.lost.append(task)
            agent.revision += 1
            agents.outcomes.record(task.task_id, Outcome(FAILED, task.trace_id, task.ended_ns, LOST, agent.name))
            retired += 1
    return retired


def _restarted_since(workload: WorkloadTracker, pod_id: str | None, since_ns: int) -> bool:
    pod = workload.pods.get(pod_id) if pod_id else None
    return pod is not None and any(restart_increase(c, since_ns) >= 1 for c in pod.containers.values())
