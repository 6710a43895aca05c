"""Read queries over the store, returning JSON-ready dicts. Shared by the REST, Jaeger and Oracle APIs.

Searches walk an index newest first and stop as soon as they have a page, so their cost follows
the page size rather than the size of the store (see bench/bench_queries.py). A search by a rare
attribute value, which such a walk would carry through the whole store, reads the few traces the
trace_attributes table names instead (store/attribute_index.py).
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from . import attribute_index

SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES = ("UNSET", "OK", "ERROR")
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

    Each of ``documents`` is an expression giving stored JSON text (or NULL), appended to every
    row already parsed. SQLite concatenates those texts into one array instead of quoting each
    one as a string, and orjson parses the array in one call.

    Each of ``texts`` is an expression giving JSON text (or NULL, read as ""), appended after the
    documents as an unparsed string: for JSON that SQLite writes and the caller splices into a
    response. The texts are joined by U+001E, which JSON text never holds unescaped, and split
    back in one call; quoting them inside the array would double their size and parsing time.
    """
    parts = [f"json_group_array(json_array({columns}))"]
    parts += [f"'[' || group_concat(coalesce({d}, 'null'), ',') || ']'" for d in documents]
    parts += [f"group_concat(coalesce({t}, ''), char(30))" for t in texts]
    values = conn.execute(f"SELECT {', '.join(parts)} {rest}", params).fetchone()
    rows = orjson.loads(values[0])
    if rows:
        for text in values[1 : 1 + len(documents)]:
            for row, document in zip(rows, orjson.loads(text), strict=True):
                row.append(document)
        for text in values[1 + len(documents) :]:
            for row, piece in zip(rows, text.split("\x1e"), strict=True):
                row.append(piece)
    return rows


def iso(ns: int | None) -> str | None:
    """Unix nanoseconds as an RFC 3339 UTC timestamp with microseconds (truncated; none when zero)."""
    if ns is None:
        return None
    seconds, nanos = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    micros = nanos // 1000
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


def _iso_sql(column: str) -> str:
    """SQL computing ``iso(column)`` exactly, so JSON written by SQLite matches JSON written in Python."""
    return (
        f"replace(datetime({column} / 1000000000, 'unixepoch'), ' ', 'T')"
        f" || CASE WHEN ({column} / 1000) % 1000000 = 0 THEN '' ELSE printf('.%06d', ({column} / 1000) % 1000000) END"
        " || 'Z'"
    )


def to_ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000) * 1000


def span_kind_name(kind: int) -> str:
    return SPAN_KINDS[kind] if 0 <= kind < len(SPAN_KINDS) else str(kind)


def span_json(row: Mapping) -> dict:
    """A stored span as the REST API shows it."""
    start_ns, end_ns = row["start_ns"], row["end_ns"]
    return {
        "trace_id": row["trace_id"],
        "span_id": row["span_id"],
        "parent_span_id": row["parent_span_id"],
        "name": row["name"],
        "kind": span_kind_name(row["kind"]),
        "service_name": row["service_name"],
        "start_time": iso(start_ns),
        "end_time": iso(end_ns),
        "start_ns": start_ns,
        "end_ns": end_ns,
        "duration_ms": row["duration_ns"] / 1e6,
        "status": {"code": STATUS_CODES[row["status_code"]], "message": row["status_message"]},
        "gen_ai": {
            "operation": row["operation"],
            "agent_name": row["agent_name"],
            "provider": row["provider"],
            "request_model": row["request_model"],
            "response_model": row["response_model"],
            "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"],
            "conversation_id": row["conversation_id"],
            "error_type": row["error_type"],
        },
        "attributes": _loads(row["attributes"]),
        "events": _loads(row["events"]),
        "links": _loads(row["links"]),
        "scope": {
            "name": row["scope_name"],
            "version": row["scope_version"],
            "attributes": _loads(row["scope_attributes"]),
        },
        "resource_key": row["resource_key"],
    }


def trace_summary_json(row: sqlite3.Row) -> dict:
    return {
        "trace_id": row["trace_id"],
        "root_name": row["root_name"],
        "root_service": row["root_service"],
        "services": _loads(row["services"]),
        "start_time": iso(row["start_ns"]),
        "end_time": iso(row["end_ns"]),
        "start_ns": row["start_ns"],
        "end_ns": row["end_ns"],
        "duration_ms": (row["end_ns"] - row["start_ns"]) / 1e6,
        "span_count": row["span_count"],
        "error_count": row["error_count"],
    }


