"""Reading and rendering a large trace on several processes at once.

Writing a trace's spans as Jaeger, OTLP or REST JSON is Python and SQLite work, and the GIL keeps
one request on one core: a trace of 1,000 spans took about 10 ms in process, two thirds of it
rendering. A ``RenderPool`` keeps helper processes, each with its own read connection to the
store. A read of at least ``min_spans`` spans (``jaeger_model.span_texts``,
``queries.trace_span_documents``) is split by rowid (``queries.where_part``): the calling thread
does one part while each free helper does another, and the parts are merged by sorting. With one
helper on two cores the 1,000-span trace took 6.5 ms in process (``bench/bench_queries.py`` has
the numbers over HTTP).

The helpers read while the store may be writing, each in its own snapshot, so a span committed
during the request can be in one part and not another. Spans are never changed once stored, so
the answer is always a set of stored spans, each rendered whole, at least as new as the request.

Helpers never fail a request. With no helper free (all busy, starting or dead) a request is done
whole in its own thread. A helper that fails or hangs during a request has its part done in the
calling thread instead; the failure is counted (``stats``, shown on ``/health``) and the helper
is replaced.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from .._gc import collect_less
from .._malloc import keep_freed_memory
from ..store.sqlite import connect

log = logging.getLogger(__name__)

# Spawned, not forked: the server has gRPC and SQLite threads, which a fork would copy mid-flight.
_CONTEXT = multiprocessing.get_context("spawn")
_READY = "ready"
_RESPAWN_GAP_S = 10.0  # helpers that died or failed are replaced one at a time, at most this often


def _helper_main(pipe: Connection, db_path: Path) -> None:
    """A helper process: run the parts asked for on the pipe until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server stops us
    keep_freed_memory()  # the same tuning as the server process (see server.serve)
    collect_less()
    conn = connect(db_path, readonly=True)
    pipe.send(_READY)
    while True:
        try:
            request = pipe.recv()
        except (EOFError, OSError):
            return
        read, trace_ids, args, part, parts = request  # read: a module-level function, pickled by name
        try:
            pipe.send((True, read(conn, trace_ids, *args, part, parts)))
        except Exception as exc:  # noqa: BLE001 - reported to the server, which renders the part itself
            pipe.send((False, f"{type(exc).__name__}: {exc}"))


@dataclass
class RenderStats:
    """The pool's counters since the server started."""

    split_requests: int = 0  # requests rendered in parts on helpers
    helper_failures: int = 0  # parts a helper did not deliver (died, failed, timed out), rendered locally
    helpers_started: int = 0


