"""Retention on PostgreSQL: whole spans partitions are dropped, oldest first, by age and by size.

A partition is detached ``CONCURRENTLY`` (writers keep inserting into the others) and then
dropped, with a short lock timeout: if a lock cannot be had at once, the work waits for the next
round instead of queueing ingest behind it. One process at a time does it (an advisory lock),
however many workers and replicas share the database. The rows that summarize or index the
dropped spans (traces, trace_attributes, active_spans) and metric points and logs older than
the oldest kept partition go with them, in plain DELETEs.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Literal

import psycopg
from psycopg import sql

from .postgres_reads import connect
from .retention import RetentionPolicy

log = logging.getLogger(__name__)

_LOCK_RETENTION = 7_316_003
_LOCK_TIMEOUT = "2s"


def partitions(conn: psycopg.Connection) -> list[tuple[str, int, int, int]]:
    """(name, lower bound, upper bound, size in bytes) of every spans partition, oldest first."""
    rows = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), pg_total_relation_size(c.oid)"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'spans'::regclass"
    ).fetchall()
    out = [(name, *_bounds(bound), size) for name, bound, size in rows]
    return sorted(out, key=lambda p: p[1])


def _bounds(bound: str) -> tuple[int, int]:
    """The FROM and TO values of ``FOR VALUES FROM ('123') TO ('456')`` (PostgreSQL quotes them or not)."""
    low, high = (part.split(")", 1)[0].strip("'") for part in bound.split("(")[1:3])
    return int(low), int(high)


def _scalar(conn: psycopg.Connection, query: str, params: tuple = ()) -> Any:
    return conn.execute(query, params).fetchall()[0][0]


def store_bytes(conn: psycopg.Connection) -> int:
    return int(_scalar(conn, "SELECT pg_database_size(current_database())"))


def apply(conn: psycopg.Connection, policy: RetentionPolicy, now_ns: int | None = None) -> list[str]:
    """Drop the partitions the policy no longer keeps (never the newest); returns their names."""
    if not _scalar(conn, "SELECT pg_try_advisory_lock(%s)", (_LOCK_RETENTION,)):
        return []  # another process is at it
    try:
        conn.execute(f"SET lock_timeout = '{_LOCK_TIMEOUT}'")
        now_ns = time.time_ns() if now_ns is None else now_ns
        _finish_interrupted(conn)
        found = partitions(conn)
        dropped: list[str] = []
        total = store_bytes(conn)
        keep_from = now_ns - int(policy.max_age_s * 1e9) if policy.max_age_s > 0 else None
        for name, _, upper, size in found[:-1]:
            too_old = keep_from is not None and upper <= keep_from
            too_big = policy.max_bytes > 0 and total > policy.max_bytes
            if not (too_old or too_big):
                break
            try:
                _drop(conn, name)
            except psycopg.errors.LockNotAvailable:
                log.info("retention: %s is busy; trying again next round", name)
                break
            dropped.append(name)
            total -= size
        if dropped:
            _delete_older_than(conn, found[len(dropped)][1])
            log.info("retention dropped spans partitions %s", dropped)
        return dropped
    finally:
        conn.execute("RESET lock_timeout")
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_RETENTION,))


def _drop(conn: psycopg.Connection, name: str, detach: Literal["CONCURRENTLY", "FINALIZE"] = "CONCURRENTLY") -> None:
    """Detach the partition (``FINALIZE``: one whose concurrent detach was interrupted), then drop it."""
    table = sql.Identifier(name)
    conn.execute(sql.SQL("ALTER TABLE spans DETACH PARTITION {} " + detach).format(table))
    conn.execute(sql.SQL("DROP TABLE {}").format(table))


def _finish_interrupted(conn: psycopg.Connection) -> None:
    """Drop a partition whose concurrent detach was interrupted (it stays "detach pending" until finalized)."""
    pending = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'spans'::regclass AND i.inhdetachpending"
    ).fetchall()
    for (name,) in pending:
        _drop(conn, name, "FINALIZE")


def _delete_older_than(conn: psycopg.Connection, cutoff_ns: int) -> None:
    """What describes spans that are gone: trace summaries ending before the oldest kept partition, and so on."""
    conn.execute("DELETE FROM traces WHERE end_ns < %s", (cutoff_ns,))
    conn.execute(
        "DELETE FROM trace_attributes a WHERE NOT EXISTS (SELECT 1 FROM traces t WHERE t.trace_id = a.trace_id)"
    )
    conn.execute("DELETE FROM active_spans WHERE last_seen_ns < %s", (cutoff_ns,))
    conn.execute("DELETE FROM metric_points WHERE time_ns < %s", (cutoff_ns,))
    conn.execute("DELETE FROM log_records WHERE time_ns < %s", (cutoff_ns,))


class Retention:
    """A background thread applying ``policy`` every ``interval_s`` on its own connection."""

    def __init__(self, url: str, policy: RetentionPolicy) -> None:
        self.url = url
        self.policy = policy
        self.dropped: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> None:
        if self.policy.interval_s > 0 and self.policy.enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        while not self._stop.wait(self.policy.interval_s):
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = connect(self.url)
                self.dropped += apply(conn, self.policy)
            except Exception:
                log.exception("retention round failed; trying again next round")
        if conn is not None:
            conn.close()
