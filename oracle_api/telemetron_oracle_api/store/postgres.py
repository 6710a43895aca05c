"""The PostgreSQL store: the SQLite store's interface over a server many processes share.

One writer thread per process commits decoded requests in batches, as the SQLite store does:
each batch is copied (``COPY``) into session-local staging tables, then inserted with ``ON
CONFLICT DO NOTHING`` so that a span delivered twice (a Kafka batch read again after a worker
died) is stored once; only the spans that were new are folded into the trace summaries. A batch
the database refuses because of its data is written again request by request, then by halves,
so only the records at fault are rejected; a failure of the database itself fails the batch and
the sender (the gRPC client, or the Kafka worker) retries it.
"""

from __future__ import annotations

import logging
import time
from importlib import resources as package_files

import psycopg
from psycopg import sql

from ..hub import Committed, Hub
from ..model import Resource, SpanRecord
from ..receiver.rejections import RejectionLog
from . import attribute_index, trace_summaries
from .batch_writer import BatchWriter
from .interface import SPAN_COLUMNS
from .postgres_reads import PostgresReads, connect
from .postgres_retention import Retention, partitions
from .retention import RetentionPolicy
from .sqlite_writer import _dumps, active_span_rows, log_row, metric_row, unknown_resources
from .telemetry_reads import LOG_COLUMNS, METRIC_COLUMNS

log = logging.getLogger(__name__)

# Bump with a new entry in _MIGRATIONS; each runs once, in order, under an advisory lock.
_MIGRATIONS = ("postgres_schema.sql", "postgres_migration_2.sql")
_LOCK_MIGRATE = 7_316_001
_LOCK_PARTITIONS = 7_316_002
INT64 = 2**63

_SPAN_COLUMNS = ", ".join(SPAN_COLUMNS)

_STAGING = f"""
CREATE TEMP TABLE IF NOT EXISTS staging_spans AS SELECT {_SPAN_COLUMNS} FROM spans WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS staging_attributes (key TEXT, value TEXT, trace_id TEXT);
"""

_UPSERT_TRACE = """
INSERT INTO traces (trace_id, start_ns, end_ns, span_count, error_count, root_name, root_service, services)
VALUES (%s, %s, %s, %s, %s, NULL, NULL, %s)
ON CONFLICT (trace_id) DO UPDATE SET
    start_ns = least(traces.start_ns, excluded.start_ns),
    end_ns = greatest(traces.end_ns, excluded.end_ns),
    span_count = traces.span_count + excluded.span_count,
    error_count = traces.error_count + excluded.error_count,
    services = (
        SELECT coalesce(json_agg(v ORDER BY v), '[]')::text FROM (
            SELECT json_array_elements_text(traces.services::json) AS v
            UNION SELECT json_array_elements_text(excluded.services::json)
        ) u
    )
"""

_SET_ROOT = """
UPDATE traces SET (root_name, root_service) = (
    SELECT r.name, r.service_name FROM spans r WHERE r.trace_id = traces.trace_id AND r.parent_span_id IS NULL
    ORDER BY r.start_ns, r.span_id LIMIT 1
)
WHERE trace_id = %s
"""

_UPSERT_ACTIVE = """
INSERT INTO active_spans (
    trace_id, span_id, parent_span_id, name, kind, service_name, operation, agent_name,
    start_ns, last_seen_ns, attributes, resource_key
)
SELECT %(t)s, %(s)s, %(p)s, %(n)s, %(k)s, %(svc)s, %(op)s, %(a)s, %(st)s, %(ls)s, %(at)s, %(r)s
WHERE NOT EXISTS (SELECT 1 FROM spans WHERE trace_id = %(t)s AND span_id = %(s)s)
ON CONFLICT (trace_id, span_id) DO UPDATE SET last_seen_ns = greatest(active_spans.last_seen_ns, excluded.last_seen_ns)
"""
# _UPSERT_ACTIVE's parameters, in the order of sqlite.active_span_rows.
_ACTIVE_PARAMS = ("t", "s", "p", "n", "k", "svc", "op", "a", "st", "ls", "at", "r")


