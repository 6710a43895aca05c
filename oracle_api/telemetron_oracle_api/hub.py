"""In-process fan-out of committed data to whoever derives from it (the Oracle, live streams)."""

from __future__ import annotations

import logging
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


Subscriber = Callable[[Committed], None]


class Hub:
    """Subscribers run on the store's writer thread, so they must be quick and must not block."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self.subscriber_errors = 0

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers = [*self._subscribers, subscriber]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not subscriber]

        return unsubscribe

    def publish(self, batch: Committed) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(batch)
            except Exception:  # one broken consumer must not stop ingestion
                self.subscriber_errors += 1
                log.exception("hub subscriber %r failed", subscriber)
