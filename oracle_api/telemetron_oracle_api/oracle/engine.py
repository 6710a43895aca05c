"""The Oracle: live system state materialized from committed telemetry as it arrives.

It subscribes to the hub (called on the hub's thread after each commit), folds each
batch into the trackers under one lock, and serves the state, issues and diffs from memory.
A background thread expires old entries, evaluates issues and writes snapshots.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import telemetron_semconv as sc

from ..formats import compact_json
from ..hub import Committed
from ..model import MetricPoint, SpanRecord
from ..settings import Settings
from .agents import AgentTracker
from .detectors import detect
from .handoffs import HandoffTracker
from .issues import Issue, IssueRegistry, restore_rejections
from .liveness import Instances, Progress, retire_lost_work
from .llm import LlmTracker, is_llm_span, parse_configured_limits
from .queues import QueueTracker
from .rebuild import rebuild_from_kafka, rebuild_from_store
from .snapshots import SnapshotStore
from .state import build, filter_state
from .tasks import Outcomes
from .tools import ToolTracker
from .view import StateView
from .window import NS, RecentKeys, id_key
from .workload import WorkloadTracker

if TYPE_CHECKING:
    from ..store.interface import TelemetryStore as Store

log = logging.getLogger(__name__)

_AGENT_OPERATIONS = {sc.OP_INVOKE_AGENT, sc.OP_CREATE_AGENT}
_SEND = {"send", "publish", "create"}
_CONSUME = {"process", "receive", "deliver"}
_CHUNK = 1000  # items folded per lock hold, so readers never wait long behind a big batch
# The document is rebuilt by its own thread at most this often while data arrives (coalescing
# bursts; it bounds how stale a read can be), and at least this often when idle (time-derived
# fields such as waiting_since_mins and the 60 s LLM windows keep moving).
_REBUILD_MIN_S = 0.05
_REBUILD_IDLE_S = 1.0
_KAFKA_REBUILD_MODES = ("off", "if_store_missing", "always")


def parse_iso_ns(value: str) -> int:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000) * 1000


class Oracle:
    """Live state of the observed system; ``store`` (optional) gives it snapshots and a startup rebuild."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        if settings.oracle_kafka_rebuild not in _KAFKA_REBUILD_MODES:
            raise ValueError(f"oracle_kafka_rebuild must be one of {', '.join(_KAFKA_REBUILD_MODES)}")
        self.settings = settings
        self.store = store
        self.lock = threading.RLock()
        self.outcomes = Outcomes()
        self.agents = AgentTracker(
            self.outcomes, retention_s=settings.completed_task_retention_s, on_model=self._attribute_model
        )
        self.tools = ToolTracker()
        self.handoffs = HandoffTracker()
        self.queues = QueueTracker(self.outcomes)
        self.outcomes.blocks = self.queues.waiting_on.__contains__
        self.llm = LlmTracker(parse_configured_limits(settings.llm_rate_limits))
        self.workload = WorkloadTracker(stale_after_s=settings.workload_stale_after_s)
        self.progress = Progress()
        self.instances = Instances()
        self.view = StateView(
            settings,
            self.agents,
            self.tools,
            self.handoffs,
            self.queues,
            self.llm,
            self.workload,
            self.outcomes,
            store.rejections if store is not None else None,
            self.progress,
            self.instances,
        )
        self.registry = IssueRegistry()
        self.snapshots = SnapshotStore(store, settings.snapshot_retention) if store is not None else None
        self.version = 0
        self.counters = {"spans": 0, "pending": 0, "metric_points": 0, "duplicates": 0}
        self.rebuild_report: dict = {}
        self._ended = RecentKeys(200_000)  # id_key(trace id, span id) already folded in: redelivery, replays
        self._cache: tuple | None = None  # (version, built at (monotonic), state, JSON, content hash, built at (ns))
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._builder: threading.Thread | None = None
        self._kafka_thread: threading.Thread | None = None
        self._last_snapshot: tuple[int, str, tuple | None] = (0, "", None)  # (taken_ns, content hash, activity)

    # --- ingest (hub subscriber, on the hub's thread) ----------------------------------------------

    def on_committed(self, batch: Committed) -> None:
        self.ingest(batch.spans, batch.pending, batch.metric_points)

    def ingest(
        self,
        spans: Sequence[SpanRecord] = (),
        pending: Sequence[SpanRecord] = (),
        metric_points: Sequence[MetricPoint] = (),
    ) -> None:
        for chunk in _chunks(pending):
            with self.lock:
                for record in chunk:
                    self._pending(record)
        for chunk in _chunks(spans):
            with self.lock:
                for span in chunk:
                    self._span(span)
        for chunk in _chunks(metric_points):
            with self.lock:
                for point in chunk:
                    self.workload.add(point)
        with self.lock:
            self.counters["spans"] += len(spans)
            self.counters["pending"] += len(pending)
            self.counters["metric_points"] += len(metric_points)
            self.version += 1
        self._changed.set()

    def _pending(self, pending: SpanRecord) -> None:
        real_id = pending.parent_span_id
        if not real_id or id_key(pending.trace_id, real_id) in self._ended:
            return  # the real span already ended: a late heartbeat
        operation = pending.operation
        if operation in _AGENT_OPERATIONS and pending.agent_name:
            self.agents.started(pending, real_id)
            self.instances.seen(pending.agent_name, pending.resource, pending.start_ns, pending.end_ns, real_id)
            self.progress.moved(pending.trace_id, pending.start_ns)  # a sub-agent starting moves its caller
            return
        agent = self.agents.lineage.place(pending.trace_id, real_id, pending.pending_parent_id, pending.agent_name)
        if operation == sc.OP_EXECUTE_TOOL and not pending.is_handoff:
            name = pending.tool_name or pending.name
            self.progress.call_started(pending.trace_id, real_id, "tool", name, pending.start_ns, pending.end_ns)
        elif is_llm_span(pending):
            key = self.llm.key_of(pending)
            self.progress.call_started(pending.trace_id, real_id, "llm", key, pending.start_ns, pending.end_ns)
        else:
            self.progress.moved(pending.trace_id, pending.start_ns)  # a heartbeat repeats the start: no move
        if operation == sc.OP_EXECUTE_TOOL and pending.is_handoff:
            self._handoff(pending, real_id, agent)
        if pending.messaging_operation in _CONSUME:
            self.queues.consumed(pending, ended=False)

    def _span(self, span: SpanRecord) -> None:
        key = id_key(span.trace_id, span.span_id)
        if not self._ended.add(key):
            self.counters["duplicates"] += 1
            return
        operation = span.operation
        lineage = self.agents.lineage
        agent: str | None
        if operation in _AGENT_OPERATIONS and span.agent_name:
            self.agents.ended(span)
            self.instances.seen(span.agent_name, span.resource, span.start_ns, span.end_ns)
            agent = span.agent_name
        elif operation == sc.OP_EXECUTE_TOOL:
            agent = lineage.place(span.trace_id, span.span_id, span.parent_span_id, span.agent_name, key=key)
            if span.is_handoff:
                self._handoff(span, span.span_id, agent)
            else:
                self.tools.ended(span, agent)  # None: place() found no agent for the parent either
        elif is_llm_span(span):
            model_key = self.llm.ended(span)
            agent = lineage.place(
                span.trace_id, span.span_id, span.parent_span_id, span.agent_name, model_key, span.end_ns, key=key
            )
        else:
            agent = lineage.place(span.trace_id, span.span_id, span.parent_span_id, span.agent_name, key=key)
        self.progress.ended(span.trace_id, span.span_id, span.end_ns)
        if span.kind in (4, 5) or sc.MESSAGING_OPERATION_TYPE in span.attributes:
            if span.messaging_operation in _SEND:
                self.queues.sent(span, agent)
            elif span.messaging_operation in _CONSUME:
                self.queues.consumed(span, ended=True)

    def _attribute_model(self, agent: str, key: tuple[str, str], t_ns: int) -> None:
        """An LLM call's agent is known (now or once its ancestors arrived): both sides learn it."""
        self.agents.observe_model(agent, key[1], t_ns)
        self.llm.attribute(key, agent)

    def _handoff(self, span: SpanRecord, real_id: str, agent: str | None) -> None:
        handoff = self.handoffs.record(span, real_id, agent or span.agent_name)
        if handoff is not None and span.task_id:
            self.agents.handed_off(handoff.target, span.task_id, span.trace_id, span.start_ns)

    # --- reading ------------------------------------------------------------------------------------

    def state(self) -> dict:
        """The current state document (shared: do not modify it)."""
        return self._current()[0]

    def state_json(self, *, agent: str | None = None, deployment: str | None = None) -> bytes:
        state, raw = self._current()
        if agent or deployment:
            return compact_json(filter_state(state, agent=agent, deployment=deployment)).encode()
        return raw

    def _current(self) -> tuple[dict, bytes]:
        """The latest document: kept fresh by the builder thread, so a read costs no building."""
        cache = self._cache
        if cache is None or (self._builder is None and cache[0] != self.version):
            cache = self._rebuild()
        return cache[2], cache[3]

    def _rebuild(self) -> tuple[int, float, dict, bytes, str, int]:
        with self.lock:
            version, now_ns = self.version, time.time_ns()
            state, raw, content = build(self.view, now_ns)
        self._cache = cache = (version, time.monotonic(), state, raw, content, now_ns)
        return cache

    def _build_loop(self) -> None:
        while not self._stop.is_set():
            self._changed.wait(_REBUILD_IDLE_S)
            self._changed.clear()
            if self._stop.is_set():
                return
            try:
                self._rebuild()
            except Exception:
                log.exception("oracle state build failed")
            self._stop.wait(_REBUILD_MIN_S)

    def issues(self) -> list[dict]:
        with self.lock:
            now_ns = time.time_ns()
            return self.registry.update(self._detect(now_ns), now_ns, self.settings.symptoms_listed)

    def _detect(self, now_ns: int) -> list[Issue]:
        """The detectors only read; what moves with time alone is brought up to date first."""
        self.workload.note_degraded(now_ns)
        settings = self.settings
        if retire_lost_work(self.agents, self.instances, self.workload, now_ns, int(settings.crash_silence_s * NS)):
            self.version += 1  # the state shows the retired work as failed
            self._changed.set()
        self.instances.expire(now_ns, int(settings.crash_incident_window_s * NS))
        return detect(self.view, now_ns)

    def health(self) -> dict:
        with self.lock:
            return {
                **self.counters,
                "version": self.version,
                "agents": len(self.agents.agents),
                "snapshots": self.snapshots.count() if self.snapshots else 0,
                "rebuild": self.rebuild_report,
            }

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Rebuild from the store (before the receiver starts), then run the background thread."""
        store_empty = True
        if self.store is not None:
            started = time.monotonic()
            report = rebuild_from_store(self.ingest, self.store, self.settings, self.workload.metric_names)
            report["seconds"] = round(time.monotonic() - started, 3)
            self.rebuild_report = {"store": report}
            store_empty = report["store_spans"] == 0
            try:
                latest = self.snapshots.latest() if self.snapshots is not None else None  # set with store
            except Exception:  # an unreadable snapshot costs the issues' first_seen, not the startup
                log.exception("latest oracle snapshot unreadable")
                latest = None
            if latest is not None:
                self.registry.restore(latest["issues"], parse_iso_ns)
                restore_rejections(self.store.rejections, latest["issues"], parse_iso_ns)
                self._last_snapshot = (latest["taken_ns"], "", None)
            log.info("oracle rebuilt from the store: %s", report)
            # What the rebuild made lives long; keep the cyclic collector from rescanning it on
            # every full collection (those pauses would show up as read latency).
            gc.freeze()
        mode = self.settings.oracle_kafka_rebuild
        if self.store is not None and (mode == "always" or (mode == "if_store_missing" and store_empty)):
            self._kafka_thread = threading.Thread(
                target=self._kafka_rebuild, args=(rebuild_from_kafka,), name="oracle-kafka-rebuild", daemon=True
            )
            self._kafka_thread.start()
        self._rebuild()
        self._builder = threading.Thread(target=self._build_loop, name="oracle-state", daemon=True)
        self._builder.start()
        self._thread = threading.Thread(target=self._run, name="oracle", daemon=True)
        self._thread.start()

    def _kafka_rebuild(self, rebuild) -> None:
        try:
            count = rebuild(self.store, self.settings.kafka_bootstrap, self.settings.kafka_spans_topic, stop=self._stop)
            self.rebuild_report["kafka"] = {"spans": count}
        except Exception as exc:  # a missing broker must not take the Oracle down
            self.rebuild_report["kafka"] = {"error": str(exc)}
            log.warning("oracle rebuild from Kafka failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        for thread in (self._thread, self._builder):
            if thread is not None:
                thread.join(timeout=10)
        self._builder = None
        if self._kafka_thread is not None:
            self._kafka_thread.join(timeout=10)
        if self.snapshots is not None:
            try:
                self.tick(final=True)
            finally:
                self.snapshots.close()

    def _run(self) -> None:
        settings = self.settings
        period = max(0.05, min(1.0, settings.snapshot_interval_s / 2, settings.snapshot_min_gap_s))
        while not self._stop.wait(period):
            try:
                self.tick()
            except Exception:
                log.exception("oracle background tick failed")

    def tick(self, *, final: bool = False) -> int | None:
        """Expire old entries, evaluate issues, and snapshot when due; returns a new snapshot's id."""
        now_ns = time.time_ns()
        with self.lock:
            self.agents.expire(now_ns)
            self.workload.expire(now_ns)
            issues = self.registry.update(self._detect(now_ns), now_ns, self.settings.symptoms_listed)
            self.version += 1
        self._changed.set()
        if self.snapshots is None:
            return None
        cache = self._rebuild() if final or self._cache is None else self._cache
        state, raw, new_content, built_ns = cache[2], cache[3], cache[4], cache[5]
        taken_ns, content, activity = self._last_snapshot
        if new_content == content:
            return None
        new_activity = _activity_signature(state, issues)
        settings = self.settings
        due = now_ns - taken_ns >= settings.snapshot_interval_s * NS
        changed = new_activity != activity and now_ns - taken_ns >= settings.snapshot_min_gap_s * NS
        if not (due or changed or final):
            return None
        reason = "shutdown" if final else ("change" if changed else "interval")
        snapshot_id = self.snapshots.save(built_ns, reason, raw, issues)
        self._last_snapshot = (now_ns, new_content, new_activity)
        return snapshot_id


def _chunks(items: Sequence) -> Iterable[Sequence]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def comparable(state: dict) -> dict:
    """The state without the fields that change on every read (for diffs and change detection)."""
    return {k: v for k, v in state.items() if k not in ("generated_at", "snapshot", "filter")}


def _activity_signature(state: dict, issues: list[dict]) -> tuple:
    return (
        tuple(
            (a["name"], tuple((t["id"], t["status"]) for t in a["activity"]["active_task_ids"]))
            for a in state["agents"]
        ),
        tuple(sorted(i["id"] for i in issues)),
    )
