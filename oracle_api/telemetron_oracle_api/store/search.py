"""Trace search for every API: REST's trace filter, and Jaeger's span search (v1 and api_v3).

Searches walk an index newest first and stop as soon as they have a page, so their cost follows
the page size rather than the size of the store (see bench/bench_queries.py). A search by a rare
attribute value, which such a walk would carry through the whole store, reads the few traces the
attribute index (attribute_hashes) names instead (store/attribute_index.py).
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from ..formats import SPAN_KINDS, compact_json, go_json, go_json_text
from . import attribute_index, span_documents, trace_summaries

# --- attribute matching ---------------------------------------------------------------------------

_INT = re.compile(r"^[+-]?\d+$")


def json_path(key: str) -> str:
    """A JSON path selecting one top-level attribute whose name contains dots."""
    return '$."' + key.replace('"', '\\"') + '"'


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


def _spellings(value: object) -> set[str]:
    """How stored JSON text spells ``value``: the writer's orjson writes 1e-7 where json (older rows) wrote 1e-07."""
    return {compact_json(value), orjson.dumps(value).decode()}


def attribute_needles(key: str, value: str) -> list[str]:
    """``"key":value`` as the stored JSON text spells it, for each candidate type of the value."""
    return [compact_json(key) + ":" + spelled for c in _candidates(value) for spelled in sorted(_spellings(c))]


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
        needles.append(f'{compact_json(key)}:{{"$bytes":{compact_json(value)}}}')
    if conn is not None and _structured_value(value) is not None:
        function = _go_json_function(conn)
        sql += (
            f" OR (json_type({json_column}, ?) IN ('array', 'object')"
            f" AND {function}(json_extract({json_column}, ?)) = ?)"
        )
        params += [path, path, _go_json_text_of(value)]
        needles.append(f"{compact_json(key)}:{value[0]}")
    sql = f"({sql})"
    if raw:
        prefilter = " OR ".join(f"instr({json_column}, ?) > 0" for _ in needles)
        return f"({prefilter}) AND {sql}", [*needles, *params]
    return sql, params


def _go_json_text_of(value: str) -> str:
    """A structured query value rewritten as Jaeger writes it (keys sorted, compact), so spacing does not matter."""
    return go_json(_structured_value(value))


# A span's stored documents as JSON text, whichever form they are stored in (span_documents.py).
_SPAN_ATTRIBUTES = span_documents.sql("s.attributes")
_SCOPE_ATTRIBUTES = span_documents.sql("s.scope_attributes")
_HAS_SCOPE_ATTRIBUTES = span_documents.not_empty("s.scope_attributes")
_RESOURCE_KEY = "s.resource_key"
_EVENTS = span_documents.sql("s.events")
_LINKS = span_documents.sql("s.links")


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


class _Where:
    """SQL conditions joined by AND, with their parameters in order."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list = []

    def add(self, condition: str, *params: object) -> None:
        self.conditions.append(condition)
        self.params.extend(params)

    def sql(self, joiner: str = " WHERE ") -> str:
        return joiner + " AND ".join(self.conditions) if self.conditions else ""


def _overlapping(where: _Where, start_ns: int | None, end_ns: int | None) -> None:
    """Traces (``t``) that overlap [start, end]: what both APIs' time windows select."""
    if start_ns is not None:
        where.add("t.end_ns >= ?", start_ns)
    if end_ns is not None:
        where.add("t.start_ns <= ?", end_ns)


# A trace summary row's columns as the APIs return them (not its trace_no).
_SUMMARY_COLUMNS = ", ".join(f"t.{column}" for column in trace_summaries.COLUMNS.split(", "))


def _newest_traces(conn: sqlite3.Connection, where: _Where, candidates: list[str] | None, limit: int) -> list:
    """The newest trace summary rows that meet ``where``, among the candidate traces when the attribute
    index named them (a rare value: its few traces are read, then sorted), else walking ``traces_start_id``."""
    if candidates is None:
        source, params = "traces t", []
    else:
        source, params = "json_each(?) c CROSS JOIN traces t ON t.trace_id = c.value", [json.dumps(candidates)]
    sql = f"SELECT {_SUMMARY_COLUMNS} FROM {source}{where.sql()} ORDER BY t.start_ns DESC, t.trace_id DESC LIMIT ?"
    return conn.execute(sql, [*params, *where.params, limit]).fetchall()