# --- attribute matching ---------------------------------------------------------------------------

_INT = re.compile(r"^[+-]?\d+$")


def json_path(key: str) -> str:
    """A JSON path selecting one top-level attribute whose name contains dots."""
    return '$."' + key.replace('"', '\\"') + '"'


_stored = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # as the writer stores JSON


def _candidates(value: str) -> list:
    """The typed values a query string stands for: "5" is the string or the int, "1.5" the string or the double."""
    if value in ("true", "false"):
        return [value == "true"]
    out: list = [value]
    if _INT.match(value):
        if -(2**63) <= int(value) < 2**63:  # a stored int is int64; a longer one can only match as text
            out.append(int(value))
    else:
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and number == number and abs(number) != float("inf"):
            out.append(number)
    return out


def attribute_needles(key: str, value: str) -> list[str]:
    """``"key":value`` as the stored JSON text spells it, for each candidate type of the value."""
    return [_stored(key) + ":" + _stored(c) for c in _candidates(value)]


def _structured_value(value: str) -> object | None:
    """The array or map a query string spells as JSON, else None; such values show as JSON text in Jaeger."""
    if value[:1] not in ("[", "{"):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, (list, dict)) else None


_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


def _go_json_function(conn: sqlite3.Connection) -> str:
    """Register, on this connection, the SQL function that writes a stored array or map as Jaeger shows it."""
    from ..api.jaeger_model import go_json_text  # the API layer owns Jaeger's rendering; imported late (cycle)

    conn.create_function("telemetron_go_json", 1, go_json_text, deterministic=True)
    return "telemetron_go_json"


def attribute_match(
    json_column: str, key: str, value: str, *, raw: bool = True, conn: sqlite3.Connection | None = None
) -> tuple[str, list]:
    """SQL that is true when the JSON object in ``json_column`` has ``key`` whose value, as text, is ``value``.

    Stored attributes keep their OTLP types, so "5" matches the int 5, "true" the bool true and
    "1.5" the double 1.5, the way Jaeger compares a tag's string form. Bytes match their base64
    text and, given ``conn``, arrays and maps the JSON text Jaeger shows for them. When the column
    is the stored JSON text (``raw``), a substring test on ``"key":value`` runs first: scanning
    text is several times cheaper than parsing JSON, and it rules out almost every row.
    """
    path = json_path(key)
    candidates = _candidates(value)
    if isinstance(candidates[0], bool):
        sql, params = f"json_type({json_column}, ?) = ?", [path, value]
    else:
        marks = ",".join("?" * len(candidates))
        sql, params = f"json_extract({json_column}, ?) IN ({marks})", [path, *candidates]
    needles = attribute_needles(key, value) if raw else []
    if _BASE64.match(value) and value:
        sql += f" OR json_extract({json_column}, ?) = ?"
        params += [f'{path}."$bytes"', value]
        needles.append(f'{_stored(key)}:{{"$bytes":{_stored(value)}}}')
    if conn is not None and _structured_value(value) is not None:
        function = _go_json_function(conn)
        sql += f" OR (json_type({json_column}, ?) IN ('array', 'object') AND {function}(json_extract({json_column}, ?)) = ?)"
        params += [path, path, _go_json_text_of(value)]
        needles.append(f"{_stored(key)}:{value[0]}")
    sql = f"({sql})"
    if raw:
        prefilter = " OR ".join(f"instr({json_column}, ?) > 0" for _ in needles)
        return f"({prefilter}) AND {sql}", [*needles, *params]
    return sql, params


def _go_json_text_of(value: str) -> str:
    """A structured query value rewritten as Jaeger writes it (keys sorted, compact), so spacing does not matter."""
    from ..api.jaeger_model import go_json_text

    return go_json_text(json.dumps(_structured_value(value)))


# --- REST trace search ----------------------------------------------------------------------------


@dataclass
class TraceFilter:
    """Filters of the trace search; every field is optional and they combine with AND."""

    service: str | None = None
    agent: str | None = None
    model: str | None = None
    status: str | None = None  # "ok" | "error"
    start_ns: int | None = None
    end_ns: int | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    conversation_id: str | None = None
    attributes: dict[str, str] | None = None  # attribute equality, on any span of the trace or its scope
    operation: str | None = None


