"""Issue detection over the live state: each detector looks at one kind of trouble.

Every issue is ``{id, kind, severity, entity {type, name}, evidence {trace_ids, numbers},
probable_cause, hint, first_seen, last_seen}``. Ids are stable (kind + entity), so the same
trouble keeps its id and its first_seen while it lasts. Thresholds come from Settings.

| kind                     | severity | entity      | detected when                                                  |
|--------------------------|----------|-------------|----------------------------------------------------------------|
| agent_over_capacity      | error    | agent       | open invocations > max_parallel_invocations                    |
| task_stuck               | error    | task        | a running task sent no heartbeat for stuck_task_after_s        |
| task_slow                | warning  | task        | running > slow_task_factor x the agent's p95 duration          |
| tool_failing             | error    | tool        | >= tool_failure_threshold failures within issue_window_s       |
| llm_rate_limit_near      | warning  | model       | remaining/limit below ratelimit_remaining_ratio                |
| llm_rate_limited         | error    | model       | 429 / rate-limit errors within issue_window_s                  |
| llm_provider_errors      | error    | provider    | 5xx-type errors, or error rate above provider_error_rate       |
| handoff_loop             | error    | task        | one task handed back and forth >= handoff_loop_threshold times |
| queue_backlog            | warning  | queue       | >= queue_backlog_threshold tasks waiting                       |
| queue_task_waiting       | warning  | queue       | tasks waiting longer than queue_wait_threshold_s               |
| task_blocked_on_failed   | error    | task        | a task is blocked by a task that failed                        |
| pod_not_ready            | error    | deployment  | a pod not Running/ready for pod_not_ready_after_s              |
| deployment_degraded      | warning  | deployment  | available < desired for pod_not_ready_after_s                  |
| pod_crash_looping        | critical | deployment  | restarts up >= crashloop_restarts in crashloop_window_s        |
| pod_oom_killed           | critical | deployment  | OOMKilled reason, or a restart with memory near its limit      |
| error_rate_spike         | error    | agent       | failed share of tasks in spike_window_s above the threshold    |
| cost_spike               | warning  | model       | cost in spike_window_s above cost_spike_usd_per_min (or k x)   |
| telemetry_rejected       | warning  | service     | oracle_api refused spans, points, logs or parts of them sent by |
|                          |          |             | the service within the last hour (reasons, counts, examples)   |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..formats import iso
from ..model import RECORD_UNITS
from ..receiver.rejections import Refused, RejectionLog
from .tasks import FAILED
from .window import NS, percentile
from .workload import restart_increase

if TYPE_CHECKING:
    from .engine import Oracle

SEVERITIES = ("info", "warning", "error", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
_MAX_TRACES = 10
_MAX_LISTED = 20


@dataclass(slots=True)
class Issue:
    kind: str
    severity: str
    entity_type: str
    entity_name: str
    probable_cause: str
    trace_ids: list[str] = field(default_factory=list)
    numbers: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)  # more evidence: task ids, pods, agents
    entity_extra: dict = field(default_factory=dict)
    hint: str = ""

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.entity_type}:{self.entity_name}"

    def to_json(self, first_seen_ns: int, last_seen_ns: int) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "entity": {"type": self.entity_type, "name": self.entity_name, **self.entity_extra},
            "evidence": {"trace_ids": _unique(self.trace_ids)[:_MAX_TRACES], "numbers": self.numbers, **self.details},
            "probable_cause": self.probable_cause,
            "hint": self.hint,
            "first_seen": iso(first_seen_ns),
            "last_seen": iso(last_seen_ns),
        }


def _unique(values) -> list:
    return list(dict.fromkeys(v for v in values if v))


class IssueRegistry:
    """Remembers when each open issue was first seen; an issue no longer detected is closed."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[int, int]] = {}
        self._restored: dict[str, int] = {}

    def restore(self, issues: list[dict], parse_ns) -> None:
        """Keep first_seen across a restart for issues that are detected again."""
        for issue in issues:
            try:
                self._restored[issue["id"]] = parse_ns(issue["first_seen"])
            except (KeyError, TypeError, ValueError):
                continue

    def update(self, detected: list[Issue], now_ns: int) -> list[dict]:
        current: dict[str, tuple[int, int]] = {}
        out = []
        for issue in detected:
            if issue.id in current:
                continue
            first = self._open.get(issue.id, (None, None))[0] or self._restored.pop(issue.id, None) or now_ns
            current[issue.id] = (first, now_ns)
            out.append(issue.to_json(first, now_ns))
        self._open = current
        out.sort(key=lambda i: (-SEVERITY_RANK[i["severity"]], i["first_seen"], i["id"]))
        return out


