"""Issues: what a detector reports (``Issue``) and which are open since when (``IssueRegistry``).

The detectors themselves are in ``detectors/``, one module per kind of trouble.

Every issue is an incident: ``{id, kind, severity, entity {type, name}, evidence {trace_ids,
numbers}, probable_cause, hint, first_seen, last_seen, symptoms {count, items}, example_traces}``.
Ids are stable (kind + entity), so the same trouble keeps its id and its first_seen while it
lasts. An issue a detector marks ``explained_by`` another one found at the same time is folded
into that one's symptoms instead of being listed. Thresholds come from Settings; the README's
"Issue kinds" says what triggers each kind.

| kind                     | severity | entity      | detected when                                                  |
|--------------------------|----------|-------------|----------------------------------------------------------------|
| agent_over_capacity      | error    | agent       | open invocations > max_parallel_invocations                    |
| task_stuck               | error    | task        | a running task sent no heartbeat for stuck_task_after_s        |
| task_slow                | warning  | task        | running > slow_task_factor x the agent's p95 duration          |
| task_hung                | error    | task        | heartbeats arrive but nothing under it moves, far past its peers |
| work_lost_in_crash       | error    | instance    | its process was replaced or restarted with invocations open    |
| tool_failing             | error    | tool        | >= tool_failure_threshold failures within issue_window_s       |
| llm_rate_limit_near      | warning  | model       | remaining/limit below ratelimit_remaining_ratio                |
| llm_rate_limited         | error    | model       | 429 / rate-limit errors within issue_window_s                  |
| llm_provider_errors      | error    | model       | one model's 5xx-type errors, or its error rate above the rate  |
| handoff_loop             | error    | task        | one task handed back and forth >= handoff_loop_threshold times |
| queue_backlog            | warning  | queue       | >= queue_backlog_threshold tasks waiting                       |
| queue_task_waiting       | warning  | queue       | tasks waiting longer than queue_wait_threshold_s               |
| task_blocked_on_failed   | error    | task        | tasks wait on this failed task (one incident per failed task)  |
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

import json
from dataclasses import dataclass, field

from ..formats import iso
from ..receiver.rejections import Refused, RejectionLog

SEVERITIES = ("info", "warning", "error", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
_MAX_TRACES = 10
_EXAMPLE_TRACES = 3
MAX_LISTED = 20  # names listed in an issue's evidence
CHARS_PER_TOKEN = 4  # the token budget's approximation: one token per four characters of JSON or text


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
    explained_by: str | None = None  # id of the issue that causes this one: folded into its symptoms
    symptoms: list[dict] = field(default_factory=list)  # what this cause explains (bounded when rendered)
    symptom_count: int = 0  # all of them, listed or not

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.entity_type}:{self.entity_name}"

    def add_symptom(self, symptom: dict, limit: int, *, first: bool = False) -> None:
        """Count a symptom and list it while there is room; ``first`` (folded issues) goes ahead of the rest."""
        self.symptom_count += 1
        if first:
            self.symptoms.insert(0, symptom)
            del self.symptoms[limit:]
        elif len(self.symptoms) < limit:
            self.symptoms.append(symptom)

    def as_symptom(self) -> dict:
        return {
            "kind": self.kind,
            "entity": {"type": self.entity_type, "name": self.entity_name},
            "summary": self.probable_cause[:160],
        }

    def to_json(self, first_seen_ns: int, last_seen_ns: int) -> dict:
        traces = _unique(self.trace_ids)[:_MAX_TRACES]
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "entity": {"type": self.entity_type, "name": self.entity_name, **self.entity_extra},
            "evidence": {"trace_ids": traces, "numbers": self.numbers, **self.details},
            "probable_cause": self.probable_cause,
            "hint": self.hint,
            "first_seen": iso(first_seen_ns),
            "last_seen": iso(last_seen_ns),
            "symptoms": {"count": self.symptom_count, "items": self.symptoms},
            "example_traces": [f"/api/v1/traces/{t}" for t in traces[:_EXAMPLE_TRACES]],
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

    def update(self, detected: list[Issue], now_ns: int, symptoms_listed: int = 10) -> list[dict]:
        """The open incidents, most severe first and, within a severity, the newest first."""
        current: dict[str, tuple[int, int]] = {}
        ranked = []
        for issue in fold(detected, symptoms_listed):
            first = self._open.get(issue.id, (None, None))[0] or self._restored.pop(issue.id, None) or now_ns
            current[issue.id] = (first, now_ns)
            ranked.append((-SEVERITY_RANK[issue.severity], -first, issue.id, issue.to_json(first, now_ns)))
        self._open = current
        ranked.sort(key=lambda r: r[:3])
        return [r[3] for r in ranked]


def fold(detected: list[Issue], symptoms_listed: int) -> list[Issue]:
    """One issue per id, and each issue explained by another present one moved into its root cause's symptoms."""
    by_id: dict[str, Issue] = {}
    for issue in detected:
        by_id.setdefault(issue.id, issue)

    def root(issue: Issue) -> Issue | None:
        seen = {issue.id}
        cause = by_id.get(issue.explained_by or "")
        while cause is not None and cause.explained_by in by_id and cause.explained_by not in seen:
            seen.add(cause.id)
            cause = by_id[cause.explained_by]
        return cause if cause is not None and cause.id != issue.id else None

    out = []
    for issue in by_id.values():
        cause = root(issue)
        if cause is None:
            out.append(issue)
        else:
            cause.add_symptom(issue.as_symptom(), symptoms_listed, first=True)
    return out


