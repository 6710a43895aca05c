"""Work lost with its process: invocations open when their process was replaced or restarted."""

from __future__ import annotations

from ..issues import MAX_LISTED, Issue
from ..view import StateView
from ..window import NS


def lost_work(view: StateView, now_ns: int) -> list[Issue]:
    listed = view.settings.symptoms_listed
    out = []
    for crash in view.instances.crashes.values():
        lost = sorted(crash.lost, key=lambda t: t.started_ns)
        silent_s = (crash.detected_ns - crash.last_seen_ns) / NS
        where = f"pod {crash.pod}" if crash.pod else "its process"
        if crash.pod != crash.instance:
            where += f" ({crash.instance})"
        issue = Issue(
            "work_lost_in_crash",
            "error",
            "instance",
            crash.instance,
            f"{len(lost)} invocation(s) of {crash.agent} died with {where}, silent {silent_s:.0f}s, "
            f"replaced by {crash.replaced_by}: closed as lost; retry them if their results are needed",
            trace_ids=[t.trace_id for t in lost],
            numbers={"lost_tasks": len(lost), "silent_s": round(silent_s, 1)},
            details={
                "agent": crash.agent,
                "deployment": crash.deployment,
                "replaced_by": crash.replaced_by,
                "pod": crash.pod,
                "task_ids": [t.task_id for t in lost][:MAX_LISTED],
            },
            entity_extra={"agent": crash.agent, "deployment": crash.deployment},
            hint=f"telemetron agents {crash.agent}",
            explained_by=_pod_cause(view, crash.deployment),
        )
        for task in lost:
            issue.add_symptom(
                {"kind": "task_lost", "entity": {"type": "task", "name": task.task_id, "agent": crash.agent}}, listed
            )
        out.append(issue)
    return out


def _pod_cause(view: StateView, deployment: str) -> str:
    """An OOM kill of the deployment explains the crash when one is reported; else a crash loop would."""
    oom = any(
        c.last_terminated_reason == "OOMKilled" or c.status_reason == "OOMKilled"
        for p in view.workload.pods.values()
        if p.deployment == deployment
        for c in p.containers.values()
    )
    return f"{'pod_oom_killed' if oom else 'pod_crash_looping'}:deployment:{deployment}"