def detect(o: Oracle, now_ns: int) -> list[Issue]:
    """All issues in the current state; call with the Oracle's lock held."""
    found: list[Issue] = []
    for detector in _DETECTORS:
        found.extend(detector(o, now_ns))
    return found


# --- agents and tasks -----------------------------------------------------------------------------


def _agent_capacity(o: Oracle, now_ns: int) -> list[Issue]:
    out = []
    for agent in o.agents.agents.values():
        if agent.max_parallel is None or len(agent.running) <= agent.max_parallel:
            continue
        running = sorted(agent.running.values(), key=lambda t: t.started_ns)
        out.append(
            Issue(
                "agent_over_capacity",
                "error",
                "agent",
                agent.name,
                f"{len(running)} invocations of {agent.name} are open at once, above its declared "
                f"max_parallel_invocations={agent.max_parallel}: callers are not limiting concurrency",
                trace_ids=[t.trace_id for t in running],
                numbers={"running": len(running), "max_parallel_invocations": agent.max_parallel},
                details={"task_ids": [t.task_id for t in running][:_MAX_LISTED], "deployment": agent.deployment},
                hint=f"telemetron agents {agent.name}",
            )
        )
    return out


def _tasks(o: Oracle, now_ns: int) -> list[Issue]:
    s = o.settings
    stuck_ns = s.stuck_task_after_s * NS
    out = []
    for agent in o.agents.agents.values():
        p95 = None
        if len(agent.durations_ms) >= s.slow_task_min_samples:
            p95 = percentile(agent.durations_ms, 95)
        for task in agent.running.values():
            silent_ns = now_ns - task.last_seen_ns
            running_s = (now_ns - task.started_ns) / NS
            entity_extra = {"agent": agent.name}
            if silent_ns >= stuck_ns:
                out.append(
                    Issue(
                        "task_stuck",
                        "error",
                        "task",
                        task.task_id,
                        f"{agent.name} has sent no heartbeat for task {task.task_id} in {silent_ns / NS:.0f}s: "
                        "the worker hung or died without ending its span",
                        trace_ids=[task.trace_id],
                        numbers={
                            "silent_s": round(silent_ns / NS, 1),
                            "running_s": round(running_s, 1),
                            "threshold_s": s.stuck_task_after_s,
                        },
                        details={"agent": agent.name, "span_id": task.span_id, "last_seen": iso(task.last_seen_ns)},
                        entity_extra=entity_extra,
                        hint=f"telemetron trace {task.trace_id}",
                    )
                )
            elif p95 is not None and running_s >= s.slow_task_min_s and running_s * 1000 > s.slow_task_factor * p95:
                out.append(
                    Issue(
                        "task_slow",
                        "warning",
                        "task",
                        task.task_id,
                        f"task {task.task_id} of {agent.name} has run {running_s:.0f}s, over "
                        f"{s.slow_task_factor:g}x the agent's p95 of {p95 / 1000:.1f}s",
                        trace_ids=[task.trace_id],
                        numbers={
                            "running_s": round(running_s, 1),
                            "p95_s": round(p95 / 1000, 3),
                            "samples": len(agent.durations_ms),
                        },
                        details={"agent": agent.name, "span_id": task.span_id},
                        entity_extra=entity_extra,
                        hint=f"telemetron trace {task.trace_id}",
                    )
                )
            if task.blocked_by:
                out.extend(_blocked(o, task.task_id, task.blocked_by, task.trace_id, {"agent": agent.name}))
    return out


def _blocked(o: Oracle, task_id: str, blocked_by: str, trace_id: str, where: dict) -> list[Issue]:
    outcome = o.outcomes.get(blocked_by)
    if outcome is None or outcome.status != FAILED:
        return []
    return [
        Issue(
            "task_blocked_on_failed",
            "error",
            "task",
            task_id,
            f"task {task_id} waits for {blocked_by}, which failed ({outcome.error}): it will never be unblocked",
            trace_ids=[outcome.trace_id, trace_id],
            numbers={},
            details={"blocked_by": blocked_by, "blocking_error": outcome.error, **where},
            entity_extra=where,
            hint=f"telemetron trace {outcome.trace_id}",
        )
    ]


