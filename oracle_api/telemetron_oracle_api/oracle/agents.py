"""Agents: what each one is (declared on its spans), what it is doing now, and what it did recently.

Running work comes from pending-span records (an invocation that has started and not ended);
completed and failed work from the ended ``invoke_agent`` spans. Which agent an LLM span ran
under is its nearest ``invoke_agent`` ancestor, tracked in ``Lineage`` for recent spans.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import telemetron_semconv as sc

from ..model import SpanRecord
from . import _attrs
from .tasks import COMPLETED, FAILED, RUNNING, WAITING, Outcome, Outcomes, Task
from .window import Lru, RecentMap, Rolling, id_key

_MAX_OBSERVED_MODELS = 20
_MAX_DONE_TASKS = 200
_MAX_OPEN_TASKS = 10_000
_DURATION_SAMPLES = 200


@dataclass(slots=True)
class Agent:
    name: str
    deployment: str = _attrs.UNKNOWN_DEPLOYMENT
    description: str | None = None
    agent_id: str | None = None
    max_parallel: int | None = None
    declared_models: list[str] = field(default_factory=list)
    observed_models: Lru = field(default_factory=lambda: Lru(_MAX_OBSERVED_MODELS))
    running: dict[str, Task] = field(default_factory=dict)  # invocation span id -> task
    handed_off: dict[str, Task] = field(default_factory=dict)  # task id -> task not yet started
    done: deque = field(default_factory=lambda: deque(maxlen=_MAX_DONE_TASKS))
    durations_ms: deque = field(default_factory=lambda: deque(maxlen=_DURATION_SAMPLES))
    finished: Rolling = field(default_factory=lambda: Rolling(10, 3600))
    failed: Rolling = field(default_factory=lambda: Rolling(10, 3600))
    updated_ns: int = 0
    revision: int = 0  # bumped on every change that shows in the state document
    rendered: tuple | None = None  # (cache key, JSON dict, encoded bytes) from state.py

    @property
    def models(self) -> list[str]:
        """Declared first, then observed ones not declared (``openai/gpt-4o`` declares ``gpt-4o``)."""
        out = list(self.declared_models)
        known = set(out) | {m.split("/", 1)[1] for m in out if "/" in m}
        out.extend(m for m in self.observed_models if m not in known)
        return out


class Lineage:
    """(trace id, span id) -> agent for recent spans, resolving children whose ancestors arrive later.

    The ids are kept as ``window.id_key`` ints: the Oracle holds hundreds of thousands of them.

    Children end (and arrive) before their parents, so a child whose parent is not known yet is
    parked under the parent's id and resolved when the parent, or a pending record for it, shows up.
    """

    # ``model`` is opaque here, handed to ``on_model`` untouched: its callback decides the type.
    def __init__(self, limit: int, on_model: Callable[[str, Any, int], None]) -> None:
        self._agent_of = RecentMap(limit)  # the Oracle's largest map: the last ``limit`` spans placed
        self._orphans: Lru = Lru(max(1, limit // 4))  # parent id -> [(child id, model, time)]
        self._on_model = on_model

    def place(
        self,
        trace_id: str,
        span_id: str,
        parent_id: str | None,
        own_agent: str | None,
        model: object = None,
        t_ns: int = 0,
        *,
        key: int | str | None = None,
    ) -> str | None:
        """Record a span; its agent when known now. ``model`` is passed to ``on_model`` once the agent is known.

        ``key`` is ``id_key(trace_id, span_id)`` when the caller has it: the Oracle's record of spans
        already folded in holds the same int, so the two share it (8 MiB for 200,000 spans).
        """
        agent = own_agent or None
        parent_key = None  # computed only when the parent must name the agent
        if agent is None and parent_id:
            parent_key = id_key(trace_id, parent_id)
            agent = self._agent_of.get(parent_key)
        if key is None:
            key = id_key(trace_id, span_id)
        if agent is None:
            if parent_key is not None:
                waiting = self._orphans.get(parent_key)
                if waiting is None:
                    self._orphans.put(parent_key, [(key, model, t_ns)])
                elif len(waiting) < 1000:
                    waiting.append((key, model, t_ns))
            return None
        if model:
            self._on_model(agent, model, t_ns)
        self._resolve(key, agent)
        return agent

    def _resolve(self, key: int | str, agent: str) -> None:
        stack = [key]
        while stack:
            current = stack.pop()
            self._agent_of.put(current, agent)
            for child, model, t_ns in self._orphans.pop(current, ()):
                if model:
                    self._on_model(agent, model, t_ns)
                stack.append(child)


class AgentTracker:
    def __init__(
        self,
        outcomes: Outcomes,
        *,
        retention_s: float,
        span_index_size: int = 200_000,
        on_model: Callable[[str, Any, int], None] | None = None,
    ) -> None:
        self.agents: dict[str, Agent] = {}
        self.outcomes = outcomes
        self.retention_ns = int(retention_s * 1e9)
        self.lineage = Lineage(span_index_size, on_model or self.observe_model)

    def agent(self, name: str) -> Agent:
        agent = self.agents.get(name)
        if agent is None:
            agent = self.agents[name] = Agent(name)
        return agent

    def declare(self, span: SpanRecord) -> Agent:
        """Take the agent's declared facts from an invoke_agent/create_agent span or pending record."""
        attrs = span.attributes
        agent = self.agent(span.agent_name or "unknown")
        before = (agent.deployment, agent.description, agent.agent_id, agent.max_parallel, agent.declared_models)
        agent.deployment = _attrs.deployment_of(span)
        if agent.updated_ns == 0:
            agent.updated_ns = span.start_ns
            agent.revision += 1
        description = _attrs.text(attrs, sc.GEN_AI_AGENT_DESCRIPTION)
        if description:
            agent.description = description
        agent_id = _attrs.text(attrs, sc.GEN_AI_AGENT_ID)
        if agent_id:
            agent.agent_id = agent_id
        limit = _attrs.number(attrs, sc.AGENT_MAX_PARALLEL)
        if limit is not None and limit >= 0:
            agent.max_parallel = int(limit)
        if sc.AGENT_MODELS in attrs:
            agent.declared_models = _attrs.string_list(attrs[sc.AGENT_MODELS])
        if before != (agent.deployment, agent.description, agent.agent_id, agent.max_parallel, agent.declared_models):
            agent.revision += 1
        return agent

    def observe_model(self, agent_name: str, model: str, t_ns: int = 0) -> None:
        agent = self.agents.get(agent_name)
        if agent is not None:
            if model not in agent.observed_models:
                agent.revision += 1
            agent.observed_models.put(model, t_ns)

    # --- work -------------------------------------------------------------------------------------

    def started(self, pending: SpanRecord, real_id: str) -> None:
        """A pending record of an invocation: the invocation is running (first record or heartbeat).

        ``real_id`` is the running span's id, the record's ``parent_span_id`` once the caller checked it is set.
        """
        agent = self.declare(pending)
        self.lineage.place(pending.trace_id, real_id, pending.pending_parent_id, agent.name)
        if pending.operation != sc.OP_INVOKE_AGENT:
            return
        task = agent.running.get(real_id)
        if task is not None:
            if pending.end_ns > task.last_seen_ns:
                task.last_seen_ns = pending.end_ns
                agent.revision += 1
            return
        task_id = pending.task_id or real_id
        agent.handed_off.pop(task_id, None)
        if len(agent.running) >= _MAX_OPEN_TASKS:
            agent.running.pop(next(iter(agent.running)))
        agent.running[real_id] = Task(
            key=real_id,
            task_id=task_id,
            trace_id=pending.trace_id,
            span_id=real_id,
            started_ns=pending.start_ns,
            last_seen_ns=max(pending.end_ns, pending.start_ns),
            blocked_by=pending.blocked_by,
        )
        agent.updated_ns = max(agent.updated_ns, pending.start_ns)
        agent.revision += 1

    def ended(self, span: SpanRecord) -> None:
        agent = self.declare(span)
        self.lineage.place(span.trace_id, span.span_id, span.parent_span_id, agent.name)
        if span.operation != sc.OP_INVOKE_AGENT:
            return
        task_id = span.task_id or span.span_id
        agent.running.pop(span.span_id, None)
        agent.handed_off.pop(task_id, None)
        failed = span.status_code == 2
        error = (span.error_type or span.status_message or "error") if failed else None
        agent.done.append(
            Task(
                key=span.span_id,
                task_id=task_id,
                trace_id=span.trace_id,
                span_id=span.span_id,
                started_ns=span.start_ns,
                last_seen_ns=span.end_ns,
                status=FAILED if failed else COMPLETED,
                ended_ns=span.end_ns,
                error=error,
            )
        )
        agent.durations_ms.append((span.end_ns - span.start_ns) / 1e6)
        agent.finished.add(span.end_ns)
        if failed:
            agent.failed.add(span.end_ns)
        agent.updated_ns = max(agent.updated_ns, span.end_ns)
        agent.revision += 1
        self.outcomes.record(
            task_id, Outcome(FAILED if failed else COMPLETED, span.trace_id, span.end_ns, error, agent.name)
        )

    def handed_off(self, target: str, task_id: str, trace_id: str, t_ns: int) -> None:
        """A task handed to ``target``: it waits there until the target's invocation starts."""
        if self.outcomes.get(task_id) is not None:
            return  # the target already ran it (the handoff span ends after the work it wraps)
        agent = self.agent(target)
        if task_id in agent.handed_off or any(t.task_id == task_id for t in agent.running.values()):
            return
        agent.handed_off[task_id] = Task(
            key="handoff:" + task_id,
            task_id=task_id,
            trace_id=trace_id,
            started_ns=t_ns,
            last_seen_ns=t_ns,
            status=WAITING,
        )
        agent.updated_ns = max(agent.updated_ns, t_ns)
        agent.revision += 1

    def status_of(self, task: Task) -> str:
        """Running, or waiting while the task it is blocked by has not completed."""
        if task.status != RUNNING:
            return task.status
        if task.blocked_by:
            outcome = self.outcomes.get(task.blocked_by)
            if outcome is None or outcome.status != COMPLETED:
                return WAITING
        return RUNNING

    def expire(self, now_ns: int) -> None:
        horizon = now_ns - self.retention_ns
        for agent in self.agents.values():
            done = agent.done
            if done and (done[0].ended_ns or 0) < horizon:
                agent.revision += 1
                while done and (done[0].ended_ns or 0) < horizon:
                    done.popleft()
