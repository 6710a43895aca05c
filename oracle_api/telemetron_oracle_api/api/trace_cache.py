"""Rendered traces kept by (trace id, span count), so that a trace viewed again is not rendered again.

Stored spans never change and a trace only gains spans, so a trace's span count names exactly
one set of spans: a rendering kept under that count stays right until a span arrives, and then
the count no longer matches. The cache holds the most recently used texts up to a byte budget,
``TELEMETRON_RENDERED_TRACE_CACHE_MB`` (the server sets it at start with ``resize``; a 1,000-span
trace is about 1 MiB of text).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

MAX_BYTES = 16 * 1024 * 1024


class RenderedTraces:
    """A least-recently-used map from (store, shape, trace id, span count) to rendered text."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._texts: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> object | None:
        with self._lock:
            hit = self._texts.get(key)
            if hit is None:
                return None
            self._texts.move_to_end(key)
            return hit[0]

    def resize(self, max_bytes: int) -> None:
        """Keep at most ``max_bytes`` from now on, dropping the least recently used texts past it."""
        with self._lock:
            self.max_bytes = max_bytes
            self._drop_past_budget()

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def put(self, key: Hashable, value: object, size: int) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._texts.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._texts[key] = (value, size)
            self._bytes += size
            self._drop_past_budget()

    def _drop_past_budget(self) -> None:
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._texts.popitem(last=False)
            self._bytes -= dropped


rendered = RenderedTraces()  # one per process: keys name the store's file, so stores never mix
