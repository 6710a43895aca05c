"""Issues: what a detector reports (``Issue``) and which are open since when (``IssueRegistry``).

The detectors themselves are in ``detectors/``, one module per kind of trouble.

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

from ..formats import iso
from ..receiver.rejections import Refused, RejectionLog

SEVERITIES = ("info", "warning", "error", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
_MAX_TRACES = 10
MAX_LISTED = 20  # names listed in an issue's evidence


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