def tokens(payload: object) -> int:
    """The budget's measure of a JSON value: its compact encoding's length / CHARS_PER_TOKEN, rounded up."""
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return -(-len(text) // CHARS_PER_TOKEN)


def brief(issue: dict) -> dict:
    """An issue in one short line's worth of JSON, for those a budget has no room to show in full."""
    numbers = issue["evidence"].get("numbers", {})
    return {
        "id": issue["id"],
        "kind": issue["kind"],
        "severity": issue["severity"],
        "entity": {"type": issue["entity"]["type"], "name": issue["entity"]["name"]},
        "numbers": dict(list(numbers.items())[:4]),
        "first_seen": issue["first_seen"],
    }


def within_budget(issues: list[dict], budget_tokens: int, reserved_tokens: int = 0) -> tuple[list[dict], list[dict]]:
    """(shown in full, shown briefly) from the head of ``issues`` (ranked), within the budget.

    Full issues first while they fit; once one does not, it and the rest are given briefly while
    those fit; whatever follows is left for the next page. Room is kept so that every severity
    present is represented by its newest issue: one left out by the budget is added briefly,
    marked ``out_of_order``, so a fresh error is never hidden behind many older, graver ones.
    ``budget_tokens`` 0 means no budget.
    """
    if budget_tokens <= 0:
        return list(issues), []
    newest: dict[str, dict] = {}
    for issue in issues:  # ranked newest first within a severity: the first of each is its newest
        newest.setdefault(issue["severity"], issue)
    kept = {i["id"]: {**brief(i), "out_of_order": True} for i in newest.values()}
    left = budget_tokens - reserved_tokens - sum(tokens(b) + 1 for b in kept.values())
    full: list[dict] = []
    short: list[dict] = []
    for issue in issues:
        pinned = kept.pop(issue["id"], None)
        if pinned is not None:
            left += tokens(pinned) + 1  # its room was kept: it is now shown in order
        if not short:
            cost = tokens(issue) + 1
            if cost <= left:
                full.append(issue)
                left -= cost
                continue
        item = brief(issue)
        cost = tokens(item) + 1
        if cost > left:
            if pinned is not None:
                kept[issue["id"]] = pinned
            break
        short.append(item)
        left -= cost
    return full, short + list(kept.values())


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
