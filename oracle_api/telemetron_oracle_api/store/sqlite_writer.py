"""The SQLite store's write side: the writer connection, its schema and migrations, and one batch per transaction.

``SqliteWriter`` is what commits: ``Store`` (sqlite.py) runs it on its writer thread, or in a process of
its own (``writer_process.py``), which takes the writer's Python work off the receiver's GIL. Either way
a request is acknowledged only after the transaction holding it commits with ``synchronous = FULL``:
the WAL is fsynced at every commit (once per batch of requests), so an acknowledged span survives a
process kill, an OS crash or a power loss.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import asdict
from importlib import resources as package_files
from pathlib import Path

import orjson
import telemetron_semconv as semconv

from ..hub import Committed
from ..model import LogRecord, MetricPoint, Resource, SpanRecord
from . import attribute_index, dictionaries, log_bodies, span_layout, span_sources, trace_numbers, trace_summaries
from .many_rows import insert_many
from .numbers import KEPT, Value
from .retention import Retention, RetentionPolicy
from .schema_statements import statements as schema_statements
from .sqlite_reads import connect
from .telemetry_reads import LOG_COLUMNS, METRIC_COLUMNS

log = logging.getLogger(__name__)


def _dumps(value: object) -> str:
    """Compact JSON text, UTF-8 unescaped; orjson writes it ~5x faster than json (decode left no NaN to refuse)."""
    return orjson.dumps(value).decode()


# The attributes that mark a record as pending; the running span itself does not carry them.
_PENDING_MARKERS = frozenset((semconv.SPAN_TYPE, semconv.LOGFIRE_SPAN_TYPE))


# WAL + FULL: every commit fsyncs the WAL before the request is acknowledged. With NORMAL a
# commit is only in the OS page cache until the next checkpoint: an OS crash could lose it.
SYNCHRONOUS = "FULL"
# The WAL is truncated to this after a checkpoint, so a burst does not leave a large file behind.
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# The writer connection's page cache (TELEMETRON_SQLITE_WRITER_CACHE_MB): 20 MiB kept ingest no faster
# than 8 on the benchmarks (bench_ingest.py, bench_vs_jaeger.py) for 13 MiB more of the process.
WRITER_CACHE_MB = 8


_UPSERT_ACTIVE = """
INSERT INTO active_spans (
    trace_id, span_id, parent_span_id, name, kind, service_name, operation, agent_name,
    start_ns, last_seen_ns, attributes, resource_key
)
SELECT ?,?,?,?,?,?,?,?,?,?,?,?
WHERE NOT EXISTS (SELECT 1 FROM span_rows WHERE trace = telemetron_id(?1) AND span = telemetron_id(?2))
ON CONFLICT (trace_id, span_id) DO UPDATE SET last_seen_ns = max(last_seen_ns, excluded.last_seen_ns)
"""

_INSERT_OPERATIONS = "INSERT INTO operations (service_name, name, kind, last_ns) VALUES"
_NEWER_OPERATION = " ON CONFLICT (service_name, name, kind) DO UPDATE SET last_ns = max(last_ns, excluded.last_ns)"
# Stores written before the operations table existed: their spans' operations, once, on open
# (one statement: a crash leaves the table empty, and the next open fills it).
_SPANS_WITHOUT_OPERATIONS = "SELECT EXISTS (SELECT 1 FROM spans) AND NOT EXISTS (SELECT 1 FROM operations)"
_BACKFILL_OPERATIONS = (
    "INSERT OR IGNORE INTO operations (service_name, name, kind, last_ns)"
    " SELECT service_name, name, kind, max(start_ns) FROM spans GROUP BY 1, 2, 3"
)


def operation_rows(spans: list[SpanRecord]) -> list[tuple[str, str, int, int]]:
    """(service, span name, kind, newest start) of each distinct operation among ``spans``."""
    newest: dict[tuple[str, str, int], int] = {}
    for s in spans:
        key = (s.resource.service_name, s.name, s.kind)
        if newest.get(key, -1) < s.start_ns:
            newest[key] = s.start_ns
    return [(*key, start) for key, start in newest.items()]


def active_span_rows(pending: list[SpanRecord]) -> list[tuple]:
    """The active_spans rows of pending-span records, in ``_UPSERT_ACTIVE``'s column order."""
    rows = []
    for p in pending:
        if not p.parent_span_id:
            continue  # a pending record names the real span as its parent
        attrs = {k: v for k, v in p.attributes.items() if k not in _PENDING_MARKERS}
        rows.append(
            (
                p.trace_id,
                p.parent_span_id,
                p.pending_parent_id,
                p.name,
                p.kind,
                p.resource.service_name,
                p.operation,
                p.agent_name,
                p.start_ns,
                max(p.end_ns, p.start_ns),
                _dumps(attrs),
                p.resource.key,
            )
        )
    return rows


def _insert(table: str, columns: str) -> str:
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(columns.split(',')))})"


_INSERT_METRIC = _insert("metric_points", METRIC_COLUMNS)
_INSERT_LOG = _insert("log_records", LOG_COLUMNS)


