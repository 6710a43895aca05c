"""In-process fan-out of committed data to whoever derives from it (the Oracle, live streams)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .model import LogRecord, MetricPoint, SpanRecord

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Committed:
    """What one store transaction made durable; published only after the commit."""

    spans: list[SpanRecord] = field(default_factory=list)
    pending: list[SpanRecord] = field(default_factory=list)
    metric_points: list[MetricPoint] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    # These records as the decoder process packed them (record_packing.py), one entry per request, when
    # the batch is exactly those requests: a writer process takes them as they came instead of packing.
    packed: list[bytes] | None = None


Subscriber = Callable[[Committed], None]


class Hub:
    """Fan-out of committed batches to subscribers, in commit order.

    By default subscribers run on the publisher's thread (the store's writer). ``own_thread`` runs them
    on the hub's thread instead, so the writer acknowledges and starts its next batch while the
    subscribers fold this one; at most ``waiting`` batches wait, then ``publish`` blocks (backpressure).
    """

    def __init__(self, *, own_thread: bool = False, waiting: int = 2) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self.subscriber_errors = 0
        self._waiting: queue.Queue[Committed | None] | None = None
        self._thread: threading.Thread | None = None
        if own_thread:
            self._waiting = queue.Queue(waiting)
            self._thread = threading.Thread(target=self._dispatch, name="hub", daemon=True)
            self._thread.start()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers = [*self._subscribers, subscriber]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not subscriber]

        return unsubscribe

    def publish(self, batch: Committed) -> None:
        if self._waiting is None:
            self._deliver(batch)
        else:
            self._waiting.put(batch)

    def close(self) -> None:
        """Deliver the batches still waiting and end the hub's thread; later batches are delivered in ``publish``."""
        waiting, thread = self._waiting, self._thread
        if waiting is None or thread is None:
            return
        waiting.put(None)
        thread.join(timeout=30)
        self._waiting = None

    def waiting(self) -> int:
        """Batches published and not yet taken by the hub's thread (0 without one)."""
        waiting = self._waiting
        return 0 if waiting is None else waiting.qsize()

    def _dispatch(self) -> None:
        assert self._waiting is not None
        waiting = self._waiting
        while (batch := waiting.get()) is not None:
            self._deliver(batch)
            batch = None  # not kept alive while the next is awaited

    def _deliver(self, batch: Committed) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(batch)
            except Exception:  # one broken consumer must not stop ingestion
                self.subscriber_errors += 1
                log.exception("hub subscriber %r failed", subscriber)
