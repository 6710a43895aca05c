"""An ingest worker: one member of a Kafka consumer group that writes what it consumes to the shared store.

Offsets are committed only after the store has committed the records they carry, so a worker
killed at any moment leaves its last batch uncommitted: the group hands its partitions to the
others, which read the batch again, and the store's idempotent writes keep each span once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from ..store.interface import TelemetryStore
from .decode import ResourceCache
from .kafka import SESSION_TIMEOUT_MS, decode_messages, decoders

log = logging.getLogger(__name__)

_RETRY_S = 1.0


@dataclass
class IngestStats:
    messages: int = 0
    spans: int = 0
    batches: int = 0
    rejected: int = 0
    store_failures: int = 0
    commit_failures: int = 0


class KafkaIngest:
    """Consume ``topics`` as ``group_id``; write each polled batch to ``store``, then commit its offsets."""

    def __init__(
        self,
        store: TelemetryStore,
        bootstrap: str,
        group_id: str,
        spans_topic: str,
        metrics_topic: str,
        logs_topic: str,
        *,
        batch_messages: int = 500,
    ) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.by_topic = decoders(spans_topic, metrics_topic, logs_topic)
        self.batch_messages = batch_messages
        self.stats = IngestStats()
        self.assigned: list[tuple[str, int]] = []
        self._resources = ResourceCache()

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set: poll, write, commit. A store failure rewinds to the batch and retries it."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": SESSION_TIMEOUT_MS // 3,
            }
        )

        def on_assign(c, partitions) -> None:
            self.assigned = sorted((p.topic, p.partition) for p in partitions)
            log.info("kafka ingest %s: assigned %s", self.group_id, self.assigned)

        consumer.subscribe(list(self.by_topic), on_assign=on_assign)
        try:
            while not stop.is_set():
                messages = [m for m in consumer.consume(self.batch_messages, 0.5) if not _skip(m)]
                if not messages:
                    continue
                decoded = decode_messages(messages, self.by_topic, self._resources)
                try:
                    self.store.write(decoded)
                except Exception as exc:  # the database, not the data: read the batch again later
                    self.stats.store_failures += 1
                    log.warning("kafka ingest: store write failed, retrying the batch: %r", exc)
                    for tp in _first_offsets(messages):
                        consumer.seek(tp)
                    time.sleep(_RETRY_S)
                    continue
                if decoded.rejections:
                    self.store.rejections.record(decoded.rejections, time.time_ns())
                    self.stats.rejected += decoded.rejected
                ends: dict[tuple[str, int], int] = {}
                for m in messages:
                    topic, partition, offset = _position(m)
                    ends[(topic, partition)] = offset + 1
                try:
                    consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in ends.items()], asynchronous=False)
                except Exception as exc:  # lost the partitions in a rebalance: their next owner writes them again
                    self.stats.commit_failures += 1
                    log.warning("kafka ingest: offset commit failed (the batch will be read again): %r", exc)
                self.stats.messages += len(messages)
                self.stats.spans += len(decoded.spans)
                self.stats.batches += 1
        finally:
            consumer.close()


def _skip(message) -> bool:
    error = message.error()
    if error is not None:
        log.warning("kafka ingest: %s", error)
        return True
    return False


def _position(message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed message (never None for one without an error)."""
    return str(message.topic()), int(message.partition()), int(message.offset())


def _first_offsets(messages: list) -> list:
    from confluent_kafka import TopicPartition

    first: dict[tuple[str, int], int] = {}
    for m in messages:
        topic, partition, offset = _position(m)
        first.setdefault((topic, partition), offset)
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]
