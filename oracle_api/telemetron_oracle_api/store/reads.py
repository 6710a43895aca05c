"""Reads of stored traces and of the aggregates the APIs and the Oracle show, as plain rows.

Rendering those rows for a client (REST, Jaeger) is the API's part (``api/rest_model.py``,
``api/jaeger_model.py``); searching for traces is ``search.py``'s.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence

import orjson

from . import span_documents
from .interface import SPAN_COLUMNS, SPAN_DOCUMENTS
from .trace_summaries import COLUMNS as SUMMARY_COLUMNS

_loads = json.loads


def read_rows(
    conn: sqlite3.Connection,
    columns: str,
    rest: str,
    params: tuple | list = (),
    *,
    documents: Sequence[str] = (),
    texts: Sequence[str] = (),
) -> list[list]:
    """The rows of ``SELECT {columns} {rest}`` as lists, read from SQLite in one step.

    Python's sqlite3 releases the GIL around every step of a statement. While another thread runs
    Python (the receiver decoding a batch, the Oracle), each step then waits up to the switch
    interval (5 ms) to get it back: reading a 1,000-span trace row by row took 12 s instead of
    3 ms beside one thread running Python without pause. Here SQLite folds the rows into one JSON array: one step, one
    wait at most, and orjson parses it back about as fast as sqlite3 builds tuples. Columns
    must be TEXT, INTEGER or NULL (JSON would round a REAL to 15 digits).

    Each of ``documents`` is an expression giving a stored document (span_documents.py: compressed
    BLOB or JSON text) or NULL, appended to every row decoded. SQLite concatenates the JSON texts
    into one array instead of quoting each one as a string, with ``false`` (never a stored
    document) in place of each BLOB; the BLOBs come apart, as hex, and are decoded into those places.

    Each of ``texts`` is an expression giving JSON text (or NULL, read as ""), appended after the
    documents as an unparsed string: for JSON that SQLite writes and the caller splices into a
    response. The texts are joined by U+001E, which JSON text never holds unescaped, and split
    back in one call; quoting them inside the array would double their size and parsing time.
    """
    parts = [f"json_group_array(json_array({columns}))"]
    for d in documents:
        parts.append(f"'[' || group_concat(iif(typeof({d}) = 'blob', 'false', coalesce({d}, 'null')), ',') || ']'")
        parts.append(f"group_concat(iif(typeof({d}) = 'blob', hex({d}), NULL), ',')")
    parts += [f"group_concat(coalesce({t}, ''), char(30))" for t in texts]
    values = conn.execute(f"SELECT {', '.join(parts)} {rest}", params).fetchone()
    rows = orjson.loads(values[0])
    if rows:
        for i in range(len(documents)):
            for row, document in zip(rows, _documents(values[1 + 2 * i], values[2 + 2 * i]), strict=True):
                row.append(document)
        for text in values[1 + 2 * len(documents) :]:
            for row, piece in zip(rows, text.split("\x1e"), strict=True):
                row.append(piece)
    return rows


def _documents(texts: str, blobs: str | None) -> list:
    """One document column as ``read_rows`` reads it: a JSON array, and the BLOBs its ``false`` items stand for."""
    documents = orjson.loads(texts)
    if blobs:
        stored = iter(blobs.split(","))
        for i, document in enumerate(documents):
            if document is False:
                documents[i] = span_documents.decode(bytes.fromhex(next(stored)))
    return documents


# A span's columns other than its documents, in table order (the schema's; no PRAGMA per read).
SPAN_FIELDS = tuple(c for c in SPAN_COLUMNS if c not in SPAN_DOCUMENTS)
_SPAN_DOCUMENTS = tuple(span_documents.or_empty(c) for c in SPAN_DOCUMENTS)


def trace_spans(conn: sqlite3.Connection, trace_id: str) -> list[dict]:
    """Every column of a trace's spans by name, JSON columns parsed, in start order (then span id)."""
    rows = read_rows(
        conn,
        ", ".join(SPAN_FIELDS),
        "FROM spans s WHERE s.trace = telemetron_id(?)",
        (trace_id,),
        documents=_SPAN_DOCUMENTS,
    )
    spans = [dict(zip((*SPAN_FIELDS, *SPAN_DOCUMENTS), row, strict=True)) for row in rows]
    spans.sort(key=lambda s: (s["start_ns"], s["span_id"]))
    return spans