def span_row(s: SpanRecord, received_ns: int) -> tuple:
    """A span's row in ``SPAN_COLUMNS`` order, its documents as JSON text."""
    return (
        s.trace_id,
        s.span_id,
        s.parent_span_id,
        s.name,
        s.kind,
        s.resource.service_name,
        s.start_ns,
        s.end_ns,
        s.end_ns - s.start_ns,
        s.status_code,
        s.status_message,
        s.operation,
        s.agent_name,
        s.provider,
        s.request_model,
        s.response_model,
        s.input_tokens,
        s.output_tokens,
        s.conversation_id,
        s.error_type,
        _dumps(s.attributes or {}),
        _dumps(s.events or []),
        _dumps(s.links or []),
        s.resource.key,
        s.scope_name,
        s.scope_version,
        s.trace_state,
        s.flags,
        _dumps(list(s.dropped)),
        received_ns,
        _dumps(s.scope_attributes or {}),
    )


def is_transient(exc: BaseException) -> bool:
    """Whether a write failed because of the database (retry later) rather than the data (reject it)."""
    if isinstance(
        exc, (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError, ValueError, OverflowError)
    ):
        return False
    return True


def partition_name(number: int) -> str:
    return f"spans_{number}" if number >= 0 else f"spans_m{-number}"


class PostgresStore(PostgresReads, BatchWriter):
    """Applies migrations and writes each batch (``BatchWriter`` queues them); the reads come from ``PostgresReads``."""

    def __init__(
        self,
        url: str,
        hub: Hub | None = None,
        *,
        queue_limit: int = 200_000,
        batch_limit: int = 20_000,
        partition_hours: float = 1.0,
        retention: RetentionPolicy | None = None,
    ) -> None:
        super().__init__(url)
        self.partition_ns = max(1, int(partition_hours * 3600e9))
        self._partitions: set[int] = set()
        self.rejections = RejectionLog()
        self._writer = self._open_writer()
        self._known_resources: set[str] = set()
        self.retention = Retention(url, retention or RetentionPolicy())
        self.retention.start()
        self._start_writer(hub, queue_limit, batch_limit)

    def _open_writer(self) -> psycopg.Connection:
        conn = connect(self.url)
        migrate(conn)
        conn.execute(_STAGING)
        self._partitions = existing_partitions(conn, self.partition_ns)
        return conn

    # --- writing (the queue, batches and rejections are BatchWriter's) ---------------------------

    def close(self) -> None:
        self._stop_writer()
        self.retention.stop()
        self._writer.close()
        self.close_reads()

    def _is_transient(self, exc: BaseException) -> bool:
        return is_transient(exc)

    def _after_transient(self) -> None:
        if self._writer.closed or self._writer.broken:
            try:
                self._writer = self._open_writer()
            except Exception as exc:  # the next batch tries again
                log.warning("store: cannot reconnect to PostgreSQL: %r", exc)

    def _ensure_partitions(self, spans: list[SpanRecord]) -> None:
        """Create the hour partitions the spans fall in (in their own transaction, under a lock shared by all writers)."""
        wanted = {s.start_ns // self.partition_ns for s in spans if -INT64 <= s.start_ns < INT64} - self._partitions
        if not wanted:
            return
        conn = self._writer
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_PARTITIONS,))
            for number in sorted(wanted):
                low, high = number * self.partition_ns, (number + 1) * self.partition_ns
                if low < -INT64 or high >= INT64:
                    continue  # the COPY refuses such a start time as out of range: the span is rejected
                conn.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF spans FOR VALUES FROM ({}) TO ({})").format(
                        sql.Identifier(partition_name(number)), sql.Literal(low), sql.Literal(high)
                    )
                )
        self._partitions |= wanted

    def _write(self, c: Committed) -> None:
        self._ensure_partitions(c.spans)
        now = time.time_ns()
        conn = self._writer
        with conn.transaction():
            new_resources = self._write_resources(conn, c)
            if c.spans:
                with conn.cursor() as cur:
                    with cur.copy(f"COPY staging_spans ({_SPAN_COLUMNS}) FROM STDIN") as copy:
                        for s in c.spans:
                            copy.write_row(span_row(s, now))
                    cur.execute(
                        f"INSERT INTO spans ({_SPAN_COLUMNS}) SELECT {_SPAN_COLUMNS} FROM staging_spans"
                        " ON CONFLICT DO NOTHING RETURNING trace_id, span_id"
                    )
                    fresh = {(r[0], r[1]) for r in cur.fetchall()}
                    cur.execute(
                        "DELETE FROM active_spans a USING staging_spans s"
                        " WHERE a.trace_id = s.trace_id AND a.span_id = s.span_id"
                    )
                    cur.execute("TRUNCATE staging_spans")
                    new = trace_summaries.first_stored(c.spans, fresh)
                    with cur.copy("COPY staging_attributes (key, value, trace_id) FROM STDIN") as copy:
                        for row in attribute_index.rows(new):
                            copy.write_row(row)
                    cur.execute(
                        "INSERT INTO trace_attributes SELECT DISTINCT key, value, trace_id FROM staging_attributes"
                        " ON CONFLICT DO NOTHING"
                    )
                    cur.execute("TRUNCATE staging_attributes")
                    _fold(cur, new)
            if c.pending:
                _write_pending(conn, c.pending)
            if c.metric_points:
                with conn.cursor().copy(f"COPY metric_points ({METRIC_COLUMNS}) FROM STDIN") as copy:
                    for p in c.metric_points:
                        copy.write_row(metric_row(p, now))
            if c.logs:
                with conn.cursor().copy(f"COPY log_records ({LOG_COLUMNS}) FROM STDIN") as copy:
                    for r in c.logs:
                        copy.write_row(log_row(r, now))
        self._known_resources.update(new_resources)

    def _write_resources(self, conn: psycopg.Connection, c: Committed) -> list[str]:
        new = unknown_resources(c, self._known_resources)
        if new:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO resources VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    [(r.key, r.service_name, _dumps(r.attributes)) for r in sorted(new.values(), key=_key)],
                )
        return list(new)