def metric_row(p: MetricPoint, received_ns: int) -> tuple:
    """A metric point's row in ``telemetry_reads.METRIC_COLUMNS`` order (both stores)."""
    return (
        p.resource.key,
        p.resource.service_name,
        p.scope_name,
        p.name,
        p.unit,
        p.kind,
        p.time_ns,
        p.start_ns,
        _dumps(p.attributes),
        p.value,
        _dumps(p.data),
        received_ns,
    )


def log_row(r: LogRecord, received_ns: int) -> tuple:
    """A log record's row in ``telemetry_reads.LOG_COLUMNS`` order (both stores)."""
    body, body_type = log_bodies.encode(r.body)
    return (
        r.resource.key,
        r.resource.service_name,
        r.scope_name,
        r.time_ns,
        r.observed_ns,
        r.severity_number,
        r.severity_text,
        body,
        _dumps(r.attributes),
        r.trace_id,
        r.span_id,
        r.event_name,
        body_type,
        received_ns,
    )


def unknown_resources(c: Committed, known: set[str]) -> dict[str, Resource]:
    """The resources of a batch's records that are not in ``known`` (the keys already stored), by key."""
    new: dict[str, Resource] = {}
    for group in (c.spans, c.pending, c.metric_points, c.logs):
        for item in group:
            r = item.resource
            if r.key not in known:
                new[r.key] = r
    return new


def is_transient(exc: BaseException) -> bool:
    """Whether a write failed because of the database (retry later) rather than the data (reject it)."""
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        return False
    return isinstance(exc, (sqlite3.DatabaseError, OSError, MemoryError))  # disk full, I/O, read-only, locked


# Columns added to a table after its first release: CREATE TABLE IF NOT EXISTS leaves a store made
# before them as it was, so they are added on open (SQLite appends a column without rewriting rows).
# The rows already stored count as arrived when the column was added ({now}): retention keeps them
# for its full age from then on.
_ADDED_COLUMNS = (
    ("spans", "scope_attributes", "TEXT NOT NULL DEFAULT '{{}}'"),
    ("spans", "source_id", "INTEGER"),  # NULL: written before it, the row holds its resource key and scope
    ("metric_points", "received_ns", "INTEGER NOT NULL DEFAULT {now}"),
    ("log_records", "received_ns", "INTEGER NOT NULL DEFAULT {now}"),
    ("log_records", "body_type", "TEXT"),  # NULL: written before it, a JSON body (log_bodies.py)
)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    for table, column, template in _ADDED_COLUMNS:
        definition = template.format(now=time.time_ns())
        if column in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
            continue
        log.info("adding column %s.%s to a store made before it existed", table, column)
        try:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another process opening the same file added it first
                raise