# The columns api/jaeger_model.py renders, in the order it unpacks them. Rows stay plain lists:
# sqlite3.Row and NamedTuple attribute access cost more than writing a span's fixed fields. The
# first three columns are the sort key. Columns holding their default come back as None (NULLIF),
# which spares creating a string per row. The stored JSON documents come last, already parsed
# (see read_rows); events, links and dropped counts are None when empty.
_JAEGER_FIELDS = (
    "trace_id",
    "start_ns",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "end_ns",
    "status_code",
    "NULLIF(status_message, '')",
    "resource_key",
    "service_name",
    "scope_name",
    "scope_version",
    "NULLIF(trace_state, '')",
    "flags",
)
JAEGER_COLUMNS = ", ".join(_JAEGER_FIELDS)
JAEGER_DOCUMENTS = (
    "attributes",
    *(span_documents.none_if_empty(c) for c in ("events", "links", "dropped_counts", "scope_attributes")),
)


def jaeger_span_rows(conn: sqlite3.Connection, trace_ids: list[str]) -> list[list]:
    """The traces' spans as the lists api/jaeger_model.py renders, sorted by trace, start and span id."""
    where = "FROM spans s WHERE s.trace IN (SELECT telemetron_id(value) FROM json_each(?))"
    rows = read_rows(conn, JAEGER_COLUMNS, where, (json.dumps(trace_ids),), documents=JAEGER_DOCUMENTS)
    rows.sort()  # sorted here: SQLite's sorter would copy every row
    return rows


def active_spans(conn: sqlite3.Connection, trace_id: str) -> list[dict]:
    """Spans of the trace that have started and not yet ended (from pending-span records), attributes parsed."""
    rows = conn.execute(
        "SELECT * FROM active_spans WHERE trace_id = ? ORDER BY start_ns, span_id", (trace_id.lower(),)
    ).fetchall()
    return [{**dict(r), "attributes": _loads(r["attributes"])} for r in rows]


def trace_summary(conn: sqlite3.Connection, trace_id: str) -> dict | None:
    row = conn.execute(f"SELECT {SUMMARY_COLUMNS} FROM traces WHERE trace_id = ?", (trace_id.lower(),)).fetchone()
    return dict(row) if row else None


def resources(conn: sqlite3.Connection, keys: Iterable[str]) -> dict[str, dict]:
    """Resources by key: ``{"service_name": ..., "attributes": {...}}``."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    return {
        r["resource_key"]: {"service_name": r["service_name"], "attributes": _loads(r["attributes"])}
        for r in conn.execute(
            "SELECT * FROM resources WHERE resource_key IN (SELECT value FROM json_each(?))", (json.dumps(keys),)
        )
    }


def trace_summaries(conn: sqlite3.Connection, trace_ids: list[str]) -> list[dict]:
    """Summary rows of the given traces, in the order asked."""
    if not trace_ids:
        return []
    rows = {
        r["trace_id"]: r
        for r in conn.execute(
            f"SELECT {SUMMARY_COLUMNS} FROM traces WHERE trace_id IN (SELECT value FROM json_each(?))",
            (json.dumps(trace_ids),),
        )
    }
    return [dict(rows[t]) for t in trace_ids if t in rows]


def service_span_stats(conn: sqlite3.Connection, trace_id: str) -> list[tuple[str, int, int]]:
    """(service, spans, error spans) of one trace, sorted by service name."""
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT service_name, count(*), sum(status_code = 2) FROM spans WHERE trace = telemetron_id(?)"
            " GROUP BY service_name ORDER BY service_name",
            (trace_id,),
        )
    ]


def orphan_span_count(conn: sqlite3.Connection, trace_id: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM span_rows c WHERE c.trace = telemetron_id(?1) AND c.parent IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM span_rows p WHERE p.trace = c.trace AND p.span = c.parent)",
        (trace_id,),
    ).fetchone()[0]


def services(conn: sqlite3.Connection) -> list[str]:
    """Names of the services that sent spans, sorted."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT n.service_name FROM span_services n WHERE EXISTS"
            " (SELECT 1 FROM span_rows r WHERE r.service_id = n.service_id) ORDER BY 1"
        )
    ]