def _encode_cursor(start_ns: int, trace_id: str) -> str:
    return base64.urlsafe_b64encode(f"{start_ns}:{trace_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Raises ValueError with a readable message for a cursor this API did not issue."""
    try:
        start, _, trace_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if not trace_id:
            raise ValueError("no trace id")
        return int(start), trace_id
    except Exception as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc


def list_traces(
    conn: sqlite3.Connection, f: TraceFilter, *, limit: int = 20, cursor: str | None = None
) -> tuple[list[dict], str | None]:
    """Newest first, keyset-paged: pass the returned cursor to get the next page.

    Each span condition may hold on a different span of the trace (an agent span and an LLM
    span of the same run). Conditions are correlated ``EXISTS`` lookups on the trace's own spans,
    so the walk down ``traces_start`` stops once a page is full; the conversation id, which
    picks out few traces, drives the search through its own index instead.
    """
    where, params = [], []
    if f.start_ns is not None:
        where.append("t.end_ns >= ?")
        params.append(f.start_ns)
    if f.end_ns is not None:
        where.append("t.start_ns <= ?")
        params.append(f.end_ns)
    if f.status == "error":
        where.append("t.error_count > 0")
    elif f.status == "ok":
        where.append("t.error_count = 0")
    if f.min_duration_ns is not None:
        where.append("t.end_ns - t.start_ns >= ?")
        params.append(f.min_duration_ns)
    if f.max_duration_ns is not None:
        where.append("t.end_ns - t.start_ns <= ?")
        params.append(f.max_duration_ns)
    if f.service is not None:
        # The summary row lists the trace's services: no need to visit its spans.
        where.append("EXISTS (SELECT 1 FROM json_each(t.services) j WHERE j.value = ?)")
        params.append(f.service)
    if f.conversation_id is not None:
        where.append("t.trace_id IN (SELECT c.trace_id FROM spans c WHERE c.conversation_id = ?)")
        params.append(f.conversation_id)
    for column, value in (("agent_name", f.agent), ("request_model", f.model), ("operation", f.operation)):
        if value is not None:
            where.append(f"EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = t.trace_id AND s.{column} = ?)")
            params.append(value)
    for key, value in (f.attributes or {}).items():
        on_span, span_values = attribute_match("s.attributes", key, value)
        on_scope, scope_values = attribute_match("s.scope_attributes", key, value)
        where.append(
            "EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = t.trace_id"
            f" AND (({on_span}) OR (s.scope_attributes <> '{{}}' AND {on_scope})))"
        )
        params.extend([*span_values, *scope_values])
    if cursor:
        start_ns, trace_id = decode_cursor(cursor)
        where.append("(t.start_ns < ? OR (t.start_ns = ? AND t.trace_id < ?))")
        params.extend([start_ns, start_ns, trace_id])
    source, source_params = _traces_source(_indexed_trace_ids(conn, f.attributes or {}))
    sql = f"SELECT t.* FROM {source}"
    params[:0] = source_params
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY t.start_ns DESC, t.trace_id DESC LIMIT ?"
    rows = conn.execute(sql, [*params, limit + 1]).fetchall()
    page = [trace_summary_json(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(last["start_ns"], last["trace_id"])
    return page, next_cursor


# --- one trace ------------------------------------------------------------------------------------


def normalize_trace_id(trace_id: str) -> str | None:
    """A 16- or 32-hex trace id as the store keeps it (32 lowercase hex), or None if it is not one."""
    tid = trace_id.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{1,32}", tid):
        return None
    return tid.rjust(32, "0")


def get_trace_spans(conn: sqlite3.Connection, trace_id: str) -> list[dict]:
    """Every column of a trace's spans, by name, in start order (then span id)."""
    names = [r[1] for r in conn.execute("PRAGMA table_info(spans)")]
    rows = read_rows(conn, ", ".join(names), "FROM spans WHERE trace_id = ?", (trace_id.lower(),))
    spans = [dict(zip(names, row)) for row in rows]
    spans.sort(key=lambda s: (s["start_ns"], s["span_id"]))
    return spans


def get_resources(conn: sqlite3.Connection, keys: Iterable[str]) -> dict[str, dict]:
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


def get_active_spans(conn: sqlite3.Connection, trace_id: str) -> list[dict]:
    """Spans of the trace that have started and not yet ended (from pending-span records)."""
    return [
        {
            "trace_id": r["trace_id"],
            "span_id": r["span_id"],
            "parent_span_id": r["parent_span_id"],
            "name": r["name"],
            "kind": span_kind_name(r["kind"]),
            "service_name": r["service_name"],
            "operation": r["operation"],
            "agent_name": r["agent_name"],
            "start_ns": r["start_ns"],
            "start_time": iso(r["start_ns"]),
            "last_seen_ns": r["last_seen_ns"],
            "attributes": _loads(r["attributes"]),
        }
        for r in conn.execute(
            "SELECT * FROM active_spans WHERE trace_id = ? ORDER BY start_ns, span_id", (trace_id.lower(),)
        )
    ]


def _name_case(column: str, names: tuple[str, ...]) -> str:
    whens = " ".join(f"WHEN {i} THEN '{name}'" for i, name in enumerate(names))
    return f"CASE {column} {whens} ELSE CAST({column} AS TEXT) END"


def _n(column: str) -> str:
    return f"coalesce({column}, 'null')"


def _micros_sql(column: str) -> str:
    return f"CASE WHEN ({column} / 1000) % 1000000 = 0 THEN '' ELSE printf('.%06d', ({column} / 1000) % 1000000) END"


# One span as the REST API shows it (span_json), written as JSON text by SQLite in one printf:
# the stored attributes, events and links are already JSON and are spliced in unparsed, so a
# trace of thousands of spans costs a few milliseconds instead of tens. Ids are hex and kind and
# status names are fixed words, so only free text goes through json_quote.
_SPAN_JSON = (
    "printf("
    '\'{"trace_id":"%s","span_id":"%s","parent_span_id":%s,"name":%s,"kind":"%s","service_name":%s,'
    '"start_time":"%sT%s%sZ","end_time":"%sT%s%sZ","start_ns":%lld,"end_ns":%lld,"duration_ms":%!.15g,'
    '"status":{"code":"%s","message":%s},'
    '"gen_ai":{"operation":%s,"agent_name":%s,"provider":%s,"request_model":%s,"response_model":%s,'
    '"input_tokens":%s,"output_tokens":%s,"conversation_id":%s,"error_type":%s},'
    '"attributes":%s,"events":%s,"links":%s,"scope":{"name":%s,"version":%s,"attributes":%s},'
    '"resource_key":"%s"}\','
    " s.trace_id, s.span_id, json_quote(s.parent_span_id), json_quote(s.name),"
    f" {_name_case('s.kind', SPAN_KINDS)}, json_quote(s.service_name),"
    f" date(s.start_ns / 1000000000, 'unixepoch'), time(s.start_ns / 1000000000, 'unixepoch'), {_micros_sql('s.start_ns')},"
    f" date(s.end_ns / 1000000000, 'unixepoch'), time(s.end_ns / 1000000000, 'unixepoch'), {_micros_sql('s.end_ns')},"
    " s.start_ns, s.end_ns, s.duration_ns / 1e6,"
    f" {_name_case('s.status_code', STATUS_CODES)}, json_quote(s.status_message),"
    " json_quote(s.operation), json_quote(s.agent_name), json_quote(s.provider), json_quote(s.request_model),"
    f" json_quote(s.response_model), {_n('s.input_tokens')}, {_n('s.output_tokens')},"
    " json_quote(s.conversation_id), json_quote(s.error_type),"
    " s.attributes, s.events, s.links, json_quote(s.scope_name), json_quote(s.scope_version), s.scope_attributes,"
    " s.resource_key)"
)


def trace_span_documents(conn: sqlite3.Connection, trace_id: str) -> list[list]:
    """[start, span id, parent span id, resource key, span JSON text] of the trace's spans, by start then span id."""
    rows = read_rows(
        conn, "s.start_ns, s.span_id, s.parent_span_id, s.resource_key", "FROM spans s WHERE s.trace_id = ?",
        (trace_id,), texts=(_SPAN_JSON,)
    )
    rows.sort()  # by start, then span id; here: SQLite's sorter would copy every document
    return rows


def get_trace_json(conn: sqlite3.Connection, trace_id: str) -> str | None:
    """``get_trace`` as JSON text, assembled from the per-span JSON SQLite writes; None when unknown."""
    trace_id = trace_id.lower()
    rows = trace_span_documents(conn, trace_id)
    if not rows:
        return None
    ids = {r[1] for r in rows}
    children: dict[str, list[str]] = {}
    for _, span_id, parent, _, _ in rows:
        if parent in ids:
            children.setdefault(parent, []).append(span_id)
    dumps = json.dumps
    parts, roots = [], []
    for _, span_id, parent, _, doc in rows:
        is_root = parent not in ids
        if is_root:
            roots.append(span_id)
        kids = children.get(span_id)
        parts.append(
            f'{doc[:-1]},"children":{dumps(kids) if kids else "[]"},"is_root":{"true" if is_root else "false"}}}'
        )
    summary = conn.execute("SELECT * FROM traces WHERE trace_id = ?", (trace_id,)).fetchone()
    head = {"trace_id": trace_id, "summary": trace_summary_json(summary) if summary else None, "roots": roots}
    tail = {"active_spans": get_active_spans(conn, trace_id), "resources": get_resources(conn, {r[3] for r in rows})}
    head_text = dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    tail_text = dumps(tail, ensure_ascii=False, separators=(",", ":"))[1:]
    return f'{head_text},"spans":[{",".join(parts)}],{tail_text}'


def get_trace(conn: sqlite3.Connection, trace_id: str) -> dict | None:
    """All spans of a trace with their parentage, or None when the trace is unknown."""
    trace_id = trace_id.lower()
    rows = get_trace_spans(conn, trace_id)
    if not rows:
        return None
    spans = [span_json(r) for r in rows]
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[str]] = {}
    for s in spans:
        if s["parent_span_id"] in ids:
            children.setdefault(s["parent_span_id"], []).append(s["span_id"])
    for s in spans:
        s["children"] = children.get(s["span_id"], [])
        # A parent that has not arrived (or is outside this trace) makes the span a root here.
        s["is_root"] = s["parent_span_id"] not in ids
    summary = conn.execute("SELECT * FROM traces WHERE trace_id = ?", (trace_id,)).fetchone()
    return {
        "trace_id": trace_id,
        "summary": trace_summary_json(summary) if summary else None,
        "roots": [s["span_id"] for s in spans if s["is_root"]],
        "spans": spans,
        "active_spans": get_active_spans(conn, trace_id),
        "resources": get_resources(conn, (s["resource_key"] for s in spans)),
    }


# --- Jaeger-style search: one span must match every condition -------------------------------------

_STATUS_BY_NAME = {"unset": 0, "ok": 1, "error": 2}
_KIND_BY_NAME = {name.lower(): i for i, name in enumerate(SPAN_KINDS)}


@dataclass
class SpanSearch:
    """Jaeger's trace query: a trace matches when one of its spans meets every condition.

    Tags are looked up, as Jaeger's own storage does, on the span's attributes, its resource's and
    its instrumentation scope's attributes and its events' and links' attributes, and every tag
    the Jaeger API shows for a span from its own fields (``otel.scope.name``, ``span.kind``,
    ``otel.status_code``, ``error``, ...) under the name it shows; ``resource.<key>`` looks at
    resource attributes only.
    """

    service: str | None = None
    operation: str | None = None
    span_kind: int | None = None
    start_min_ns: int | None = None
    start_max_ns: int | None = None
    duration_min_ns: int | None = None
    duration_max_ns: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    limit: int = 20


def _resource_keys_matching(conn: sqlite3.Connection, key: str, value: str) -> list[str]:
    condition, params = attribute_match("attributes", key, value, conn=conn)
    return [r[0] for r in conn.execute(f"SELECT resource_key FROM resources WHERE {condition}", params)]


# The tags Jaeger's UI model writes from a span's own fields (jaeger_model._fixed_tags), searchable under
# the names it shows them by; ``span.status``, ``scope.name`` and ``scope.version`` are older names of ours.
_SHOWN_FIXED_TAGS = frozenset(
    {
        "error",
        "span.kind",
        "otel.status_code",
        "otel.status_description",
        "otel.scope.name",
        "otel.scope.version",
        "w3c.tracestate",
    }
)
_STATUS_BY_TAG = {"OK": 1, "ERROR": 2}


def _fixed_tag_condition(key: str, value: str) -> tuple[str, list] | None:
    """The condition on a span's own columns for a tag Jaeger writes from them; None for any other key."""
    if key == "error":
        return ("s.status_code = 2" if value.lower() == "true" else "s.status_code <> 2"), []
    if key == "span.status":
        return "s.status_code = ?", [_STATUS_BY_NAME.get(value.lower(), -1)]
    if key == "otel.status_code":
        return "s.status_code = ?", [_STATUS_BY_TAG.get(value.upper(), -1)]
    if key == "span.kind":
        return "s.kind = ?", [_KIND_BY_NAME.get(value.lower(), -1)]
    column = _FIXED_TAG_COLUMNS.get(key)
    return None if column is None else (f"s.{column} = ?", [value])


_FIXED_TAG_COLUMNS = {
    "otel.scope.name": "scope_name",
    "scope.name": "scope_name",
    "otel.scope.version": "scope_version",
    "scope.version": "scope_version",
    "otel.status_description": "status_message",
    "w3c.tracestate": "trace_state",
}


def _attribute_condition(conn: sqlite3.Connection, key: str, value: str) -> tuple[str, list]:
    """A tag on the span's attributes, its resource's (``resource.<key>`` only there), its scope's or its
    events' and links'."""
    if key.startswith("resource."):
        keys = _resource_keys_matching(conn, key[len("resource.") :], value)
        return "s.resource_key IN (SELECT value FROM json_each(?))", [json.dumps(keys)]
    on_span, span_params = attribute_match("s.attributes", key, value, conn=conn)
    on_scope, scope_params = attribute_match("s.scope_attributes", key, value, conn=conn)
    on_event, event_params = attribute_match("json_extract(e.value, '$.attributes')", key, value, raw=False, conn=conn)
    on_link, link_params = attribute_match("json_extract(l.value, '$.attributes')", key, value, raw=False, conn=conn)
    needles = attribute_needles(key, value)
    if _BASE64.match(value) and value:
        needles.append(f'{_stored(key)}:{{"$bytes":{_stored(value)}}}')  # bytes on an event or a link
    in_events = " OR ".join("instr(s.events, ?) > 0" for _ in needles)
    in_links = " OR ".join("instr(s.links, ?) > 0" for _ in needles)
    sql = (
        f"(({on_span})"
        " OR s.resource_key IN (SELECT value FROM json_each(?))"
        f" OR (s.scope_attributes <> '{{}}' AND {on_scope})"
        f" OR (({in_events}) AND EXISTS (SELECT 1 FROM json_each(s.events) e WHERE {on_event}))"
        f" OR (({in_links}) AND EXISTS (SELECT 1 FROM json_each(s.links) l WHERE {on_link})))"
    )
    params = [*span_params, json.dumps(_resource_keys_matching(conn, key, value)), *scope_params]
    params += [*needles, *event_params, *needles, *link_params]
    return sql, params


def _span_conditions(conn: sqlite3.Connection, q: SpanSearch) -> tuple[list[str], list]:
    where: list[str] = []
    params: list = []
    if q.operation:
        where.append("s.name = ?")
        params.append(q.operation)
    if q.span_kind is not None:
        where.append("s.kind = ?")
        params.append(q.span_kind)
    if q.start_min_ns is not None:
        where.append("s.start_ns >= ?")
        params.append(q.start_min_ns)
    if q.start_max_ns is not None:
        where.append("s.start_ns <= ?")
        params.append(q.start_max_ns)
    if q.duration_min_ns:
        where.append("s.duration_ns >= ?")
        params.append(q.duration_min_ns)
    if q.duration_max_ns:
        where.append("s.duration_ns <= ?")
        params.append(q.duration_max_ns)
    for key, value in q.tags.items():
        fixed = _fixed_tag_condition(key, value)
        attribute, attribute_params = _attribute_condition(conn, key, value)
        if fixed is None:
            where.append(attribute)
            params.extend(attribute_params)
        elif key in _SHOWN_FIXED_TAGS:
            # A span attribute of the same name is shown too (Jaeger lists both): either matches.
            where.append(f"({fixed[0]} OR {attribute})")
            params.extend([*fixed[1], *attribute_params])
        else:
            where.append(fixed[0])
            params.extend(fixed[1])
    return where, params


_SPECIAL_TAGS = frozenset({"span.status", "scope.name", "scope.version", *_SHOWN_FIXED_TAGS})

# Past this many traces a value is common: walking spans newest first finds a page sooner.
_INDEXED_TRACES_LIMIT = 1000


def _indexed_trace_ids(conn: sqlite3.Connection, tags: dict[str, str], *, resources: bool = False) -> list[str] | None:
    """Every trace that can match, from trace_attributes for the rarest tag it answers; None to walk spans instead.

    With ``resources`` a tag also matches on a resource's attributes, which the table does not
    hold: a tag that does is not used.
    """
    best = None
    for key, value in tags.items():
        if (
            key in _SPECIAL_TAGS
            or key.startswith("resource.")
            or _structured_value(value) is not None
            or not attribute_index.can_answer(key, _candidates(value))
        ):
            continue
        if resources and _resource_keys_matching(conn, key, value):
            continue
        ids = attribute_index.trace_ids(conn, key, value, _INDEXED_TRACES_LIMIT)
        if ids is not None and (best is None or len(ids) < len(best)):
            best = ids
    return best


def _traces_source(candidates: list[str] | None) -> tuple[str, list]:
    """The FROM clause over ``traces t``: only the candidate traces when the attribute index named them
    (a rare value: its few traces are read, then sorted), else the whole table."""
    if candidates is None:
        return "traces t", []
    return "json_each(?) c CROSS JOIN traces t ON t.trace_id = c.value", [json.dumps(candidates)]


def find_trace_ids(conn: sqlite3.Connection, q: SpanSearch) -> list[str]:
    """Ids of the newest traces (by matching span, or by trace start without a service) that match."""
    where, params = _span_conditions(conn, q)
    candidates = _indexed_trace_ids(conn, q.tags, resources=True)
    if q.service and candidates is not None:
        # The spans of the candidate traces only, newest matching span first. The index is the
        # UNIQUE (trace_id, span_id) one: left to itself SQLite walks the service's spans instead.
        sql = (
            "SELECT s.trace_id FROM json_each(?) c CROSS JOIN spans s INDEXED BY sqlite_autoindex_spans_1"
            " ON s.trace_id = c.value WHERE s.service_name = ?"
        )
        if where:
            sql += " AND " + " AND ".join(where)
        sql += " GROUP BY s.trace_id ORDER BY max(s.start_ns) DESC LIMIT ?"
        return [r[0] for r in conn.execute(sql, [json.dumps(candidates), q.service, *params, q.limit])]
    if q.service:
        # Walk the service's spans newest first and stop at `limit` distinct traces.
        sql = "SELECT s.trace_id FROM spans s INDEXED BY spans_service_start WHERE s.service_name = ?"
        if where:
            sql += " AND " + " AND ".join(where)
        sql += " ORDER BY s.start_ns DESC"
        found: dict[str, None] = {}
        cur = conn.execute(sql, [q.service, *params])
        while len(found) < q.limit:
            rows = cur.fetchmany(256)
            if not rows:
                break
            for (trace_id,) in rows:
                found.setdefault(trace_id)
                if len(found) >= q.limit:
                    break
        cur.close()
        return list(found)
    trace_where, trace_params = [], []
    if q.start_min_ns is not None:
        trace_where.append("t.end_ns >= ?")
        trace_params.append(q.start_min_ns)
    if q.start_max_ns is not None:
        trace_where.append("t.start_ns <= ?")
        trace_params.append(q.start_max_ns)
    if where:
        trace_where.append(
            "EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = t.trace_id AND " + " AND ".join(where) + ")"
        )
        trace_params.extend(params)
    source, source_params = _traces_source(candidates)
    sql = f"SELECT t.trace_id FROM {source}"
    trace_params[:0] = source_params
    if trace_where:
        sql += " WHERE " + " AND ".join(trace_where)
    sql += " ORDER BY t.start_ns DESC, t.trace_id DESC LIMIT ?"
    return [r[0] for r in conn.execute(sql, [*trace_params, q.limit])]


def get_trace_summaries(conn: sqlite3.Connection, trace_ids: list[str]) -> list[sqlite3.Row]:
    """Summary rows of the given traces, in the order asked."""
    if not trace_ids:
        return []
    rows = {
        r["trace_id"]: r
        for r in conn.execute(
            "SELECT * FROM traces WHERE trace_id IN (SELECT value FROM json_each(?))", (json.dumps(trace_ids),)
        )
    }
    return [rows[t] for t in trace_ids if t in rows]


def service_span_stats(conn: sqlite3.Connection, trace_id: str) -> list[tuple[str, int, int]]:
    """(service, spans, error spans) of one trace, sorted by service name."""
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT service_name, count(*), sum(status_code = 2) FROM spans WHERE trace_id = ?"
            " GROUP BY service_name ORDER BY service_name",
            (trace_id,),
        )
    ]