def list_traces(
    conn: sqlite3.Connection, f: TraceFilter, *, limit: int = 20, cursor: str | None = None
) -> tuple[list[dict], str | None]:
    """Trace summary rows, newest first, keyset-paged: pass the returned cursor to get the next page.

    Each span condition may hold on a different span of the trace (an agent span and an LLM
    span of the same run). Conditions are correlated ``EXISTS`` lookups on the trace's own spans,
    so the walk down ``traces_start_id`` stops once a page is full; a conversation id or a rare
    attribute value reads the few traces the attribute index names instead.
    """
    where = _Where()
    _overlapping(where, f.start_ns, f.end_ns)
    if f.status == "error":
        where.add("t.error_count > 0")
    elif f.status == "ok":
        where.add("t.error_count = 0")
    if f.min_duration_ns is not None:
        where.add("t.end_ns - t.start_ns >= ?", f.min_duration_ns)
    if f.max_duration_ns is not None:
        where.add("t.end_ns - t.start_ns <= ?", f.max_duration_ns)
    if f.service is not None:
        # The summary row lists the trace's services: no need to visit its spans.
        where.add("EXISTS (SELECT 1 FROM json_each(t.services) j WHERE j.value = ?)", f.service)
    if f.conversation_id is not None:
        where.add(
            "EXISTS (SELECT 1 FROM spans c WHERE c.trace = telemetron_id(t.trace_id) AND c.conversation_id = ?)",
            f.conversation_id,
        )
    for column, value in (("agent_name", f.agent), ("request_model", f.model), ("operation", f.operation)):
        if value is not None:
            where.add(
                f"EXISTS (SELECT 1 FROM spans s WHERE s.trace = telemetron_id(t.trace_id) AND s.{column} = ?)", value
            )
    for key, value in (f.attributes or {}).items():
        on_span, span_values = attribute_match(_SPAN_ATTRIBUTES, key, value)
        on_scope, scope_values = attribute_match(_SCOPE_ATTRIBUTES, key, value)
        where.add(
            "EXISTS (SELECT 1 FROM spans s WHERE s.trace = telemetron_id(t.trace_id)"
            f" AND (({on_span}) OR ({_HAS_SCOPE_ATTRIBUTES} AND {on_scope})))",
            *span_values,
            *scope_values,
        )
    if cursor:
        start_ns, trace_id = decode_cursor(cursor)
        where.add("(t.start_ns < ? OR (t.start_ns = ? AND t.trace_id < ?))", start_ns, start_ns, trace_id)
    candidates = _indexed_trace_ids(conn, f.attributes or {})
    if f.conversation_id is not None:
        in_conversation = _conversation_trace_ids(conn, f.conversation_id)
        if in_conversation is not None:
            candidates = in_conversation if candidates is None else sorted(set(candidates) & set(in_conversation))
    rows = _newest_traces(conn, where, candidates, limit + 1)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(last["start_ns"], last["trace_id"])
    return [dict(r) for r in rows[:limit]], next_cursor


# The attributes a span's conversation id comes from (receiver/normalize.py), the first one set.
_CONVERSATION_KEYS = ("gen_ai.conversation.id", "session.id")
_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf(inity)?|nan)\s*$", re.IGNORECASE)


def _conversation_trace_ids(conn: sqlite3.Connection, conversation_id: str) -> list[str] | None:
    """Every trace that can hold a span of this conversation, from the attribute index; None to walk traces.

    A conversation id is the text of a string attribute, which the index holds when it is short, or of a
    number, a bool, bytes or an array (Python's ``str`` of it), which it does not: an id that may be one of
    those, or a long one, is looked up on the spans of each trace walked instead.
    """
    if (
        len(conversation_id) > attribute_index.MAX_CHARS
        or conversation_id in ("True", "False")
        or conversation_id[:1] in ("{", "[")
        or _NUMBER.match(conversation_id)
    ):
        return None
    found: set[str] = set()
    for key in _CONVERSATION_KEYS:
        ids = attribute_index.trace_ids(conn, key, conversation_id, _INDEXED_TRACES_LIMIT)
        if ids is None:
            return None
        found.update(ids)
    return sorted(found)


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


def _span_column(column: str) -> str:
    return f"s.{column}"


