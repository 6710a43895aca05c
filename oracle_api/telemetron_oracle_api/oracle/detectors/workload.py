"""Pods not ready, crash-looping or OOM-killed, and deployments short of their desired pods."""

from __future__ import annotations

from ..issues import MAX_LISTED, Issue
from ..view import StateView
from ..window import NS
from ..workload import restart_increase


def workload_trouble(view: StateView, now_ns: int) -> list[Issue]:
    settings = view.settings
    workload = view.workload
    not_ready_ns = settings.pod_not_ready_after_s * NS
    crash_since = now_ns - int(settings.crashloop_window_s * NS)
    by_deployment: dict[str, list] = {}
    for pod in workload.live_pods(now_ns):
        by_deployment.setdefault(pod.deployment, []).append(pod)
    agents_on: dict[str, list[str]] = {}
    for agent in view.agents.agents.values():
        agents_on.setdefault(agent.deployment, []).append(agent.name)
    out = []
    for name, pods in sorted(by_deployment.items()):
        agents = sorted(agents_on.get(name, []))[:MAX_LISTED]
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
                    details={"pods": [p.pod_id for p in unready][:MAX_LISTED], "agents": agents},
                    hint=f"telemetron workload --deployment {name}",
                )
            )
        looping, oom = [], []
        for pod in pods:
            for container in pod.containers.values():
                increase = restart_increase(container, crash_since)
                if increase >= settings.crashloop_restarts or container.status_reason == "CrashLoopBackOff":
                    looping.append((pod, container, increase))
                near_limit = any(
                    t >= crash_since and r >= settings.memory_near_limit_ratio for t, r in pod.memory_ratio
                )
                oom_reason = container.status_reason == "OOMKilled" or (
                    container.last_terminated_reason == "OOMKilled" and (increase >= 1 or container.restarts is None)
                )
                if oom_reason or (increase >= 1 and near_limit):
                    oom.append((pod, container, increase, max((r for _, r in pod.memory_ratio), default=None)))
        if looping:
            out.append(
                Issue(
                    "pod_crash_looping",
                    "critical",
                    "deployment",
                    name,
                    f"{len(looping)} container(s) of {name} keep restarting ("
                    + ", ".join(f"{p.pod_id}/{c.name} +{n}" for p, c, n in looping[:3])
                    + f" in {settings.crashloop_window_s:g}s)"
                    + (
                        f"; last exit {looping[0][1].last_terminated_reason}"
                        if looping[0][1].last_terminated_reason
                        else ""
                    ),
                    numbers={
                        "restarts_in_window": sum(n for _, _, n in looping),
                        "restarts_total": sum(c.restarts or 0 for _, c, _ in looping),
                    },
                    details={"pods": sorted({p.pod_id for p, _, _ in looping})[:MAX_LISTED], "agents": agents},
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
                    details={"pods": sorted({p.pod_id for p, *_ in oom})[:MAX_LISTED], "agents": agents},
                    hint=f"kubectl describe pod {pod.pod_id}",
                )
            )
    for deployment in workload.deployments.values():
        since = deployment.degraded_since_ns  # kept by WorkloadTracker.note_degraded
        if deployment.updated_ns < now_ns - workload.stale_ns or since is None or now_ns - since < not_ready_ns:
            continue
        agents = sorted(agents_on.get(deployment.name, []))[:MAX_LISTED]
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