def _error_rate(o: Oracle, now_ns: int) -> list[Issue]:
    s = o.settings
    window = int(s.spike_window_s * NS)
    since, baseline_since = now_ns - window, now_ns - 15 * window
    out = []
    for agent in o.agents.agents.values():
        total = agent.finished.count(since)
        if total < s.error_rate_min_count:
            continue
        failed = agent.failed.count(since)
        rate = failed / total
        base_total = agent.finished.count(baseline_since, since)
        base_rate = (
            agent.failed.count(baseline_since, since) / base_total if base_total >= s.error_rate_min_count else 0.0
        )
        if rate < s.error_rate_threshold or (base_rate > 0 and rate < s.spike_factor * base_rate):
            continue
        recent = [t for t in agent.done if t.status == FAILED and (t.ended_ns or 0) >= since]
        out.append(
            Issue(
                "error_rate_spike",
                "error",
                "agent",
                agent.name,
                f"{failed} of {total} tasks of {agent.name} failed in the last {s.spike_window_s:g}s "
                f"({rate:.0%}, baseline {base_rate:.0%})",
                trace_ids=[t.trace_id for t in reversed(recent)],
                numbers={
                    "failed": failed,
                    "total": total,
                    "error_rate": round(rate, 3),
                    "baseline_error_rate": round(base_rate, 3),
                },
                details={"errors": sorted({t.error for t in recent if t.error})[:_MAX_LISTED]},
                hint=f"telemetron agents {agent.name}",
            )
        )
    return out


# --- tools and handoffs ---------------------------------------------------------------------------


def _tools(o: Oracle, now_ns: int) -> list[Issue]:
    s = o.settings
    since = now_ns - int(s.issue_window_s * NS)
    out = []
    for tool in o.tools.tools.values():
        failures = tool.failures.count(since)
        if failures < s.tool_failure_threshold:
            continue
        recent = [f for f in tool.recent_failures if f[0] >= since]
        errors = sorted({f[2] for f in recent})
        out.append(
            Issue(
                "tool_failing",
                "error",
                "tool",
                tool.name,
                f"tool {tool.name} failed {failures} times in {s.issue_window_s:g}s"
                + (f" ({', '.join(errors[:3])})" if errors else ""),
                trace_ids=[f[1] for f in reversed(recent)],
                numbers={
                    "failures": failures,
                    "calls": tool.calls.count(since),
                    "consecutive_failures": tool.consecutive_failures,
                },
                details={"errors": errors[:_MAX_LISTED], "agents": sorted(a for a in {f[3] for f in recent} if a)},
                hint=f"telemetron trace {recent[-1][1]}" if recent else "",
            )
        )
    return out


def _handoff_loops(o: Oracle, now_ns: int) -> list[Issue]:
    s = o.settings
    out = []
    for entry, pair, count in o.handoffs.loops(s.handoff_loop_threshold, now_ns - int(s.issue_window_s * NS)):
        agents = sorted(pair)
        traces = [h.trace_id for h in entry.history]
        out.append(
            Issue(
                "handoff_loop",
                "error",
                "task",
                entry.task_id,
                f"task {entry.task_id} was handed between {agents[0]} and {agents[1]} {count} times: "
                "neither agent accepts it (conflicting instructions or a missing exit condition)",
                trace_ids=list(reversed(traces)),
                numbers={"handoffs": count},
                details={
                    "agents": agents,
                    "sequence": [f"{h.source}->{h.target}" for h in list(entry.history)[-_MAX_LISTED:]],
                },
                hint=f"telemetron trace {traces[-1]}" if traces else "",
            )
        )
    return out


# --- LLM providers ----------------------------------------------------------------------------------


