"""Rebuilding the Oracle's memory after a restart: from the store, or from Kafka when the store is gone.

From the store: open work (``active_spans``), then the newest spans in arrival order,
then recent workload metric points, each folded in exactly as if it had just arrived.
From Kafka: the spans topic is replayed from the beginning into the store, whose commits reach
the Oracle through the hub like any other data (so the store is restored too).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from ..model import Decoded, MetricPoint, Resource, SpanRecord
from ..receiver.decode import ResourceCache, decode_traces
from ..receiver.normalize import promote_coordination
from ..store import span_documents

if TYPE_CHECKING:
    from ..settings import Settings
    from ..store.interface import TelemetryStore as Store

log = logging.getLogger(__name__)

# What the history is fed to: ``Oracle.ingest(spans=..., pending=..., metric_points=...)``.
Ingest = Callable[..., None]

_BATCH = 5000
_METRICS_HORIZON_S = 900.0

_MESSAGING = b'"messaging.'


def _documents(kind: int, operation: str | None, request_model: str | None, attributes, links) -> tuple[dict, list]:
    """The attributes and links the Oracle reads; only spans it reads attributes from pay for parsing them.

    Both come as stored (JSON text or compressed, store/span_documents.py), or None where a store
    already left out what the Oracle does not read.
    """
    if attributes is None:
        return {}, []
    text = span_documents.json_bytes(attributes)
    messaging = _MESSAGING in text
    wanted = operation is not None or request_model is not None or kind in (4, 5) or messaging
    return (
        orjson.loads(text) if wanted else {},
        orjson.loads(span_documents.json_bytes(links)) if links is not None and (kind == 5 or messaging) else [],
    )


class _Resources:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: dict[str, Resource] = {}

    def get(self, key: str) -> Resource:
        resource = self._known.get(key)
        if resource is None:
            found = self._store.resources([key]).get(key)
            service, attrs = (found["service_name"], found["attributes"]) if found else ("unknown_service", {})
            resource = self._known[key] = Resource(key, service, attrs)
        return resource


def _span(row: tuple, resources: _Resources) -> SpanRecord:
    """A stored span as the receiver handed it over (promoted columns read back, coordination fields refilled)."""
    (
        trace_id,
        span_id,
        parent,
        name,
        kind,
        start,
        end,
        status,
        message,
        operation,
        agent,
        provider,
        request_model,
        response_model,
        input_tokens,
        output_tokens,
        conversation,
        error_type,
        resource_key,
        scope_name,
        scope_version,
        trace_state,
        flags,
        attributes,
        links,
    ) = row  # store.interface.ORACLE_SPAN_COLUMNS, in order
    attributes, links = _documents(kind, operation, request_model, attributes, links)
    span = SpanRecord(
        trace_id,
        span_id,
        parent,
        name,
        kind,
        start,
        end,
        status,
        message,
        attributes,
        [],
        links,
        resources.get(resource_key),
        scope_name,
        scope_version,
        trace_state,
        flags,
        (0, 0, 0),
        operation,
        agent,
        provider,
        request_model,
        response_model,
        input_tokens,
        output_tokens,
        conversation,
        error_type,
    )
    promote_coordination(span)
    return span


def _pending(row, resources: _Resources) -> SpanRecord:
    """An active_spans row as the pending record that created it (the real span is its parent)."""
    record = SpanRecord(
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        parent_span_id=row["span_id"],
        name=row["name"],
        kind=row["kind"],
        start_ns=row["start_ns"],
        end_ns=row["last_seen_ns"],
        status_code=0,
        status_message="",
        attributes=json.loads(row["attributes"]),
        events=[],
        links=[],
        resource=resources.get(row["resource_key"]),
        scope_name="",
        scope_version="",
        trace_state="",
        flags=0,
        dropped=(0, 0, 0),
        operation=row["operation"],
        agent_name=row["agent_name"],
        pending=True,
        pending_parent_id=row["parent_span_id"],
    )
    promote_coordination(record)
    return record


def rebuild_from_store(ingest: Ingest, store: Store, settings: Settings, metric_names: tuple[str, ...]) -> dict:
    """Feed the store's recent history (spans, open spans, the metrics named) to ``ingest``; returns what was read."""
    now = time.time_ns()
    resources = _Resources(store)
    report = {"active_spans": 0, "spans": 0, "metric_points": 0, "store_spans": store.span_marker()}
    active = [_pending(r, resources) for r in store.open_span_rows()]
    ingest(pending=active)
    report["active_spans"] = len(active)
    since = now - int(settings.oracle_rebuild_horizon_s * 1e9)
    for span_rows in store.recent_span_rows(report["store_spans"] - settings.oracle_rebuild_max_spans, since):
        ingest(spans=[_span(r, resources) for r in span_rows])
        report["spans"] += len(span_rows)
    for rows in store.recent_metric_rows(metric_names, now - int(_METRICS_HORIZON_S * 1e9)):
        points = [
            MetricPoint(
                resource=resources.get(r["resource_key"]),
                scope_name=r["scope_name"],
                name=r["name"],
                unit=r["unit"],
                kind=r["kind"],
                time_ns=r["time_ns"],
                start_ns=r["start_ns"],
                attributes=json.loads(r["attributes"]),
                value=r["value"],
                data=json.loads(r["data"]),
            )
            for r in rows
        ]
        ingest(metric_points=points)
        report["metric_points"] += len(points)
    return report


def rebuild_from_kafka(
    store: Store,
    bootstrap: str,
    topic: str,
    *,
    timeout_s: float = 120.0,
    stop: threading.Event | None = None,
) -> int:
    """Replay ``topic`` (``otlp_proto`` TracesData messages) from its start into ``store``.

    Returns the number of spans replayed. Stops at the end offsets seen when it started, so
    it finishes even while the Collector keeps producing.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"telemetron-oracle-rebuild-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            raise KafkaException(info.error if info is not None else f"topic {topic} not found")
        ends: dict[int, int] = {}
        for partition in info.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                ends[partition] = high
        if not ends:
            return 0
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        resources = ResourceCache()
        pending = Decoded()
        spans = 0
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline and not (stop and stop.is_set()):
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                log.warning("kafka rebuild: %s", message.error())
                continue
            partition, offset, value = message.partition(), message.offset(), message.value()
            if partition in ends and offset is not None and offset >= ends[partition] - 1:
                del ends[partition]
            if value is None:  # a null-valued record (tombstone) carries no spans
                continue
            # TracesData and ExportTraceServiceRequest share one wire layout (resource_spans = 1).
            decoded = decode_traces(value, resources)
            pending.spans.extend(decoded.spans)
            if len(pending.spans) >= _BATCH:
                store.write(pending)
                spans += len(pending.spans)
                pending = Decoded()
        if pending.spans:
            store.write(pending)
            spans += len(pending.spans)
        if ends:
            log.warning("kafka rebuild stopped before the end of partitions %s", sorted(ends))
        return spans
    finally:
        consumer.close()