class SqliteWriter:
    """The writer connection of one SQLite file and what it keeps in memory between batches.

    Opening it makes the schema and moves an older store's data to the current layout, once. Used
    from one thread at a time: ``write`` a batch, then ``after_batch``; ``idle`` when no batch waits.
    """

    def __init__(self, path: Path, retention: RetentionPolicy | None = None, cache_mb: int = WRITER_CACHE_MB) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = connect(path)
        tables = {r[0] for r in self._writer.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:  # only a new file can take it; an older store reuses its free pages instead
            self._writer.execute("PRAGMA auto_vacuum = INCREMENTAL")
        schema = package_files.files(__package__).joinpath("schema.sql").read_text()
        self._writer.executescript(schema)
        _add_missing_columns(self._writer)
        if span_layout.is_older(self._writer):
            span_layout.rebuild_older(self._writer, schema_statements(schema)["spans"])
        if trace_numbers.missing(self._writer):
            trace_numbers.add(self._writer, schema)
        older_index = next((t for t in attribute_index.OLDER_TABLES if t in tables), None)
        if older_index or (tables & {"spans", "span_rows"} and "attribute_hashes" not in tables):
            self._backfill_attribute_index(older_index)
        self._attribute_index = attribute_index.SqliteIndex(self._writer)
        self._sources = span_sources.numbers(self._writer)
        self._shapes = span_layout.shapes(self._writer)
        self._services = span_layout.services(self._writer)
        self._documents = dictionaries.StoreDocuments(self._writer)
        if self._writer.execute(_SPANS_WITHOUT_OPERATIONS).fetchone()[0]:
            log.info("listing the operations of stored spans (once, for the operation list)")
            self._writer.execute(_BACKFILL_OPERATIONS)
        self._writer.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
        self._writer.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        # A span inserts into indexes at random places (its trace id, its unique attribute values): with
        # SQLite's default 2 MiB cache nearly every insert read a page back from the file.
        self._writer.execute(f"PRAGMA cache_size = {-1024 * cache_mb}")
        # Resources known to be stored (a forgotten one is only inserted again, OR IGNORE): at most KEPT.
        self._known_resources: set[str] = {
            r[0] for r in self._writer.execute("SELECT resource_key FROM resources LIMIT ?", (KEPT,))
        }
        self._active = self._open_spans()
        self.retention = Retention(retention or RetentionPolicy())

    def close(self) -> None:
        self._writer.close()

    def status(self) -> dict:
        """The writer's settings as its connection holds them, and what retention has done."""
        cache_kib = -self._writer.execute("PRAGMA cache_size").fetchone()[0]
        return {"cache_kib": cache_kib, "retention": asdict(self.retention.stats)}

    # --- between batches ----------------------------------------------------------------------------

    def idle_timeout(self) -> float | None:
        """Seconds until retention is due while no batch comes (None: never)."""
        return self.retention.seconds_until_due()

    def idle(self) -> None:
        self.retention_step()

    def after_batch(self) -> None:
        if self.retention.due_after_batch(self._writer):
            self.retention_step()

    def retention_step(self) -> None:
        try:
            open_before = self.retention.stats.active_spans
            self.retention.step(self._writer)
            dictionaries.delete_unused(self._writer)
            if self.retention.stats.active_spans != open_before:
                self._active = self._open_spans()
        except Exception as exc:  # the database's trouble; the next step tries again, ingest goes on
            self.retention.stats.failed_steps += 1
            log.warning("retention step failed: %r", exc)

    def _open_spans(self) -> set[tuple[str, str]]:
        """(trace id, span id) of the stored records of work in progress."""
        return {(r[0], r[1]) for r in self._writer.execute("SELECT trace_id, span_id FROM active_spans")}

    def write(self, c: Committed) -> None:
        """Write one batch in one transaction (raising leaves none of it stored)."""
        now = time.time_ns()
        conn = self._writer
        new_keys: dict[Value, int] = {}
        new_sources: dict[Value, int] = {}
        new_shapes: dict[Value, int] = {}
        new_services: dict[Value, int] = {}
        conn.execute("BEGIN IMMEDIATE")
        try:
            new_resources = self._write_resources(conn, c)
            if c.spans:
                rowid_before = conn.execute("SELECT coalesce(max(rowid), 0) FROM span_rows").fetchone()[0]
                source_ids, new_sources = span_sources.ids(self._sources, conn, c.spans)
                shape_ids, new_shapes = span_layout.shape_ids(self._shapes, conn, c.spans)
                service_ids, new_services = span_layout.service_ids(self._services, conn, c.spans)
                documents = self._documents.encode_many(conn, [s.attributes for s in c.spans], "{}", rowid_before + 1)
                encode = self._documents.encode
                rows = [
                    span_layout.row(s, now, encode, shape, service, source, d)
                    for s, shape, service, source, d in zip(
                        c.spans, shape_ids, service_ids, source_ids, documents, strict=True
                    )
                ]
                inserted = insert_many(conn, span_layout.INSERT, rows)
                insert_many(conn, _INSERT_OPERATIONS, operation_rows(c.spans), _NEWER_OPERATION)
                new = trace_summaries.newly_stored(conn, c.spans, inserted, rowid_before)
                # A span stored before was indexed then: only the new ones, by their traces' numbers.
                new_keys = self._attribute_index.insert_spans(conn, new, trace_summaries.fold(conn, new))
                ended = [key for key in ((s.trace_id, s.span_id) for s in c.spans) if key in self._active]
                if ended:
                    conn.executemany("DELETE FROM active_spans WHERE trace_id = ? AND span_id = ?", ended)
            if c.pending:
                self._write_pending(conn, c.pending)
            if c.metric_points:
                conn.executemany(_INSERT_METRIC, [metric_row(p, now) for p in c.metric_points])
            if c.logs:
                conn.executemany(_INSERT_LOG, [log_row(r, now) for r in c.logs])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if len(self._known_resources) + len(new_resources) > KEPT:
            self._known_resources.clear()
        self._known_resources.update(new_resources)  # only once committed: a rolled-back batch is written again
        self._attribute_index.committed(new_keys)
        self._sources.committed(new_sources)
        self._shapes.committed(new_shapes)
        self._services.committed(new_services)
        self._documents.committed()
        for s in c.spans:
            self._active.discard((s.trace_id, s.span_id))
        for p in c.pending:
            if p.parent_span_id:
                self._active.add((p.trace_id, p.parent_span_id))

    def _backfill_attribute_index(self, older_table: str | None) -> None:
        """Index the spans of a store written before the attribute index (or before its current form), once."""
        started = time.perf_counter()
        log.info("indexing the attribute values of stored spans (once, for searches by attribute)")
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            attribute_index.backfill(conn, older_table)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            if not older_table:  # an empty index would hide these spans; retry next start
                conn.execute("DROP TABLE attribute_hashes")
            raise
        log.info("attribute values indexed in %.1f s", time.perf_counter() - started)

    def _write_resources(self, conn: sqlite3.Connection, c: Committed) -> list[str]:
        new = unknown_resources(c, self._known_resources)
        if new:
            conn.executemany(
                "INSERT OR IGNORE INTO resources VALUES (?,?,?)",
                [(r.key, r.service_name, _dumps(r.attributes)) for r in new.values()],
            )
        return list(new)

    def _write_pending(self, conn: sqlite3.Connection, pending: list[SpanRecord]) -> None:
        rows = active_span_rows(pending)
        if rows:
            conn.executemany(_UPSERT_ACTIVE, rows)