def _llm(o: Oracle, now_ns: int) -> list[Issue]:
    s = o.settings
    since = now_ns - int(s.issue_window_s * NS)
    out = []
    by_provider: dict[str, list] = {}
    for stats in o.llm.models.values():
        name = f"{stats.provider}/{stats.model}"
        by_provider.setdefault(stats.provider, []).append(stats)
        fresh = stats.ratelimit_seen_ns >= now_ns - 60 * NS
        low = []
        for what, remaining, limit in (
            ("tokens", stats.tokens_remaining, stats.tokens_limit),
            ("requests", stats.requests_remaining, stats.requests_limit),
        ):
            if fresh and remaining is not None and limit and remaining / limit < s.ratelimit_remaining_ratio:
                low.append((what, remaining, limit))
        if low:
            numbers = {}
            for what, remaining, limit in low:
                numbers[f"{what}_remaining"] = remaining
                numbers[f"{what}_limit"] = limit
            out.append(
                Issue(
                    "llm_rate_limit_near",
                    "warning",
                    "model",
                    name,
                    f"{name} is close to its rate limit ("
                    + ", ".join(f"{w} {r:g}/{lim:g} left" for w, r, lim in low)
                    + "): calls will start failing with 429",
                    trace_ids=[],
                    numbers=numbers,
                    details={"agents": sorted(stats.agents)[:_MAX_LISTED]},
                    hint="telemetron llm",
                )
            )
        limited = stats.rate_limited.count(since)
        if limited:
            out.append(
                Issue(
                    "llm_rate_limited",
                    "error",
                    "model",
                    name,
                    f"{name} answered {limited} calls with a rate-limit error (429) in {s.issue_window_s:g}s",
                    trace_ids=list(reversed(stats.error_traces)),
                    numbers={"rate_limited": limited, "requests": stats.requests.count(since)},
                    details={"agents": sorted(stats.agents)[:_MAX_LISTED]},
                    hint="telemetron llm",
                )
            )
    for provider, models in by_provider.items():
        requests = sum(m.requests.count(since) for m in models)
        server = sum(m.server_errors.count(since) for m in models)
        errors = sum(m.errors.count(since) - m.rate_limited.count(since) for m in models)
        rate = errors / requests if requests else 0.0
        if server < s.provider_server_errors and not (
            requests >= s.provider_error_min_requests and rate >= s.provider_error_rate
        ):
            continue
        failing = [m for m in models if m.errors.count(since)]
        types = sorted({t for m in failing for t in m.error_counts})
        out.append(
            Issue(
                "llm_provider_errors",
                "error",
                "provider",
                provider,
                f"provider {provider} failed {errors} of {requests} calls in {s.issue_window_s:g}s "
                f"({server} server errors" + (f": {', '.join(types[:3])}" if types else "") + ")",
                trace_ids=[t for m in failing for t in reversed(m.error_traces)],
                numbers={"errors": errors, "server_errors": server, "requests": requests, "error_rate": round(rate, 3)},
                details={
                    "models": sorted(m.model for m in failing),
                    "error_types": types[:_MAX_LISTED],
                    "last_error": max(
                        (m.last_error for m in failing if m.last_error), key=lambda e: e["time_ns"], default=None
                    ),
                },
                hint="telemetron llm",
            )
        )
    return out


def _cost(o: Oracle, now_ns: int) -> list[Issue]:
    s = o.settings
    window = int(s.spike_window_s * NS)
    since, baseline_since = now_ns - window, now_ns - 15 * window
    limit = s.cost_spike_usd_per_min * s.spike_window_s / 60
    out = []
    for stats in o.llm.models.values():
        cost = stats.cost.total(since)
        if cost <= 0:
            continue
        baseline = stats.cost.total(baseline_since, since) / 14
        relative = baseline > 0 and cost >= s.spike_factor * baseline and cost >= limit / 10
        if cost < limit and not relative:
            continue
        name = f"{stats.provider}/{stats.model}"
        out.append(
            Issue(
                "cost_spike",
                "warning",
                "model",
                name,
                f"{name} cost ${cost:.2f} in the last {s.spike_window_s:g}s "
                f"(baseline ${baseline:.2f} per window, alert at ${limit:.2f})",
                trace_ids=[],
                numbers={
                    "cost_usd": round(cost, 4),
                    "baseline_usd": round(baseline, 4),
                    "threshold_usd": round(limit, 4),
                    "requests": stats.tokens.count(since),
                },
                details={"agents": sorted(stats.agents)[:_MAX_LISTED]},
                hint="telemetron llm",
            )
        )
    return out


# --- queues -----------------------------------------------------------------------------------------


