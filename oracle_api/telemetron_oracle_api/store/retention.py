"""Bounded disk: delete what arrived longer ago than the age limit, then the oldest arrivals past the size limit.

Retention runs on the store's writer thread between batches, one short transaction per step, so
it never holds the write lock while a batch waits for longer than one step, and readers (WAL) are
never blocked. Age counts from arrival (``received_ns``), not from the telemetry's own clock: a
replayed or skewed sender's old timestamps are not deleted on arrival. Spans go a whole trace at
a time, with the trace's summary, its attribute-index rows and its open spans, once the trace's
newest span is older than the limit; metric points and log records go in arrival order. Deleted
pages go to SQLite's free list, which later writes reuse; in a store created with
``auto_vacuum = INCREMENTAL`` the free pages beyond a reserve are also given back to the file
system, a few at a time.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import attribute_index

if TYPE_CHECKING:  # the writer process reads no settings (and so loads no pydantic)
    from ..settings import Settings

log = logging.getLogger(__name__)

# Span rows looked at per step (their whole traces are deleted), and metric/log rows per step:
# a step of spans takes 25-60 ms on the 2 shared cores (finding the attribute-index rows to delete
# from the spans' JSON is half of it).
STEP_SPANS = 1_000
STEP_ROWS = 5_000
# Free pages kept for reuse by the next writes; beyond it, up to VACUUM_PAGES are released per step.
FREE_RESERVE_BYTES = 64 * 1024 * 1024
VACUUM_PAGES = 1_024
# Under the size limit by this share before a size-driven pass stops, so it does not restart at once.
SIZE_HEADROOM = 0.05
# Between passes, the size is looked at after a batch at most this often.
SIZE_CHECK_S = 0.25

_ARRIVAL_ORDERED = ("metric_points", "log_records")
_TABLE = {"spans": "span_rows"}  # where each kind of record is stored, when not under its own name
# An operation whose newest span starts before every span still stored has none left (schema.sql). A trace's
# summary starts with its first span and goes with its spans, so the oldest trace start is the oldest span's.
_DELETE_GONE_OPERATIONS = (
    "DELETE FROM operations WHERE last_ns < coalesce((SELECT min(start_ns) FROM traces), 9223372036854775807)"
)


@dataclass(frozen=True)
class RetentionPolicy:
    """What to keep: ``max_age_s`` seconds after arrival (0: forever) and ``max_bytes`` of pages in use (0: any)."""

    max_age_s: float = 0.0
    max_bytes: int = 0
    interval_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            max_age_s=settings.retention_max_age_hours * 3600.0,
            max_bytes=settings.retention_max_bytes,
            interval_s=settings.retention_interval_seconds,
        )

    @property
    def enabled(self) -> bool:
        return self.max_age_s > 0 or self.max_bytes > 0


@dataclass
class RetentionStats:
    """What retention has done since the process started (``/health`` shows SQLite's, as ``store_retention``)."""

    passes: int = 0
    steps: int = 0
    traces: int = 0
    spans: int = 0
    metric_points: int = 0
    log_records: int = 0
    active_spans: int = 0  # records of work in progress whose last heartbeat is older than the age limit
    pages_released: int = 0
    longest_step_ms: float = 0.0
    last_pass_ns: int = 0
    deleted_by: dict[str, int] = field(default_factory=lambda: {"age": 0, "size": 0})
    failed_steps: int = 0  # steps the database refused (logged; the next step tries again)


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database's pages that hold data (its free pages are reused, so they do not count)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0] - conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(pages * conn.execute("PRAGMA page_size").fetchone()[0])


class Retention:
    """One pass every ``interval_s``, done in short steps; ``step`` runs one on the writer's connection."""

    def __init__(self, policy: RetentionPolicy) -> None:
        self.policy = policy
        self.stats = RetentionStats()
        self._next_pass = time.monotonic()  # the first pass runs as soon as the store is idle or between batches
        self._in_pass = False
        self._horizon_ns = 0
        self._age_left: list[str] = []
        self._span_cursor = 0
        self._size_pass = False
        self._size_checked = 0.0

    def seconds_until_due(self) -> float | None:
        """0 while a pass is under way, else the wait until the next; None when retention is off."""
        if not self.policy.enabled:
            return None
        if self._in_pass:
            return 0.0
        return max(0.0, self._next_pass - time.monotonic())

    def due_after_batch(self, conn: sqlite3.Connection) -> bool:
        """Whether to take a step now; a store past its size limit starts a pass at once (checked every SIZE_CHECK_S)."""
        now = time.monotonic()
        if not self._in_pass and self.policy.max_bytes and now - self._size_checked >= SIZE_CHECK_S:
            self._size_checked = now
            if used_bytes(conn) > self.policy.max_bytes:
                self._next_pass = now
        return self.seconds_until_due() == 0.0

    def step(self, conn: sqlite3.Connection) -> None:
        """Do one short piece of the current pass (starting one if it is due)."""
        if self.seconds_until_due() != 0.0:
            return
        started = time.perf_counter()
        if not self._in_pass:
            self._start_pass()
        if self._over_size(conn) and self._delete_oldest(conn):
            # Back under the limit before the next batch: the store never exceeds it by more than a batch.
            while used_bytes(conn) > self.policy.max_bytes and self._delete_oldest(conn):
                pass
        elif self._age_left:
            self._delete_by_age(conn, self._age_left[0])
        elif not self._release_free_pages(conn):
            self._end_pass()
        self._finish_step(started)

    # --- a pass ---------------------------------------------------------------------------------

    def _over_size(self, conn: sqlite3.Connection) -> bool:
        """Past the size limit; once there, until SIZE_HEADROOM below it."""
        if not self.policy.max_bytes:
            return False
        used = used_bytes(conn)
        limit = self.policy.max_bytes * (1 - SIZE_HEADROOM) if self._size_pass else self.policy.max_bytes
        self._size_pass = used > limit
        return self._size_pass

    def _start_pass(self) -> None:
        self._in_pass = True
        self._size_pass = False
        self._span_cursor = 0
        if self.policy.max_age_s > 0:
            self._horizon_ns = time.time_ns() - int(self.policy.max_age_s * 1e9)
            self._age_left = ["spans", *_ARRIVAL_ORDERED, "active_spans"]
        else:
            self._age_left = []

    def _end_pass(self) -> None:
        self._in_pass = False
        self._next_pass = time.monotonic() + self.policy.interval_s
        self.stats.passes += 1
        self.stats.last_pass_ns = time.time_ns()

    def _finish_step(self, started: float) -> None:
        self.stats.steps += 1
        self.stats.longest_step_ms = max(self.stats.longest_step_ms, (time.perf_counter() - started) * 1000)

    # --- by age ---------------------------------------------------------------------------------

    def _delete_by_age(self, conn: sqlite3.Connection, table: str) -> None:
        if table == "spans":
            done = self._delete_old_traces(conn)
        elif table == "active_spans":
            # Work whose process stopped sending heartbeats (a crash) and whose span never came: its trace
            # may hold no span, so deleting traces does not reach it.
            with _transaction(conn):
                deleted = conn.execute(
                    "DELETE FROM active_spans WHERE rowid IN"
                    " (SELECT rowid FROM active_spans WHERE last_seen_ns < ? LIMIT ?)",
                    (self._horizon_ns, STEP_ROWS),
                ).rowcount
            self._count(table, deleted, "age")
            done = deleted < STEP_ROWS
        else:
            with _transaction(conn):
                deleted = conn.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} ORDER BY rowid LIMIT ?) "
                    "AND received_ns < ?",
                    (STEP_ROWS, self._horizon_ns),
                ).rowcount
            self._count(table, deleted, "age")
            done = deleted < STEP_ROWS
        if done:
            self._age_left.pop(0)

    def _delete_old_traces(self, conn: sqlite3.Connection) -> bool:
        """Delete the traces of the next arrivals older than the horizon whose every span is; True when none are left."""
        rows = conn.execute(
            "SELECT rowid, lower(hex(trace)), received_ns FROM span_rows WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (self._span_cursor, STEP_SPANS),
        ).fetchall()
        old = [r for r in rows if r[2] < self._horizon_ns]  # arrival order: a prefix of ``rows``
        if not old:
            return True
        self._span_cursor = old[-1][0]  # traces still receiving spans stay behind the cursor until the next pass
        candidates = json.dumps(sorted({r[1] for r in old}))
        with _transaction(conn):
            expired = [
                r[0]
                for r in conn.execute(
                    "SELECT lower(hex(trace)) FROM span_rows WHERE trace IN (SELECT telemetron_id(value) FROM json_each(?)) "
                    "GROUP BY trace HAVING max(received_ns) < ?",
                    (candidates, self._horizon_ns),
                )
            ]
            self._delete_traces(conn, expired, "age")
        return len(old) < len(rows) or len(rows) < STEP_SPANS

    # --- by size --------------------------------------------------------------------------------

    def _delete_oldest(self, conn: sqlite3.Connection) -> bool:
        """Delete one step of the oldest arrivals, from whichever table holds the oldest; False if all are empty."""
        firsts = {
            table: row[0]
            for table in ("spans", *_ARRIVAL_ORDERED)
            if (
                row := conn.execute(
                    f"SELECT received_ns FROM {_TABLE.get(table, table)} ORDER BY rowid LIMIT 1"
                ).fetchone()
            )
        }
        if not firsts:
            return False
        table = min(firsts, key=lambda t: firsts[t])
        with _transaction(conn):
            if table == "spans":
                traces = [
                    r[0]
                    for r in conn.execute(
                        "SELECT DISTINCT lower(hex(trace)) FROM (SELECT trace FROM span_rows ORDER BY rowid LIMIT ?)",
                        (STEP_SPANS,),
                    )
                ]
                self._delete_traces(conn, traces, "size")
            else:
                deleted = conn.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} ORDER BY rowid LIMIT ?)",
                    (STEP_ROWS,),
                ).rowcount
                self._count(table, deleted, "size")
        return True

    # --- deleting -------------------------------------------------------------------------------

    def _delete_traces(self, conn: sqlite3.Connection, trace_ids: list[str], why: str) -> None:
        """Delete whole traces: attribute-index rows first (found from the spans, by the summaries' trace numbers),
        spans, summary, open spans."""
        if not trace_ids:
            return
        ids = json.dumps(trace_ids)
        attribute_index.delete_traces(conn, ids)
        spans = conn.execute(
            "DELETE FROM span_rows WHERE trace IN (SELECT telemetron_id(value) FROM json_each(?))", (ids,)
        ).rowcount
        conn.execute("DELETE FROM traces WHERE trace_id IN (SELECT value FROM json_each(?))", (ids,))
        conn.execute("DELETE FROM active_spans WHERE trace_id IN (SELECT value FROM json_each(?))", (ids,))
        conn.execute(_DELETE_GONE_OPERATIONS)
        self.stats.traces += len(trace_ids)
        self._count("spans", spans, why)

    def _count(self, table: str, deleted: int, why: str) -> None:
        setattr(self.stats, table, getattr(self.stats, table) + deleted)
        self.stats.deleted_by[why] += deleted

    def _release_free_pages(self, conn: sqlite3.Connection) -> bool:
        """Give up to VACUUM_PAGES free pages beyond the reserve back to the file system; True if any were."""
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:  # only a store created incremental can
            return False
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        spare = conn.execute("PRAGMA freelist_count").fetchone()[0] - FREE_RESERVE_BYTES // page_size
        if spare <= 0:
            return False
        pages = min(spare, VACUUM_PAGES)
        conn.execute(f"PRAGMA incremental_vacuum({pages})").fetchall()
        self.stats.pages_released += pages
        return True


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT on the writer's connection (autocommit mode), ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