def _fixed_tag_condition(
    key: str, value: str, column_sql: Callable[[str], str] = _span_column
) -> tuple[str, list] | None:
    """The condition on a span's own columns (``column_sql``) for a tag Jaeger writes from them; None for any other key."""
    if key == "error":
        return ("s.status_code = 2" if value.lower() == "true" else "s.status_code <> 2"), []
    if key == "span.status":
        return "s.status_code = ?", [_STATUS_BY_NAME.get(value.lower(), -1)]
    if key == "otel.status_code":
        return "s.status_code = ?", [_STATUS_BY_TAG.get(value.upper(), -1)]
    if key == "span.kind":
        return "s.kind = ?", [_KIND_BY_NAME.get(value.lower(), -1)]
    column = _FIXED_TAG_COLUMNS.get(key)
    return None if column is None else (f"{column_sql(column)} = ?", [value])


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
        return f"{_RESOURCE_KEY} IN (SELECT value FROM json_each(?))", [json.dumps(keys)]
    on_span, span_params = attribute_match(_SPAN_ATTRIBUTES, key, value, conn=conn)
    on_scope, scope_params = attribute_match(_SCOPE_ATTRIBUTES, key, value, conn=conn)
    on_event, event_params = attribute_match("json_extract(e.value, '$.attributes')", key, value, raw=False, conn=conn)
    on_link, link_params = attribute_match("json_extract(l.value, '$.attributes')", key, value, raw=False, conn=conn)
    needles = attribute_needles(key, value)
    if _BASE64.match(value) and value:
        needles.append(f'{compact_json(key)}:{{"$bytes":{compact_json(value)}}}')  # bytes on an event or a link
    in_events = " OR ".join(f"instr({_EVENTS}, ?) > 0" for _ in needles)
    in_links = " OR ".join(f"instr({_LINKS}, ?) > 0" for _ in needles)
    sql = (
        f"(({on_span})"
        f" OR {_RESOURCE_KEY} IN (SELECT value FROM json_each(?))"
        f" OR ({_HAS_SCOPE_ATTRIBUTES} AND {on_scope})"
        f" OR (({in_events}) AND EXISTS (SELECT 1 FROM json_each({_EVENTS}) e WHERE {on_event}))"
        f" OR (({in_links}) AND EXISTS (SELECT 1 FROM json_each({_LINKS}) l WHERE {on_link})))"
    )
    params = [*span_params, json.dumps(_resource_keys_matching(conn, key, value)), *scope_params]
    params += [*needles, *event_params, *needles, *link_params]
    return sql, params


def _span_conditions(conn: sqlite3.Connection, q: SpanSearch) -> _Where:
    """What one span (``s``) must meet, the service aside."""
    where = _Where()
    if q.operation:
        where.add("s.name = ?", q.operation)
    if q.span_kind is not None:
        where.add("s.kind = ?", q.span_kind)
    if q.start_min_ns is not None:
        where.add("s.start_ns >= ?", q.start_min_ns)
    if q.start_max_ns is not None:
        where.add("s.start_ns <= ?", q.start_max_ns)
    if q.duration_min_ns:
        where.add("s.duration_ns >= ?", q.duration_min_ns)
    if q.duration_max_ns:
        where.add("s.duration_ns <= ?", q.duration_max_ns)
    for key, value in q.tags.items():
        fixed = _fixed_tag_condition(key, value, _span_column)
        attribute, attribute_params = _attribute_condition(conn, key, value)
        if fixed is None:
            where.add(attribute, *attribute_params)
        elif key in _SHOWN_FIXED_TAGS:
            # A span attribute of the same name is shown too (Jaeger lists both): either matches.
            where.add(f"({fixed[0]} OR {attribute})", *fixed[1], *attribute_params)
        else:
            where.add(fixed[0], *fixed[1])
    return where


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


def find_trace_ids(conn: sqlite3.Connection, q: SpanSearch) -> list[str]:
    """Ids of the newest traces (by matching span, or by trace start without a service) that match."""
    where = _span_conditions(conn, q)
    candidates = _indexed_trace_ids(conn, q.tags, resources=True)
    if q.service and candidates is not None:
        # The spans of the candidate traces only, newest matching span first, found by their (trace, span)
        # key: the CROSS JOIN keeps SQLite from walking the service's spans instead.
        sql = (
            "SELECT s.trace_id FROM json_each(?) c CROSS JOIN spans s"
            f" ON s.trace = telemetron_id(c.value) WHERE s.service_name = ?{where.sql(' AND ')}"
            " GROUP BY s.trace ORDER BY max(s.start_ns) DESC LIMIT ?"
        )
        return [r[0] for r in conn.execute(sql, [json.dumps(candidates), q.service, *where.params, q.limit])]
    if q.service:
        # Walk the service's spans newest first and stop at `limit` distinct traces.
        sql = (
            "SELECT s.trace_id FROM spans s"
            " WHERE s.service_id = (SELECT service_id FROM span_services WHERE service_name = ?)"
            f"{where.sql(' AND ')} ORDER BY s.start_ns DESC"
        )
        found: dict[str, None] = {}
        cur = conn.execute(sql, [q.service, *where.params])
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
    traces = _Where()
    _overlapping(traces, q.start_min_ns, q.start_max_ns)
    if where.conditions:
        traces.add(
            f"EXISTS (SELECT 1 FROM spans s WHERE s.trace = telemetron_id(t.trace_id){where.sql(' AND ')})",
            *where.params,
        )
    return [r["trace_id"] for r in _newest_traces(conn, traces, candidates, q.limit)]