def _queues(o: Oracle, now_ns: int) -> list[Issue]:
    s = o.settings
    wait_ns = s.queue_wait_threshold_s * NS
    out = []
    for queue in o.queues.queues.values():
        tasks = sorted(queue.tasks.values(), key=lambda t: t.submitted_ns)
        if not tasks:
            continue
        oldest_s = (now_ns - tasks[0].submitted_ns) / NS
        if len(tasks) >= s.queue_backlog_threshold:
            out.append(
                Issue(
                    "queue_backlog",
                    "warning",
                    "queue",
                    queue.name,
                    f"{len(tasks)} tasks wait in {queue.name} (oldest {oldest_s:.0f}s): consumers are too few or stalled",
                    trace_ids=[t.trace_id for t in tasks],
                    numbers={
                        "pending": len(tasks),
                        "oldest_wait_s": round(oldest_s, 1),
                        "threshold": s.queue_backlog_threshold,
                    },
                    hint="telemetron queues",
                )
            )
        late = [t for t in tasks if now_ns - t.submitted_ns >= wait_ns]
        if late:
            out.append(
                Issue(
                    "queue_task_waiting",
                    "warning",
                    "queue",
                    queue.name,
                    f"{len(late)} tasks in {queue.name} have waited over {s.queue_wait_threshold_s:g}s "
                    f"(oldest {oldest_s:.0f}s)",
                    trace_ids=[t.trace_id for t in late],
                    numbers={
                        "waiting": len(late),
                        "oldest_wait_s": round(oldest_s, 1),
                        "threshold_s": s.queue_wait_threshold_s,
                    },
                    details={"task_ids": [t.id for t in late][:_MAX_LISTED]},
                    hint="telemetron queues",
                )
            )
        for task in tasks:
            if task.blocked_by:
                out.extend(_blocked(o, task.id, task.blocked_by, task.trace_id, {"queue": queue.name}))
    return out


# --- workload ---------------------------------------------------------------------------------------


def _workload(o: Oracle, now_ns: int) -> list[Issue]:
    s = o.settings
    w = o.workload
    not_ready_ns = s.pod_not_ready_after_s * NS
    crash_since = now_ns - int(s.crashloop_window_s * NS)
    by_deployment: dict[str, list] = {}
    for pod in w.live_pods(now_ns):
        by_deployment.setdefault(pod.deployment, []).append(pod)
    agents_on: dict[str, list[str]] = {}
    for agent in o.agents.agents.values():
        agents_on.setdefault(agent.deployment, []).append(agent.name)
    out = []
    for name, pods in sorted(by_deployment.items()):
        agents = sorted(agents_on.get(name, []))[:_MAX_LISTED]
        pods.sort(key=lambda p: p.pod_id)
        unready = [
            p
            for p in pods
            if p.kubernetes and p.not_ready_since_ns is not None and now_ns - p.not_ready_since_ns >= not_ready_ns
        ]
        if unready:
            out.append(
                Issue(
                    "pod_not_ready",
                    "error",
                    "deployment",
                    name,
                    f"{len(unready)} pod(s) of {name} not ready ("
                    + ", ".join(f"{p.pod_id} {p.phase or 'unknown phase'}" for p in unready[:3])
                    + ")"
                    + (f": agents {', '.join(agents)} lose capacity" if agents else ""),
                    numbers={
                        "not_ready": len(unready),
                        "pods": len(pods),
                        "not_ready_s": round(max(now_ns - p.not_ready_since_ns for p in unready) / NS, 1),
                    },
                    details={"pods": [p.pod_id for p in unready][:_MAX_LISTED], "agents": agents},
                    hint=f"telemetron workload --deployment {name}",
                )
            )
        looping, oom = [], []
        for pod in pods:
            for c in pod.containers.values():
                increase = restart_increase(c, crash_since)
                if increase >= s.crashloop_restarts or c.status_reason == "CrashLoopBackOff":
                    looping.append((pod, c, increase))
                near_limit = any(t >= crash_since and r >= s.memory_near_limit_ratio for t, r in pod.memory_ratio)
                oom_reason = c.status_reason == "OOMKilled" or (
                    c.last_terminated_reason == "OOMKilled" and (increase >= 1 or c.restarts is None)
                )
                if oom_reason or (increase >= 1 and near_limit):
                    oom.append((pod, c, increase, max((r for _, r in pod.memory_ratio), default=None)))
        if looping:
            out.append(
                Issue(
                    "pod_crash_looping",
                    "critical",
                    "deployment",
                    name,
                    f"{len(looping)} container(s) of {name} keep restarting ("
                    + ", ".join(f"{p.pod_id}/{c.name} +{n}" for p, c, n in looping[:3])
                    + f" in {s.crashloop_window_s:g}s)"
                    + (
                        f"; last exit {looping[0][1].last_terminated_reason}"
                        if looping[0][1].last_terminated_reason
                        else ""
                    ),
                    numbers={
                        "restarts_in_window": sum(n for _, _, n in looping),
                        "restarts_total": sum(c.restarts or 0 for _, c, _ in looping),
                    },
                    details={"pods": sorted({p.pod_id for p, _, _ in looping})[:_MAX_LISTED], "agents": agents},
                    hint=f"kubectl logs --previous {looping[0][0].pod_id}",
                )
            )
        if oom:
            pod, container, increase, ratio = oom[0]
            limit = pod.memory_limit
            out.append(
                Issue(
                    "pod_oom_killed",
                    "critical",
                    "deployment",
                    name,
                    f"{pod.pod_id}/{container.name} of {name} was OOM-killed"
                    + (f" (memory reached {ratio:.0%} of its {limit / 1048576:.0f}Mi limit)" if ratio and limit else "")
                    + ": raise the memory limit or reduce per-task memory",
                    numbers={
                        "pods": len({p.pod_id for p, *_ in oom}),
                        "restarts_in_window": increase,
                        **({"memory_limit_ratio": round(ratio, 3)} if ratio else {}),
                    },
                    details={"pods": sorted({p.pod_id for p, *_ in oom})[:_MAX_LISTED], "agents": agents},
                    hint=f"kubectl describe pod {pod.pod_id}",
                )
            )
    for deployment in w.deployments.values():
        if deployment.desired is None or deployment.available is None or deployment.updated_ns < now_ns - w.stale_ns:
            continue
        if deployment.available >= deployment.desired:
            deployment.degraded_since_ns = None
            continue
        if deployment.degraded_since_ns is None:
            deployment.degraded_since_ns = deployment.updated_ns
        if now_ns - deployment.degraded_since_ns < not_ready_ns:
            continue
        agents = sorted(agents_on.get(deployment.name, []))[:_MAX_LISTED]
        out.append(
            Issue(
                "deployment_degraded",
                "warning",
                "deployment",
                deployment.name,
                f"{deployment.name} has {deployment.available} of {deployment.desired} desired pods available",
                numbers={"desired": deployment.desired, "available": deployment.available},
                details={"agents": agents},
                hint=f"telemetron workload --deployment {deployment.name}",
            )
        )
    return out