def operations(conn: sqlite3.Connection, service: str | None, span_kind: int | None = None) -> list[tuple[str, int]]:
    """(span name, OTLP kind) pairs, sorted; for one service or all (the operations table, schema.sql)."""
    where: list[str] = []
    params: list[object] = []
    if service:
        where.append("service_name = ?")
        params.append(service)
    if span_kind is not None:
        where.append("kind = ?")
        params.append(span_kind)
    sql = "SELECT DISTINCT name, kind FROM operations"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [(r[0], r[1]) for r in conn.execute(sql + " ORDER BY name, kind", params)]


# Spans ``s`` that started in [?, ?], read service by service from span_rows_service_start (schema.sql).
_BY_SERVICE = "span_services w CROSS JOIN spans s ON s.service_id = w.service_id"
_IN_WINDOW = "s.start_ns BETWEEN ? AND ?"


def dependencies(conn: sqlite3.Connection, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
    """(parent service, child service, calls) for parent/child spans in different services."""
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            f"SELECT p.service_name, s.service_name, count(*) FROM {_BY_SERVICE}"
            " CROSS JOIN spans p ON p.trace = s.trace AND p.span = s.parent"
            f" WHERE {_IN_WINDOW} AND p.service_name <> s.service_name GROUP BY 1, 2 ORDER BY 1, 2",
            (start_ns, end_ns),
        )
    ]


# --- aggregates over a time window ----------------------------------------------------------------

WINDOW_COLUMNS = (
    "trace_id, span_id, parent_span_id, name, kind, start_ns, duration_ns, status_code, operation,"
    " agent_name, provider, request_model, input_tokens, output_tokens, service_name"
)


_WINDOW_SELECT = ", ".join(f"s.{c.strip()}" for c in WINDOW_COLUMNS.split(","))


def _attribute(key: str) -> str:
    """SQL reading one span attribute whose name holds dots."""
    return f"json_extract({span_documents.sql('attributes')}, '$.\"{key}\"')"


def spans_in_window(conn: sqlite3.Connection, since_ns: int, until_ns: int) -> Iterator[sqlite3.Row]:
    """Spans that started in [since, until], with the columns the aggregates need plus tool and cost."""
    return conn.execute(
        f"SELECT {_WINDOW_SELECT},"
        f" CASE WHEN operation = 'execute_tool' THEN {_attribute('gen_ai.tool.name')} END AS tool_name,"
        f" CASE WHEN operation = 'execute_tool' THEN {_attribute('gen_ai.agent.handoff.target.name')} END"
        " AS handoff_target,"
        f" CASE WHEN request_model IS NOT NULL THEN {_attribute('telemetron.llm.cost.usd')} END AS cost_usd"
        f" FROM {_BY_SERVICE} WHERE {_IN_WINDOW}",
        (since_ns, until_ns),
    )


def red_spans(
    conn: sqlite3.Connection, services: Sequence[str], kinds: Sequence[int], since_ns: int, until_ns: int
) -> list[tuple[str, str, int, int, int]]:
    """(service, span name, start, duration, status code) of the services' spans of these kinds that
    started in (since, until], oldest first: the input of Jaeger's RED metrics (api/jaeger_metrics.py)."""
    return [
        (r[0], r[1], r[2], r[3], r[4])
        for r in conn.execute(
            f"SELECT s.service_name, s.name, s.start_ns, s.duration_ns, s.status_code FROM {_BY_SERVICE}"
            " WHERE w.service_name IN (SELECT value FROM json_each(?)) AND s.kind IN (SELECT value FROM json_each(?))"
            " AND s.start_ns > ? AND s.start_ns <= ? ORDER BY s.start_ns",
            (json.dumps(list(services)), json.dumps(list(kinds)), since_ns, until_ns),
        )
    ]


def llm_spans(conn: sqlite3.Connection, since_ns: int, until_ns: int) -> list[sqlite3.Row]:
    """LLM calls (spans with a request model) that started in [since, until], with usage, cost and the
    rate-limit headroom their provider reported: the input of the dashboard's LLM charts."""
    ratelimit = "telemetron.llm.ratelimit"
    return conn.execute(
        "SELECT request_model, provider, start_ns, duration_ns, status_code, error_type, input_tokens, output_tokens,"
        f" {_attribute('telemetron.llm.cost.usd')} AS cost_usd,"
        f" {_attribute(ratelimit + '.tokens.remaining')} AS tokens_remaining,"
        f" {_attribute(ratelimit + '.requests.remaining')} AS requests_remaining"
        f" FROM {_BY_SERVICE} WHERE {_IN_WINDOW} AND request_model IS NOT NULL",
        (since_ns, until_ns),
    ).fetchall()