def orphan_span_count(conn: sqlite3.Connection, trace_id: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM spans c WHERE c.trace_id = ?1 AND c.parent_span_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = ?1 AND p.span_id = c.parent_span_id)",
        (trace_id,),
    ).fetchone()[0]


def services(conn: sqlite3.Connection) -> list[str]:
    """Names of the services that sent spans, sorted."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT r.service_name FROM resources r WHERE EXISTS"
            " (SELECT 1 FROM spans s WHERE s.service_name = r.service_name) ORDER BY 1"
        )
    ]


def operations(conn: sqlite3.Connection, service: str | None, span_kind: int | None = None) -> list[tuple[str, int]]:
    """(span name, OTLP kind) pairs, sorted; for one service or all."""
    where, params = [], []
    if service:
        where.append("service_name = ?")
        params.append(service)
    if span_kind is not None:
        where.append("kind = ?")
        params.append(span_kind)
    sql = "SELECT DISTINCT name, kind FROM spans"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [(r[0], r[1]) for r in conn.execute(sql + " ORDER BY name, kind", params)]


def dependencies(conn: sqlite3.Connection, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
    """(parent service, child service, calls) for parent/child spans in different services."""
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT p.service_name, c.service_name, count(*) FROM spans c"
            " JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id"
            " WHERE c.start_ns BETWEEN ? AND ? AND p.service_name <> c.service_name"
            " GROUP BY 1, 2 ORDER BY 1, 2",
            (start_ns, end_ns),
        )
    ]


# --- aggregates over a time window ----------------------------------------------------------------

_WINDOW_COLUMNS = (
    "trace_id, span_id, parent_span_id, name, kind, start_ns, duration_ns, status_code, operation,"
    " agent_name, provider, request_model, input_tokens, output_tokens, service_name"
)


def spans_in_window(conn: sqlite3.Connection, since_ns: int, until_ns: int) -> Iterator[sqlite3.Row]:
    """Spans that started in [since, until], with the columns the aggregates need plus tool and cost."""
    return conn.execute(
        f"SELECT {_WINDOW_COLUMNS},"
        " CASE WHEN operation = 'execute_tool' THEN json_extract(attributes, '$.\"gen_ai.tool.name\"') END AS tool_name,"
        " CASE WHEN operation = 'execute_tool' THEN json_extract(attributes, '$.\"gen_ai.agent.handoff.target.name\"') END AS handoff_target,"
        " CASE WHEN request_model IS NOT NULL THEN json_extract(attributes, '$.\"telemetron.llm.cost.usd\"') END AS cost_usd"
        " FROM spans INDEXED BY spans_start WHERE start_ns BETWEEN ? AND ?",
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
            "SELECT service_name, name, start_ns, duration_ns, status_code FROM spans"
            " WHERE service_name IN (SELECT value FROM json_each(?)) AND kind IN (SELECT value FROM json_each(?))"
            " AND start_ns > ? AND start_ns <= ? ORDER BY start_ns",
            (json.dumps(list(services)), json.dumps(list(kinds)), since_ns, until_ns),
        )
    ]


def llm_spans(conn: sqlite3.Connection, since_ns: int, until_ns: int) -> list[sqlite3.Row]:
    """LLM calls (spans with a request model) that started in [since, until], with usage, cost and the
    rate-limit headroom their provider reported: the input of the dashboard's LLM charts."""
    ratelimit = "telemetron.llm.ratelimit"
    return conn.execute(
        "SELECT request_model, provider, start_ns, duration_ns, status_code, error_type, input_tokens, output_tokens,"
        " json_extract(attributes, '$.\"telemetron.llm.cost.usd\"') AS cost_usd,"
        f" json_extract(attributes, '$.\"{ratelimit}.tokens.remaining\"') AS tokens_remaining,"
        f" json_extract(attributes, '$.\"{ratelimit}.requests.remaining\"') AS requests_remaining"
        " FROM spans INDEXED BY spans_start WHERE start_ns BETWEEN ? AND ? AND request_model IS NOT NULL",
        (since_ns, until_ns),
    ).fetchall()