# --- ingest ---------------------------------------------------------------------------------------

_REJECTION_WINDOW_S = 3600  # a reason not seen for this long no longer keeps the issue open


def _rejected(o: Oracle, now_ns: int) -> list[Issue]:
    """What the receiver refused: acknowledged to the Collector as partial success, so the sender never sees it."""
    if o.store is None:
        return []
    out = []
    since = now_ns - _REJECTION_WINDOW_S * NS
    for service, refused in o.store.rejections.by_service().items():
        recent = [r for r in refused if r.last_seen_ns >= since]
        if not recent:
            continue
        records = sum(r.count for r in recent if r.what in RECORD_UNITS)
        summary = "; ".join(f"{r.count} {r.what}(s): {r.reason}" for r in recent[:3])
        out.append(
            Issue(
                "telemetry_rejected",
                "warning",
                "service",
                service,
                f"oracle_api refused telemetry from {service}: {summary}"
                + (f"; and {len(recent) - 3} more reasons" if len(recent) > 3 else ""),
                trace_ids=[t for r in recent if (t := r.example.get("trace_id", "")).strip("0")],  # not empty/zero ids
                numbers={"rejected_records": records, "dropped_parts": sum(r.count for r in recent) - records},
                details={
                    "reasons": [
                        {
                            "what": r.what,
                            "reason": r.reason,
                            "count": r.count,
                            "example": r.example,
                            "first_seen": iso(r.first_seen_ns),
                            "last_seen": iso(r.last_seen_ns),
                        }
                        for r in recent[:_MAX_LISTED]
                    ]
                },
                hint="fix the instrumentation that sends it; counters per reason: GET /health (receiver.*.by_reason)",
            )
        )
    return out


def restore_rejections(log: RejectionLog, issues: list[dict], parse_ns) -> None:
    """Refill the rejection log from a snapshot's telemetry_rejected issues, so a restart keeps them visible."""
    for issue in issues:
        if issue.get("kind") != "telemetry_rejected":
            continue
        for r in issue.get("evidence", {}).get("reasons", []):
            try:
                refused = Refused(
                    r["what"],
                    r["reason"],
                    int(r["count"]),
                    dict(r["example"]),
                    parse_ns(r["first_seen"]),
                    parse_ns(r["last_seen"]),
                )
            except (KeyError, TypeError, ValueError):
                continue
            log.restore(issue["entity"]["name"], refused)


_DETECTORS = (_agent_capacity, _tasks, _error_rate, _tools, _handoff_loops, _llm, _cost, _queues, _workload, _rejected)
