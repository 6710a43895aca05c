"""The read side of the store interface (``interface.TelemetryStore``) over PostgreSQL.

The same named reads as ``sqlite_reads.py`` with the same rows; each runs on the calling
thread's own connection (autocommit: every read sees what has been committed by any writer).
Searches are ``postgres_search.py``'s.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from . import postgres_search, reads, telemetry_reads
from .interface import ORACLE_SPAN_COLUMNS, SPAN_DOCUMENTS
from .search import SpanSearch, TraceFilter
from .telemetry_reads import POSTGRES, LogFilter, MetricFilter, Query

_BATCH = 5000

# SQLite's columns and documents (reads.py); here the documents are JSON text, parsed after the read.
_JAEGER_COLUMNS = ", ".join((reads.JAEGER_COLUMNS, *reads.JAEGER_DOCUMENTS))
_JAEGER_FIRST_DOCUMENT = -len(reads.JAEGER_DOCUMENTS)

_ORACLE_SELECT = ", ".join(
    {
        "attributes": "CASE WHEN operation IS NOT NULL OR request_model IS NOT NULL OR kind IN (4, 5)"
        " OR strpos(attributes, '\"messaging.') > 0 THEN attributes END",
        "links": "CASE WHEN kind = 5 OR strpos(attributes, '\"messaging.') > 0 THEN links END",
    }.get(column, column)
    for column in ORACLE_SPAN_COLUMNS
)


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def _attribute(key: str) -> str:
    """SQL reading one span attribute (typed, as JSON) whose name holds dots."""
    return "(attributes::jsonb -> '" + key.replace("'", "''") + "')"


def _loads(text: str | None) -> object:
    return None if text is None else orjson.loads(text)


class PostgresReads:
    """Named reads of the stored telemetry, plus the Oracle's history and snapshots; ``PostgresStore`` adds the writer."""

    def __init__(self, url: str) -> None:
        self.url = url
        info = conninfo_to_dict(url)
        # A name for caches and logs; never the password.
        self.path = Path(
            f"postgresql/{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
        )
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._all_lock = threading.Lock()
        self._snapshot_lock = threading.Lock()

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = connect(self.url)
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close_reads(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

    def _rows(self, query: str, params: Sequence | Mapping = ()) -> list[tuple]:
        return self._conn().execute(query, params).fetchall()

    def _dicts(self, query: str, params: Sequence | Mapping = ()) -> list[dict]:
        with self._conn().cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()

    # --- search -----------------------------------------------------------------------------------

    def list_traces(
        self, f: TraceFilter, *, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[dict], str | None]:
        return postgres_search.list_traces(self._conn(), f, limit=limit, cursor=cursor)

    def find_trace_ids(self, q: SpanSearch) -> list[str]:
        return postgres_search.find_trace_ids(self._conn(), q)

    # --- traces -----------------------------------------------------------------------------------

    def trace_spans(self, trace_id: str) -> list[dict]:
        columns = ", ".join((*reads.SPAN_FIELDS, *SPAN_DOCUMENTS))
        spans = []
        for row in self._rows(f"SELECT {columns} FROM spans WHERE trace_id = %s", (trace_id.lower(),)):
            span = dict(zip(reads.SPAN_FIELDS, row, strict=False))
            for name, text in zip(SPAN_DOCUMENTS, row[len(reads.SPAN_FIELDS) :], strict=True):
                span[name] = orjson.loads(text)
            spans.append(span)
        spans.sort(key=lambda s: (s["start_ns"], s["span_id"]))
        return spans

    def jaeger_span_rows(self, trace_ids: list[str]) -> list[list]:
        rows = [
            [*row[:_JAEGER_FIRST_DOCUMENT], *map(_loads, row[_JAEGER_FIRST_DOCUMENT:])]
            for row in self._rows(f"SELECT {_JAEGER_COLUMNS} FROM spans WHERE trace_id = ANY(%s)", (list(trace_ids),))
        ]
        rows.sort()
        return rows

    def active_spans(self, trace_id: str) -> list[dict]:
        rows = self._dicts(
            "SELECT * FROM active_spans WHERE trace_id = %s ORDER BY start_ns, span_id", (trace_id.lower(),)
        )
        return [{**r, "attributes": json.loads(r["attributes"])} for r in rows]

    def trace_summary(self, trace_id: str) -> dict | None:
        rows = self._dicts("SELECT * FROM traces WHERE trace_id = %s", (trace_id.lower(),))
        return rows[0] if rows else None

    def trace_summaries(self, trace_ids: list[str]) -> list[dict]:
        if not trace_ids:
            return []
        rows = {r["trace_id"]: r for r in self._dicts("SELECT * FROM traces WHERE trace_id = ANY(%s)", (trace_ids,))}
        return [rows[t] for t in trace_ids if t in rows]

    def resources(self, keys: Iterable[str]) -> dict[str, dict]:
        keys = sorted(set(keys))
        if not keys:
            return {}
        return {
            key: {"service_name": service, "attributes": json.loads(attributes)}
            for key, service, attributes in self._rows(
                "SELECT resource_key, service_name, attributes FROM resources WHERE resource_key = ANY(%s)", (keys,)
            )
        }

    def service_span_stats(self, trace_id: str) -> list[tuple[str, int, int]]:
        return [
            (r[0], r[1], r[2])
            for r in self._rows(
                "SELECT service_name, count(*), count(*) FILTER (WHERE status_code = 2) FROM spans"
                " WHERE trace_id = %s GROUP BY service_name ORDER BY service_name",
                (trace_id,),
            )
        ]

    def orphan_span_count(self, trace_id: str) -> int:
        return self._rows(
            "SELECT count(*) FROM spans c WHERE c.trace_id = %(t)s AND c.parent_span_id IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = %(t)s AND p.span_id = c.parent_span_id)",
            {"t": trace_id},
        )[0][0]

    # --- services and aggregates ------------------------------------------------------------------

    def services(self) -> list[str]:
        return [
            r[0]
            for r in self._rows(
                "SELECT DISTINCT r.service_name FROM resources r WHERE EXISTS"
                " (SELECT 1 FROM spans s WHERE s.service_name = r.service_name) ORDER BY 1"
            )
        ]

    def operations(self, service: str | None, span_kind: int | None = None) -> list[tuple[str, int]]:
        where: list[str] = []
        params: list[object] = []
        if service:
            where.append("service_name = %s")
            params.append(service)
        if span_kind is not None:
            where.append("kind = %s")
            params.append(span_kind)
        query = "SELECT DISTINCT name, kind FROM spans"
        if where:
            query += " WHERE " + " AND ".join(where)
        return [(r[0], r[1]) for r in self._rows(query + " ORDER BY name, kind", params)]

    def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        return [
            (r[0], r[1], r[2])
            for r in self._rows(
                "SELECT p.service_name, c.service_name, count(*) FROM spans c"
                " JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id"
                " WHERE c.start_ns BETWEEN %s AND %s AND p.service_name <> c.service_name"
                " GROUP BY 1, 2 ORDER BY 1, 2",
                (start_ns, end_ns),
            )
        ]

    def spans_in_window(self, since_ns: int, until_ns: int) -> Iterator[Mapping]:
        return iter(
            self._dicts(
                f"SELECT {reads.WINDOW_COLUMNS},"
                f" CASE WHEN operation = 'execute_tool' THEN {_attribute('gen_ai.tool.name')} END AS tool_name,"
                f" CASE WHEN operation = 'execute_tool' THEN {_attribute('gen_ai.agent.handoff.target.name')} END"
                " AS handoff_target,"
                f" CASE WHEN request_model IS NOT NULL THEN {_attribute('telemetron.llm.cost.usd')} END AS cost_usd"
                " FROM spans WHERE start_ns BETWEEN %s AND %s",
                (since_ns, until_ns),
            )
        )

    def red_spans(
        self, services: Sequence[str], kinds: Sequence[int], since_ns: int, until_ns: int
    ) -> list[tuple[str, str, int, int, int]]:
        return [
            (r[0], r[1], r[2], r[3], r[4])
            for r in self._rows(
                "SELECT service_name, name, start_ns, duration_ns, status_code FROM spans"
                " WHERE service_name = ANY(%s) AND kind = ANY(%s) AND start_ns > %s AND start_ns <= %s"
                " ORDER BY start_ns",
                (list(services), list(kinds), since_ns, until_ns),
            )
        ]

    def llm_spans(self, since_ns: int, until_ns: int) -> list[Mapping]:
        ratelimit = "telemetron.llm.ratelimit"
        return list(
            self._dicts(
                "SELECT request_model, provider, start_ns, duration_ns, status_code, error_type, input_tokens,"
                f" output_tokens, {_attribute('telemetron.llm.cost.usd')} AS cost_usd,"
                f" {_attribute(ratelimit + '.tokens.remaining')} AS tokens_remaining,"
                f" {_attribute(ratelimit + '.requests.remaining')} AS requests_remaining"
                " FROM spans WHERE start_ns BETWEEN %s AND %s AND request_model IS NOT NULL",
                (since_ns, until_ns),
            )
        )

    # --- log records and metric points (the SQL is telemetry_reads.py's, shared with SQLite) --------

    def _query(self, q: Query) -> list[dict]:
        return self._dicts(q.sql, q.params)

    def log_records(
        self, f: LogFilter, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict], str | None]:
        q = telemetry_reads.log_records_query(POSTGRES, f, limit, cursor)
        return telemetry_reads.page(self._query(q), limit, telemetry_reads.log_row)

    def trace_log_records(self, trace_id: str, limit: int) -> list[dict]:
        q = telemetry_reads.trace_log_records_query(POSTGRES, trace_id, limit)
        return [telemetry_reads.log_row(r) for r in self._query(q)]

    def log_counts(self, trace_ids: Sequence[str]) -> dict[str, int]:
        if not trace_ids:
            return {}
        q = telemetry_reads.log_counts_query(POSTGRES, trace_ids)
        return {r[0]: r[1] for r in self._rows(q.sql, q.params)}

    def metric_points(
        self, f: MetricFilter, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict], str | None]:
        q = telemetry_reads.metric_points_query(POSTGRES, f, limit, cursor)
        return telemetry_reads.page(self._query(q), limit, telemetry_reads.metric_point_row)

    # --- the Oracle's startup history -------------------------------------------------------------

    def span_marker(self) -> int:
        return self._rows("SELECT coalesce(max(seq), 0) FROM spans")[0][0]

    def open_span_rows(self) -> list[dict]:
        return self._dicts("SELECT * FROM active_spans ORDER BY start_ns")

    def recent_span_rows(self, after_marker: int, since_received_ns: int) -> Iterator[list[tuple]]:
        conn = connect(self.url)  # its own connection: a server-side cursor lives in a transaction
        try:
            with conn.transaction(), conn.cursor(name="oracle_rebuild") as cur:
                cur.execute(
                    f"SELECT {_ORACLE_SELECT} FROM spans WHERE seq > %s AND received_ns >= %s ORDER BY seq",
                    (after_marker, since_received_ns),
                )
                while rows := cur.fetchmany(_BATCH):
                    yield rows
        finally:
            conn.close()

    def recent_metric_rows(self, names: Sequence[str], since_ns: int) -> Iterator[list[dict]]:
        rows = self._dicts(
            "SELECT * FROM metric_points WHERE name = ANY(%s) AND time_ns >= %s ORDER BY time_ns",
            (list(names), since_ns),
        )
        for start in range(0, len(rows), _BATCH):
            yield rows[start : start + _BATCH]

    # --- snapshots (any replica writes them; ids follow one sequence) -----------------------------

    def save_snapshot(self, taken_ns: int, reason: str, state: bytes, issues: str, keep: int) -> int:
        with self._snapshot_lock:
            conn = self._conn()
            snapshot_id = conn.execute(
                "INSERT INTO oracle_snapshots (taken_ns, reason, state, issues) VALUES (%s, %s, %s, %s) RETURNING id",
                (taken_ns, reason, state, issues),
            ).fetchone()
            if snapshot_id is None:
                raise RuntimeError("oracle snapshot insert returned no row id")
            conn.execute("DELETE FROM oracle_snapshots WHERE id <= %s", (snapshot_id[0] - keep,))
            return snapshot_id[0]

    def _snapshot_row(self, where: str, params: tuple) -> dict | None:
        rows = self._dicts(f"SELECT id, taken_ns, reason, state, issues FROM oracle_snapshots {where}", params)
        if not rows:
            return None
        return {**rows[0], "state": bytes(rows[0]["state"])}

    def snapshot_by_id(self, snapshot_id: int) -> dict | None:
        return self._snapshot_row("WHERE id = %s", (snapshot_id,))

    def snapshot_at(self, t_ns: int) -> dict | None:
        return self._snapshot_row("WHERE taken_ns <= %s ORDER BY taken_ns DESC, id DESC LIMIT 1", (t_ns,))

    def latest_snapshot(self) -> dict | None:
        return self._snapshot_row("ORDER BY id DESC LIMIT 1", ())

    def snapshot_listing(self, limit: int, before_id: int | None) -> list[dict]:
        return self._dicts(
            "SELECT id, taken_ns, reason, length(state) AS compressed_size FROM oracle_snapshots"
            " WHERE id < %s ORDER BY id DESC LIMIT %s",
            (before_id if before_id is not None else 2**62, limit),
        )

    def snapshot_count(self) -> int:
        return self._rows("SELECT count(*) FROM oracle_snapshots")[0][0]

    def close_snapshots(self) -> None:
        """Snapshots share the read connections, which ``close`` closes."""
