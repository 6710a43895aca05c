"""The read side of the store interface (``interface.TelemetryStore``) over one SQLite file.

Each method runs one function of ``reads.py`` or ``search.py`` on the calling thread's read
connection, opened on first use (WAL lets readers run beside the writer).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from . import reads, search, span_documents, span_layout, telemetry_reads


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 5000")
    span_documents.register(conn)
    span_layout.register(conn)
    return conn


class SqliteReads:
    """Named reads of the stored telemetry; ``Store`` (sqlite.py) adds the writer."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """The calling thread's read connection, for reads not named here yet (the Oracle's rebuild)."""
        yield self._conn()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path, readonly=True)
        return conn

    # --- search -----------------------------------------------------------------------------------

    def list_traces(
        self, f: search.TraceFilter, *, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[dict], str | None]:
        return search.list_traces(self._conn(), f, limit=limit, cursor=cursor)

    def find_trace_ids(self, q: search.SpanSearch) -> list[str]:
        return search.find_trace_ids(self._conn(), q)

    # --- traces -----------------------------------------------------------------------------------

    def trace_spans(self, trace_id: str) -> list[dict]:
        return reads.trace_spans(self._conn(), trace_id)

    def jaeger_span_rows(self, trace_ids: list[str]) -> list[list]:
        return reads.jaeger_span_rows(self._conn(), trace_ids)

    def active_spans(self, trace_id: str) -> list[dict]:
        return reads.active_spans(self._conn(), trace_id)

    def trace_summary(self, trace_id: str) -> dict | None:
        return reads.trace_summary(self._conn(), trace_id)

    def trace_summaries(self, trace_ids: list[str]) -> list[dict]:
        return reads.trace_summaries(self._conn(), trace_ids)

    def resources(self, keys: Iterable[str]) -> dict[str, dict]:
        return reads.resources(self._conn(), keys)

    def service_span_stats(self, trace_id: str) -> list[tuple[str, int, int]]:
        return reads.service_span_stats(self._conn(), trace_id)

    def orphan_span_count(self, trace_id: str) -> int:
        return reads.orphan_span_count(self._conn(), trace_id)

    # --- services and aggregates ------------------------------------------------------------------

    def services(self) -> list[str]:
        return reads.services(self._conn())

    def operations(self, service: str | None, span_kind: int | None = None) -> list[tuple[str, int]]:
        return reads.operations(self._conn(), service, span_kind)

    def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        return reads.dependencies(self._conn(), start_ns, end_ns)

    def spans_in_window(self, since_ns: int, until_ns: int) -> Iterator[Mapping]:
        return cast(Iterator[Mapping], reads.spans_in_window(self._conn(), since_ns, until_ns))

    def red_spans(
        self, services: Sequence[str], kinds: Sequence[int], since_ns: int, until_ns: int
    ) -> list[tuple[str, str, int, int, int]]:
        return reads.red_spans(self._conn(), services, kinds, since_ns, until_ns)

    def llm_spans(self, since_ns: int, until_ns: int) -> list[Mapping]:
        return cast(list[Mapping], reads.llm_spans(self._conn(), since_ns, until_ns))

    # --- log records and metric points (telemetry_reads.py) ----------------------------------------

    def log_records(
        self, f: telemetry_reads.LogFilter, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict], str | None]:
        return telemetry_reads.log_records(self._conn(), f, limit=limit, cursor=cursor)

    def trace_log_records(self, trace_id: str, limit: int) -> list[dict]:
        return telemetry_reads.trace_log_records(self._conn(), trace_id, limit)

    def log_counts(self, trace_ids: Sequence[str]) -> dict[str, int]:
        return telemetry_reads.log_counts(self._conn(), trace_ids)

    def metric_points(
        self, f: telemetry_reads.MetricFilter, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict], str | None]:
        return telemetry_reads.metric_points(self._conn(), f, limit=limit, cursor=cursor)