class _Helper:
    def __init__(self, db_path: Path) -> None:
        self.pipe, child_end = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_helper_main, args=(child_end, db_path), name="telemetron-render", daemon=True
        )
        self.process.start()
        child_end.close()
        self.ready = False

    def is_ready(self) -> bool:
        """True once the helper has opened the store; never blocks."""
        if not self.ready and self.pipe.poll(0):
            try:
                self.ready = self.pipe.recv() == _READY
            except (EOFError, OSError):  # it died starting up
                self.ready = False
        return self.ready

    def is_dead(self) -> bool:
        return not self.process.is_alive()

    def stop(self, *, grace_s: float = 5.0) -> None:
        self.pipe.close()  # the helper sees EOF and returns
        self.process.join(timeout=grace_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class RenderPool:
    """Helper processes that read and render parts of large traces; ``run`` is a drop-in for ``queries.run_here``."""

    def __init__(self, db_path: Path, helpers: int, *, min_spans: int = 300, timeout_s: float = 30.0) -> None:
        self.db_path = db_path
        self.size = helpers
        self.min_spans = min_spans
        self.timeout_s = timeout_s
        self.stats = RenderStats()
        self._lock = threading.Lock()
        self._helpers: list[_Helper] = []
        self._idle: list[_Helper] = []
        self._respawn_after = 0.0
        self._stopped = False

    def start(self) -> None:
        """Spawn the helpers without waiting for them: until one is ready, requests render in one piece."""
        with self._lock:
            for _ in range(self.size):
                self._spawn()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            helpers, self._helpers, self._idle = self._helpers, [], []
        for helper in helpers:
            helper.stop()

    def run(self, conn: sqlite3.Connection, read: Callable[..., list], trace_ids: list[str], *args) -> list:
        """``read(conn, trace_ids, *args)``, split over free helpers when the traces are large."""
        helpers = self._checkout() if self.size and self._span_count(conn, trace_ids) >= self.min_spans else []
        if not helpers:
            return read(conn, trace_ids, *args)
        parts = len(helpers) + 1
        answered: list[_Helper] = []
        try:
            sent = [self._send(helper, (read, trace_ids, args, part, parts)) for part, helper in enumerate(helpers, 1)]
            rows = read(conn, trace_ids, *args, 0, parts)
            for part, (helper, ok) in enumerate(zip(helpers, sent), start=1):
                got = self._result(helper) if ok else None
                answered.append(helper)
                rows += got if got is not None else read(conn, trace_ids, *args, part, parts)
        finally:
            for helper in helpers:
                if helper not in answered:  # this request failed first: an answer may still come, unread
                    helper.ready = False
            self._checkin(helpers)
        self._count("split_requests")
        rows.sort()  # one sorted run per part: a merge
        return rows

    def _send(self, helper: _Helper, request: tuple) -> bool:
        try:
            helper.pipe.send(request)
            return True
        except OSError as exc:  # it died since check-out
            self._failed(helper, exc, retire=True)
            return False

    def _result(self, helper: _Helper) -> list[tuple] | None:
        """The helper's part, or None when it must be rendered here."""
        try:
            if not helper.pipe.poll(self.timeout_s):
                raise TimeoutError(f"no answer in {self.timeout_s:.0f} s")
            ok, value = helper.pipe.recv()
        except (TimeoutError, EOFError, OSError) as exc:
            self._failed(helper, exc, retire=True)
            return None
        if not ok:  # the rendering raised there; here it raises again, for the request to report
            self._failed(helper, value, retire=False)
            return None
        return value

    def _failed(self, helper: _Helper, why: object, *, retire: bool) -> None:
        log.warning("render helper %s did not deliver its part (%s); rendering it here", helper.process.pid, why)
        if retire:
            helper.ready = False  # replaced on check-in, not reused
        self._count("helper_failures")

    def describe(self) -> dict:
        """For ``/health``: helpers configured, those ready (and their process ids), and the counters."""
        with self._lock:
            ready = [h.process.pid for h in self._helpers if h.is_ready()]
            return {"helpers": self.size, "ready": len(ready), "ready_pids": ready, **asdict(self.stats)}

    @staticmethod
    def _span_count(conn: sqlite3.Connection, trace_ids: list[str]) -> int:
        (count,) = conn.execute(
            "SELECT coalesce(sum(span_count), 0) FROM traces WHERE trace_id IN (SELECT value FROM json_each(?))",
            (json.dumps(trace_ids),),
        ).fetchone()
        return count

    def _checkout(self) -> list[_Helper]:
        with self._lock:
            for helper in [h for h in self._idle if h.is_dead()]:
                self._idle.remove(helper)
                self._retire(helper)
            now = time.monotonic()
            if len(self._helpers) < self.size and now >= self._respawn_after and not self._stopped:
                self._respawn_after = now + _RESPAWN_GAP_S  # replacements: at most one per gap
                self._spawn()
            ready = [h for h in self._idle if h.is_ready()]
            self._idle = [h for h in self._idle if not h.ready]
            return ready

    def _checkin(self, helpers: list[_Helper]) -> None:
        with self._lock:
            for helper in helpers:
                if helper.ready and not self._stopped:
                    self._idle.append(helper)
                else:
                    self._retire(helper)

    def _retire(self, helper: _Helper) -> None:
        """Drop a dead or failed helper, killing it in the background; ``_checkout`` replaces it. Under the lock."""
        if helper in self._helpers:  # not after ``stop``, which stopped them all
            self._helpers.remove(helper)
        threading.Thread(target=helper.stop, kwargs={"grace_s": 0}, name="render-helper-stop", daemon=True).start()

    def _spawn(self) -> None:
        helper = _Helper(self.db_path)
        self._helpers.append(helper)
        self._idle.append(helper)
        self.stats.helpers_started += 1

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)


__all__ = ["RenderPool", "RenderStats"]
