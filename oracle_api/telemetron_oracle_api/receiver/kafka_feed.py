"""An API replica's live feed: the whole Kafka stream, under the replica's own group id, for its Oracle.

Each replica reads every partition itself (no offsets are kept: a new group id per start), so
every replica's Oracle and WebSocket see the whole system whichever worker stored the spans.
It starts ``REWIND_S`` before the replica's start: the rebuild from the store already holds what
the workers had stored, the Oracle drops spans it has folded in already, and the rewind covers
what was still on its way to the store.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from ..hub import Committed, Hub
from .decode import ResourceCache
from .kafka import decode_messages, decoders
from .rejections import RejectionLog

log = logging.getLogger(__name__)

REWIND_S = 60.0


class KafkaFeed:
    """Publishes every decoded message of ``topics`` to ``hub`` as if this process had committed it."""

    def __init__(
        self,
        hub: Hub,
        rejections: RejectionLog,
        bootstrap: str,
        spans_topic: str,
        metrics_topic: str,
        logs_topic: str,
    ) -> None:
        self.hub = hub
        self.rejections = rejections
        self.bootstrap = bootstrap
        self.by_topic = decoders(spans_topic, metrics_topic, logs_topic)
        self.group_id = f"telemetron-feed-{uuid.uuid4().hex[:12]}"
        self.messages = 0
        self.assigned = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kafka-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume()
            except Exception:  # a broker outage must not take the API down: try again
                log.exception("kafka feed failed; reconnecting")
                self._stop.wait(1.0)

    def _consume(self) -> None:
        from confluent_kafka import Consumer, TopicPartition

        since_ms = int((time.time() - REWIND_S) * 1000)
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
            }
        )

        def on_assign(c, partitions) -> None:
            wanted = [TopicPartition(p.topic, p.partition, since_ms) for p in partitions]
            found = c.offsets_for_times(wanted, timeout=10)
            c.assign(found)  # -1 (nothing that recent): the end, as auto.offset.reset says
            self.assigned.set()

        consumer.subscribe(list(self.by_topic), on_assign=on_assign)
        resources = ResourceCache()
        try:
            while not self._stop.is_set():
                messages = [m for m in consumer.consume(500, 0.5) if m.error() is None]
                if not messages:
                    continue
                decoded = decode_messages(messages, self.by_topic, resources)
                if decoded.rejections:
                    self.rejections.record(decoded.rejections, time.time_ns())
                batch = Committed(metric_points=decoded.metric_points, logs=decoded.logs)
                for span in decoded.spans:
                    (batch.pending if span.pending else batch.spans).append(span)
                self.hub.publish(batch)
                self.messages += len(messages)
        finally:
            consumer.close()
