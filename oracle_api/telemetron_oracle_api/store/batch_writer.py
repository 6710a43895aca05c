"""The writer both stores share: a bounded queue of decoded requests, one thread committing them in batches.

A request is acknowledged (its future completed) only once the transaction holding it commits.
When the queue is full ``submit`` raises ``StoreFull`` and the receiver answers UNAVAILABLE, so
the sender retries later. A batch the database refuses because of its data is written again
request by request, then by halves, so only the records at fault are rejected (counted on their
``Decoded``); a failure of the database itself fails the whole batch and the senders retry it.
A backend supplies ``_write`` (one batch, one transaction) and ``_is_transient``.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from ..hub import Committed, Hub
from ..model import Decoded, LogRecord, MetricPoint, SpanRecord

log = logging.getLogger(__name__)

Record = SpanRecord | MetricPoint | LogRecord


class StoreFull(Exception):
    """The write queue is at its limit; the caller should ask the sender to retry."""


class StoreClosed(Exception):
    """The store is shutting down and takes no more writes."""


class _Job:
    __slots__ = ("decoded", "future", "size")

    def __init__(self, decoded: Decoded) -> None:
        self.decoded = decoded
        self.future: Future[None] = Future()
        self.size = len(decoded.spans) + len(decoded.metric_points) + len(decoded.logs)


def _records(decoded: Decoded) -> list[Record]:
    return [*decoded.spans, *decoded.metric_points, *decoded.logs]


def _reject_refused(decoded: Decoded, refused: list[tuple[Record, Exception]]) -> None:
    """Take the refused records out of ``decoded`` and count them there, with the database's reason."""
    gone = {id(record) for record, _ in refused}
    decoded.packed = None  # no longer these records
    decoded.spans = [r for r in decoded.spans if id(r) not in gone]
    decoded.metric_points = [r for r in decoded.metric_points if id(r) not in gone]
    decoded.logs = [r for r in decoded.logs if id(r) not in gone]
    for record, exc in refused:
        reason = f"the store refused it: {type(exc).__name__}: {exc}"
        if isinstance(record, SpanRecord):
            example = {
                "trace_id": record.trace_id,
                "span_id": record.span_id,
                "name": record.name,
                "service": record.service_name,
            }
            decoded.reject("span", reason, example)
        elif isinstance(record, MetricPoint):
            decoded.reject("data point", reason, {"metric": record.name, "service": record.resource.service_name})
        else:
            decoded.reject("log record", reason, {"service": record.resource.service_name})


class BatchWriter:
    """Owns the queue and the writer thread; a store subclasses it and implements ``_write`` and ``_is_transient``."""

    hub: Hub
    committed_spans: int
    write_errors: int

    def _start_writer(self, hub: Hub | None, queue_limit: int, batch_limit: int) -> None:
        self.hub = hub or Hub()
        self.committed_spans = 0
        self.write_errors = 0
        self._queue_limit = queue_limit
        self._batch_limit = batch_limit
        self._queued = 0
        self._queued_lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def _stop_writer(self) -> None:
        """Take no more requests, commit those queued, and end the thread."""
        with self._queued_lock:
            self._closed = True
        self._jobs.put(None)
        self._thread.join(timeout=30)

    # --- what a backend supplies ------------------------------------------------------------------

    def _write(self, c: Committed) -> None:
        """Write these records in one transaction (raising leaves none of them stored)."""
        raise NotImplementedError

    def _is_transient(self, exc: BaseException) -> bool:
        """Whether a write failed because of the database (retry later) rather than the data (reject it)."""
        raise NotImplementedError

    def _idle_timeout(self) -> float | None:
        """How long to wait for a request before ``_idle`` (None: for ever; 0: call it at once)."""
        return None

    def _idle(self) -> None:
        """Work for the writer thread while no request waits."""

    def _after_batch(self) -> None:
        """Work for the writer thread between batches."""

    def _after_transient(self) -> None:
        """After the database failed a batch (e.g. reconnect)."""

    # --- the machinery ----------------------------------------------------------------------------

    def submit(self, decoded: Decoded) -> Future[None]:
        """Queue a decoded request; the future completes when it is committed."""
        job = _Job(decoded)
        with self._queued_lock:
            if self._closed:
                raise StoreClosed("store is closed")
            if self._queued + job.size > self._queue_limit and self._queued > 0:
                raise StoreFull(f"write queue holds {self._queued} items (limit {self._queue_limit})")
            self._queued += job.size
        self._jobs.put(job)
        return job.future

    def write(self, decoded: Decoded, timeout: float | None = 60.0) -> None:
        """Submit and wait for the commit."""
        self.submit(decoded).result(timeout)

    def _next_job(self) -> _Job | None:
        while True:
            wait = self._idle_timeout()
            try:
                return self._jobs.get(timeout=wait) if wait != 0.0 else self._jobs.get_nowait()
            except queue.Empty:
                self._idle()

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            self._write_batch(job)
            del job  # its records are not kept alive while the next request is awaited (megabytes at rest)

    def _write_batch(self, job: _Job) -> None:
        """Commit ``job`` with the requests queued behind it, up to the batch limit."""
        batch, size = [job], job.size
        while size < self._batch_limit:
            try:
                more = self._jobs.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._jobs.put(None)  # finish this batch, then stop
                break
            batch.append(more)
            size += more.size
        self._commit(batch)
        with self._queued_lock:
            self._queued -= size
        self._after_batch()

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            packed = [p for job in jobs if (p := job.decoded.packed) is not None]
            self._write_and_publish(
                [record for job in jobs for record in _records(job.decoded)],
                packed if len(packed) == len(jobs) else None,
            )
        except Exception as exc:
            self.write_errors += 1
            if self._is_transient(exc):
                log.warning("store write failed, the senders will retry: %r", exc)
                self._after_transient()
                for job in jobs:
                    job.future.set_exception(exc)
                return
            log.warning("store refused a batch of %d request(s) (%r): writing each on its own", len(jobs), exc)
            for job in jobs:
                self._commit_isolated(job)
            return
        for job in jobs:
            job.future.set_result(None)

    def _commit_isolated(self, job: _Job) -> None:
        """Write one request, leaving out (and rejecting on its Decoded) the records the database refuses."""
        try:
            refused = self._write_halves(_records(job.decoded))
        except Exception as exc:  # only a transient error gets here
            job.future.set_exception(exc)
            return
        if refused:
            _reject_refused(job.decoded, refused)
        job.future.set_result(None)

    def _write_halves(self, records: list[Record]) -> list[tuple[Record, Exception]]:
        """Write ``records``; on a data error split them in halves until the records at fault are found."""
        try:
            self._write_and_publish(records)
            return []
        except Exception as exc:
            if self._is_transient(exc):
                raise
            if len(records) == 1:
                log.warning("store refused a record: %r", exc)
                return [(records[0], exc)]
            middle = len(records) // 2
            return self._write_halves(records[:middle]) + self._write_halves(records[middle:])

    def _write_and_publish(self, records: list[Record], packed: list[bytes] | None = None) -> None:
        committed = Committed(packed=packed)
        for record in records:
            if isinstance(record, SpanRecord):
                (committed.pending if record.pending else committed.spans).append(record)
            elif isinstance(record, MetricPoint):
                committed.metric_points.append(record)
            else:
                committed.logs.append(record)
        self._write(committed)
        self.committed_spans += len(committed.spans)
        self.hub.publish(committed)