def _key(resource: Resource) -> str:
    return resource.key


def _fold(cur: psycopg.Cursor, spans: list[SpanRecord]) -> None:
    """Add newly stored spans to their traces' summary rows (in trace id order: concurrent writers never deadlock)."""
    ordered = sorted(trace_summaries.folds(spans).items())
    cur.executemany(
        _UPSERT_TRACE, [(t, f.start_ns, f.end_ns, f.spans, f.errors, _dumps(sorted(f.services))) for t, f in ordered]
    )
    cur.executemany(_SET_ROOT, [(t,) for t, f in ordered if f.has_root])


def _write_pending(conn: psycopg.Connection, pending: list[SpanRecord]) -> None:
    rows = [dict(zip(_ACTIVE_PARAMS, row, strict=True)) for row in active_span_rows(pending)]
    if rows:
        rows.sort(key=lambda r: (r["t"], r["s"]))
        with conn.cursor() as cur:
            cur.executemany(_UPSERT_ACTIVE, rows)


def migrate(conn: psycopg.Connection) -> None:
    """Apply the migrations this database has not had yet (once, whichever process starts first)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_MIGRATE,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ns BIGINT)")
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for version, name in enumerate(_MIGRATIONS, start=1):
            if version in done:
                continue
            log.info("PostgreSQL store: applying migration %d (%s)", version, name)
            conn.execute(package_files.files(__package__).joinpath(name).read_text())
            conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (version, time.time_ns()))


def existing_partitions(conn: psycopg.Connection, partition_ns: int) -> set[int]:
    """Numbers of the spans partitions that exist with this width (by their lower bound)."""
    return {low // partition_ns for _, low, _, _ in partitions(conn) if low % partition_ns == 0}
