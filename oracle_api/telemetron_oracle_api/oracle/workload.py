"""Runtime workload per deployment, from the metrics the Collector's Kubernetes receivers emit.

Names accepted (receiver spelling first, semantic-convention spelling after):
``k8s.deployment.desired``/``desired_pods``, ``k8s.deployment.available``/``available_pods``,
``k8s.pod.phase`` (1 Pending, 2 Running, 3 Succeeded, 4 Failed, 5 Unknown) / ``k8s.pod.status.phase``,
``k8s.pod.cpu.usage`` (cores; ``k8s.pod.cpu.utilization`` is its old kubeletstats name),
``k8s.pod.memory.working_set`` / ``k8s.pod.memory.usage`` (bytes), ``k8s.pod.network.io``,
``k8s.container.restarts`` / ``restart.count``, ``k8s.container.ready``,
``k8s.container.cpu_limit`` / ``cpu.limit``, ``k8s.container.memory_limit`` / ``memory.limit``,
``k8s.container.status.reason`` and the resource attribute
``k8s.container.status.last_terminated_reason`` (OOMKilled, CrashLoopBackOff, ...).
Outside Kubernetes a process is a "pod" of the deployment named by its ``service.name``:
``process.cpu.time`` / ``process.cpu.utilization``, ``process.memory.usage`` (and the CPython
``process.runtime.cpython.*`` spellings).
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import telemetron_semconv as sc

from ..model import MetricPoint
from . import _attrs
from .window import NS

PHASES = {1: "Pending", 2: "Running", 3: "Succeeded", 4: "Failed", 5: "Unknown"}
_POD_TEMPLATE_HASH = re.compile(r"^(?P<deployment>.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$")
_REPLICASET = re.compile(r"^(?P<deployment>.+)-[a-z0-9]{6,10}$")
_MIB = 1024 * 1024


@dataclass(slots=True)
class Container:
    name: str
    ready: bool | None = None
    restarts: int | None = None
    restart_history: deque = field(default_factory=lambda: deque(maxlen=50))  # (t, value) on change
    status_reason: str | None = None
    last_terminated_reason: str | None = None
    cpu_limit: float | None = None  # cores
    memory_limit: float | None = None  # bytes
    cpu: float | None = None
    memory: float | None = None
    image: str | None = None


@dataclass(slots=True)
class Pod:
    pod_id: str
    deployment: str
    kubernetes: bool
    phase: str | None = None
    cpu: float | None = None  # cores
    memory: float | None = None  # bytes
    memory_is_working_set: bool = False
    containers: dict[str, Container] = field(default_factory=dict)
    updated_ns: int = 0
    not_ready_since_ns: int | None = None
    memory_ratio: deque = field(default_factory=lambda: deque(maxlen=30))  # (t, memory / limit)
    network: dict = field(default_factory=dict)  # direction -> (t, cumulative bytes, bytes/s)
    cpu_time: dict = field(default_factory=dict)  # mode -> (t, seconds, cores)

    @property
    def memory_limit(self) -> float | None:
        limits = [c.memory_limit for c in self.containers.values() if c.memory_limit]
        return sum(limits) if limits else None

    @property
    def cpu_limit(self) -> float | None:
        limits = [c.cpu_limit for c in self.containers.values() if c.cpu_limit]
        return sum(limits) if limits else None

    def cpu_cores(self) -> float | None:
        if self.cpu is not None:
            return self.cpu
        values = [c.cpu for c in self.containers.values() if c.cpu is not None]
        if values:
            return sum(values)
        rates = [rate for (_, _, rate) in self.cpu_time.values() if rate is not None]
        return sum(rates) if rates else None

    def memory_bytes(self) -> float | None:
        if self.memory is not None:
            return self.memory
        values = [c.memory for c in self.containers.values() if c.memory is not None]
        return sum(values) if values else None

    def ready(self) -> bool | None:
        flags = [c.ready for c in self.containers.values() if c.ready is not None]
        return all(flags) if flags else None


@dataclass(slots=True)
class Deployment:
    name: str
    kubernetes: bool = False
    desired: int | None = None
    available: int | None = None
    updated_ns: int = 0
    image: str | None = None
    images_seen: set = field(default_factory=set)
    rolled_out_at_ns: int | None = None
    degraded_since_ns: int | None = None


def _deployment_from_names(attrs: dict, pod_name: str | None) -> str | None:
    for key in ("k8s.statefulset.name", "k8s.daemonset.name", "k8s.job.name"):
        value = _attrs.text(attrs, key)
        if value:
            return value
    replicaset = _attrs.text(attrs, "k8s.replicaset.name")
    if replicaset:
        match = _REPLICASET.match(replicaset)
        return match.group("deployment") if match else replicaset
    if pod_name:
        match = _POD_TEMPLATE_HASH.match(pod_name)
        return match.group("deployment") if match else pod_name
    return None


class WorkloadTracker:
    def __init__(self, *, stale_after_s: float = 300.0, max_pods: int = 20_000) -> None:
        self.deployments: dict[str, Deployment] = {}
        self.pods: dict[str, Pod] = {}
        self.stale_ns = int(stale_after_s * NS)
        self.cluster_names: Counter = Counter()
        self.namespaces: Counter = Counter()
        self._max_pods = max_pods
        self._pod_deployment: dict[str, str] = {}  # learned from resources that name both
        self._handlers: dict[str, Callable[[MetricPoint, float], None]] = {
            "k8s.deployment.desired": self._desired,
            "k8s.deployment.desired_pods": self._desired,
            "k8s.deployment.pod.desired": self._desired,
            "k8s.deployment.available": self._available,
            "k8s.deployment.available_pods": self._available,
            "k8s.deployment.pod.available": self._available,
            "k8s.pod.phase": self._phase,
            "k8s.pod.status.phase": self._status_phase,
            "k8s.pod.cpu.usage": self._pod_cpu,
            "k8s.pod.cpu.utilization": self._pod_cpu,
            "k8s.pod.memory.working_set": self._pod_working_set,
            "k8s.pod.memory.usage": self._pod_memory_usage,
            "k8s.pod.network.io": self._pod_network,
            "k8s.container.restarts": self._restarts,
            "k8s.container.restart.count": self._restarts,
            "k8s.container.ready": self._ready,
            "k8s.container.cpu_limit": self._cpu_limit,
            "k8s.container.cpu.limit": self._cpu_limit,
            "k8s.container.memory_limit": self._memory_limit,
            "k8s.container.memory.limit": self._memory_limit,
            "k8s.container.status.reason": self._status_reason,
            "container.cpu.usage": self._container_cpu,
            "k8s.container.cpu.usage": self._container_cpu,
            "container.memory.working_set": self._container_memory,
            "k8s.container.memory.working_set": self._container_memory,
            "process.cpu.time": self._process_cpu_time,
            "process.runtime.cpython.cpu_time": self._process_cpu_time,
            "process.cpu.utilization": self._process_cpu_utilization,
            "process.runtime.cpython.cpu.utilization": self._process_cpu_utilization,
            "process.memory.usage": self._process_memory,
            "process.runtime.cpython.memory": self._process_memory,
        }

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    def add(self, point: MetricPoint) -> bool:
        """Apply one data point; False when the metric is not one the workload view uses."""
        handler, value = self._handlers.get(point.name), point.value
        if handler is None or value is None:
            return False
        attrs = point.resource.attributes
        cluster, namespace = attrs.get(sc.K8S_CLUSTER_NAME), attrs.get(sc.K8S_NAMESPACE_NAME)
        if cluster:
            self.cluster_names[str(cluster)] += 1
        if namespace:
            self.namespaces[str(namespace)] += 1
        handler(point, value)
        return True

    # --- identity ---------------------------------------------------------------------------------

    def _deployment(self, name: str, kubernetes: bool) -> Deployment:
        deployment = self.deployments.get(name)
        if deployment is None:
            deployment = self.deployments[name] = Deployment(name, kubernetes)
        deployment.kubernetes = deployment.kubernetes or kubernetes
        return deployment

    def _pod(self, point: MetricPoint) -> Pod | None:
        attrs = point.resource.attributes
        pod_name = _attrs.text(attrs, sc.K8S_POD_NAME)
        if pod_name:
            deployment = _attrs.text(attrs, sc.K8S_DEPLOYMENT_NAME)
            if deployment:
                self._pod_deployment[pod_name] = deployment
            else:
                deployment = self._pod_deployment.get(pod_name) or _deployment_from_names(attrs, pod_name)
            pod_id, kubernetes = pod_name, True
        else:
            deployment = point.resource.service_name
            instance = _attrs.text(attrs, "service.instance.id")
            host, pid = _attrs.text(attrs, "host.name"), _attrs.text(attrs, "process.pid")
            pod_id = instance or (f"{host}:{pid}" if host and pid else None) or deployment
            kubernetes = False
        pod = self.pods.get(pod_id)
        if pod is None:
            if len(self.pods) >= self._max_pods:
                return None
            pod = self.pods[pod_id] = Pod(pod_id, deployment or "unknown", kubernetes)
        elif deployment and pod.deployment != deployment:
            pod.deployment = deployment
        pod.updated_ns = max(pod.updated_ns, point.time_ns)
        self._deployment(pod.deployment, kubernetes)
        return pod

    def _container(self, point: MetricPoint) -> tuple[Pod, Container] | None:
        pod = self._pod(point)
        if pod is None:
            return None
        attrs = point.resource.attributes
        name = _attrs.text(attrs, "k8s.container.name") or _attrs.text(point.attributes, "k8s.container.name") or "main"
        container = pod.containers.get(name)
        if container is None:
            container = pod.containers[name] = Container(name)
        reason = _attrs.text(attrs, "k8s.container.status.last_terminated_reason")
        if reason:
            container.last_terminated_reason = reason
        image = _attrs.text(attrs, "container.image.name")
        if image:
            tag = _attrs.text(attrs, "container.image.tag")
            container.image = f"{image}:{tag}" if tag else image
            deployment = self.deployments[pod.deployment]
            if container.image not in deployment.images_seen:
                if deployment.images_seen:
                    deployment.rolled_out_at_ns = point.time_ns
                deployment.images_seen.add(container.image)
                deployment.image = container.image
        return pod, container

    # --- deployments ------------------------------------------------------------------------------

    def _deployment_point(self, point: MetricPoint) -> Deployment | None:
        name = _attrs.resource_deployment(point.resource)
        if not name:
            return None
        deployment = self._deployment(name, True)
        deployment.updated_ns = max(deployment.updated_ns, point.time_ns)
        return deployment

    def _desired(self, point: MetricPoint, value: float) -> None:
        deployment = self._deployment_point(point)
        if deployment is not None:
            deployment.desired = int(value)

    def _available(self, point: MetricPoint, value: float) -> None:
        deployment = self._deployment_point(point)
        if deployment is not None:
            deployment.available = int(value)

    # --- pods -------------------------------------------------------------------------------------

    def _phase(self, point: MetricPoint, value: float) -> None:
        pod = self._pod(point)
        if pod is not None:
            pod.phase = PHASES.get(int(value), "Unknown")
            _refresh_ready(pod, point.time_ns)

    def _status_phase(self, point: MetricPoint, value: float) -> None:
        # Semantic-convention form: one point per phase, 1 for the current one.
        phase = _attrs.text(point.attributes, "k8s.pod.status.phase")
        if phase and value > 0:
            pod = self._pod(point)
            if pod is not None:
                pod.phase = phase.capitalize() if phase.capitalize() in PHASES.values() else "Unknown"
                _refresh_ready(pod, point.time_ns)

    def _pod_cpu(self, point: MetricPoint, value: float) -> None:
        pod = self._pod(point)
        if pod is not None:
            pod.cpu = value

    def _pod_working_set(self, point: MetricPoint, value: float) -> None:
        pod = self._pod(point)
        if pod is not None:
            pod.memory, pod.memory_is_working_set = value, True
            self._note_memory(pod, point.time_ns)

    def _pod_memory_usage(self, point: MetricPoint, value: float) -> None:
        pod = self._pod(point)
        if pod is not None and not pod.memory_is_working_set:
            pod.memory = value
            self._note_memory(pod, point.time_ns)

    def _pod_network(self, point: MetricPoint, value: float) -> None:
        pod = self._pod(point)
        direction = _attrs.text(point.attributes, "direction") or _attrs.text(point.attributes, "network.io.direction")
        if pod is None or direction not in ("receive", "transmit"):
            return
        previous = pod.network.get(direction)
        rate = None
        if previous is not None and point.time_ns > previous[0] and value >= previous[1]:
            rate = (value - previous[1]) / ((point.time_ns - previous[0]) / NS)
        elif previous is not None:
            rate = previous[2]
        pod.network[direction] = (point.time_ns, value, rate)

    # --- containers -------------------------------------------------------------------------------

    def _restarts(self, point: MetricPoint, value: float) -> None:
        found = self._container(point)
        if found is None:
            return
        _, container = found
        restarts = int(value)
        history = container.restart_history
        if not history or history[-1][1] != restarts:
            history.append((point.time_ns, restarts))
        container.restarts = restarts

    def _ready(self, point: MetricPoint, value: float) -> None:
        found = self._container(point)
        if found is None:
            return
        pod, container = found
        container.ready = value >= 1
        _refresh_ready(pod, point.time_ns)

    def _cpu_limit(self, point: MetricPoint, value: float) -> None:
        found = self._container(point)
        if found is not None:
            found[1].cpu_limit = value

    def _memory_limit(self, point: MetricPoint, value: float) -> None:
        found = self._container(point)
        if found is not None:
            found[1].memory_limit = value

    def _status_reason(self, point: MetricPoint, value: float) -> None:
        reason = _attrs.text(point.attributes, "k8s.container.status.reason")
        found = self._container(point) if reason else None
        if found is None:
            return
        container = found[1]
        if value > 0:
            container.status_reason = reason
        elif container.status_reason == reason:
            container.status_reason = None

    def _container_cpu(self, point: MetricPoint, value: float) -> None:
        found = self._container(point)
        if found is not None:
            found[1].cpu = value

    def _container_memory(self, point: MetricPoint, value: float) -> None:
        found = self._container(point)
        if found is not None:
            found[1].memory = value
            self._note_memory(found[0], point.time_ns)

    # --- processes outside Kubernetes -------------------------------------------------------------

    def _process_cpu_time(self, point: MetricPoint, value: float) -> None:
        pod = self._pod(point)
        if pod is None:
            return
        mode = _attrs.text(point.attributes, "cpu.mode") or _attrs.text(point.attributes, "type") or "total"
        previous = pod.cpu_time.get(mode)
        rate = previous[2] if previous else None
        if previous is not None and point.time_ns > previous[0] and value >= previous[1]:
            rate = (value - previous[1]) / ((point.time_ns - previous[0]) / NS)
        pod.cpu_time[mode] = (point.time_ns, value, rate)
        pod.phase = pod.phase or "Running"

    def _process_cpu_utilization(self, point: MetricPoint, value: float) -> None:
        # A ratio of the CPUs available to the process; shown as cores of one CPU (an approximation).
        pod = self._pod(point)
        if pod is None:
            return
        mode = _attrs.text(point.attributes, "cpu.mode") or "total"
        pod.cpu_time[mode] = (point.time_ns, 0.0, value)
        pod.phase = pod.phase or "Running"

    def _process_memory(self, point: MetricPoint, value: float) -> None:
        kind = _attrs.text(point.attributes, "type")
        if kind not in (None, "rss"):
            return  # the CPython metric reports rss and vms; rss is what is in use
        pod = self._pod(point)
        if pod is not None:
            pod.memory = value
            pod.phase = pod.phase or "Running"

    def _note_memory(self, pod: Pod, t_ns: int) -> None:
        limit, used = pod.memory_limit, pod.memory_bytes()
        if limit and used is not None:
            pod.memory_ratio.append((t_ns, used / limit))

    # --- reading ----------------------------------------------------------------------------------

    def live_pods(self, now_ns: int) -> list[Pod]:
        horizon = now_ns - self.stale_ns
        return [p for p in self.pods.values() if p.updated_ns >= horizon]

    def note_degraded(self, now_ns: int) -> None:
        """Start or end each fresh deployment's spell of fewer available pods than desired."""
        for deployment in self.deployments.values():
            desired, available = deployment.desired, deployment.available
            if desired is None or available is None or deployment.updated_ns < now_ns - self.stale_ns:
                continue
            if available >= desired:
                deployment.degraded_since_ns = None
            elif deployment.degraded_since_ns is None:
                deployment.degraded_since_ns = deployment.updated_ns

    def expire(self, now_ns: int) -> None:
        """Forget pods that stopped reporting long ago (deleted pods, stopped processes)."""
        horizon = now_ns - 4 * self.stale_ns
        for pod_id in [k for k, p in self.pods.items() if p.updated_ns < horizon]:
            del self.pods[pod_id]


def _refresh_ready(pod: Pod, t_ns: int) -> None:
    """Track since when a pod has been not ready (a phase other than Running, or a container unready)."""
    healthy = pod.phase in (None, "Running", "Succeeded") and pod.ready() is not False
    if healthy:
        pod.not_ready_since_ns = None
    elif pod.not_ready_since_ns is None:
        pod.not_ready_since_ns = t_ns


def restart_increase(container: Container, since_ns: int) -> int:
    """Restarts since ``since_ns``: the latest count minus the last count seen before then."""
    history = container.restart_history
    if not history:
        return 0
    baseline = history[0][1]
    for t_ns, value in history:
        if t_ns <= since_ns:
            baseline = value
    current = history[-1][1]
    return current - baseline if current >= baseline else current


def quantity_cpu(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def quantity_memory(n_bytes: float) -> str:
    gib = n_bytes / (1024 * _MIB)
    if gib >= 1 and abs(gib - round(gib)) < 1e-9:
        return f"{int(round(gib))}Gi"
    return f"{round(n_bytes / _MIB)}Mi"


def mib(n_bytes: float) -> float:
    return round(n_bytes / _MIB, 1)
