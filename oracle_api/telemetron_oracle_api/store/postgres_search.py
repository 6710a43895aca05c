"""Trace search on PostgreSQL: ``search.py``'s filters and answers, in PostgreSQL's SQL.

The query objects, cursors and the meaning of a tag are ``search.py``'s; only the SQL differs.
Stored attributes are JSON text: a substring test on ``"key":value`` (``strpos``) rules out
almost every row before the few left are parsed (``::jsonb``) for the exact, typed comparison.
"""

from __future__ import annotations

import json

import psycopg
from psycopg.rows import dict_row

from ..formats import compact_json
from . import search
from .search import SpanSearch, TraceFilter

_INDEXED_TRACES_LIMIT = 1000

# The spans of trace ``t``. Its spans all start within [t.start_ns, t.end_ns]: saying so lets
# PostgreSQL skip, at run time, the time partitions that cannot hold them, instead of probing
# the trace id index of every partition for each trace a search walks. Each EXISTS on them ends
# in OFFSET 0, which keeps it a per-trace check: as a semi-join, PostgreSQL would read every
# matching span of the store before sorting, instead of walking traces newest first and
# stopping at a full page (it cannot tell how common an attribute value is).
_OF_TRACE = "s.trace_id = t.trace_id AND s.start_ns >= t.start_ns AND s.start_ns <= t.end_ns"


class _Where:
    """SQL conditions joined by AND, with their parameters in order (``%s`` placeholders)."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list = []

    def add(self, condition: str, *params: object) -> None:
        self.conditions.append(condition)
        self.params.extend(params)

    def sql(self, joiner: str = " WHERE ") -> str:
        return joiner + " AND ".join(self.conditions) if self.conditions else ""


def _needles(key: str, value: str) -> list[str]:
    needles = search.attribute_needles(key, value)
    if search._BASE64.match(value) and value:
        needles.append(f'{compact_json(key)}:{{"$bytes":{compact_json(value)}}}')
    if search._structured_value(value) is not None:
        needles.append(f"{compact_json(key)}:{value[0]}")
    return needles


def _exact(document: str, key: str, value: str) -> tuple[str, list]:
    """SQL true when the jsonb ``document`` has ``key`` whose value, as Jaeger shows it as text, is ``value``."""
    candidates = search._candidates(value)
    found = f"({document} -> %s)"
    sql, params = f"{found} = ANY(%s::jsonb[])", [key, [json.dumps(c) for c in candidates]]
    if search._BASE64.match(value) and value:
        sql += f" OR ({document} -> %s -> '$bytes') = to_jsonb(%s::text)"
        params += [key, value]
    structured = search._structured_value(value)
    if structured is not None:
        sql += f" OR {found} = %s::jsonb"
        params += [key, json.dumps(structured)]
    return f"({sql})", params


def attribute_match(column: str, key: str, value: str) -> tuple[str, list]:
    """On a stored JSON text column: the substring prefilter, then the exact typed match."""
    needles = _needles(key, value)
    prefilter = " OR ".join(f"strpos({column}, %s) > 0" for _ in needles)
    exact, params = _exact(f"{column}::jsonb", key, value)
    return f"(({prefilter}) AND {exact})", [*needles, *params]


def _encode_cursor(start_ns: int, trace_id: str) -> str:
    return search._encode_cursor(start_ns, trace_id)


def _overlapping(where: _Where, start_ns: int | None, end_ns: int | None) -> None:
    if start_ns is not None:
        where.add("t.end_ns >= %s", start_ns)
    if end_ns is not None:
        where.add("t.start_ns <= %s", end_ns)


def _newest_traces(conn: psycopg.Connection, where: _Where, candidates: list[str] | None, limit: int) -> list[dict]:
    params: list = []
    if candidates is not None:
        where = _copy(where)
        where.add("t.trace_id = ANY(%s)", candidates)
    query = f"SELECT t.* FROM traces t{where.sql()} ORDER BY t.start_ns DESC, t.trace_id DESC LIMIT %s"
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, [*params, *where.params, limit]).fetchall()


def _copy(where: _Where) -> _Where:
    out = _Where()
    out.conditions, out.params = list(where.conditions), list(where.params)
    return out


def list_traces(
    conn: psycopg.Connection, f: TraceFilter, *, limit: int = 20, cursor: str | None = None
) -> tuple[list[dict], str | None]:
    """Trace summary rows, newest first, keyset-paged (``search.list_traces``'s answers)."""
    where = _Where()
    _overlapping(where, f.start_ns, f.end_ns)
    if f.status == "error":
        where.add("t.error_count > 0")
    elif f.status == "ok":
        where.add("t.error_count = 0")
    if f.min_duration_ns is not None:
        where.add("t.end_ns - t.start_ns >= %s", f.min_duration_ns)
    if f.max_duration_ns is not None:
        where.add("t.end_ns - t.start_ns <= %s", f.max_duration_ns)
    if f.service is not None:
        where.add("t.services::jsonb ? %s", f.service)
    if f.conversation_id is not None:
        where.add("t.trace_id IN (SELECT c.trace_id FROM spans c WHERE c.conversation_id = %s)", f.conversation_id)
    for column, value in (("agent_name", f.agent), ("request_model", f.model), ("operation", f.operation)):
        if value is not None:
            where.add(f"EXISTS (SELECT 1 FROM spans s WHERE {_OF_TRACE} AND s.{column} = %s OFFSET 0)", value)
    for key, value in (f.attributes or {}).items():
        on_span, span_values = attribute_match("s.attributes", key, value)
        on_scope, scope_values = attribute_match("s.scope_attributes", key, value)
        where.add(
            f"EXISTS (SELECT 1 FROM spans s WHERE {_OF_TRACE}"
            f" AND ({on_span} OR (s.scope_attributes <> '{{}}' AND {on_scope})) OFFSET 0)",
            *span_values,
            *scope_values,
        )
    if cursor:
        start_ns, trace_id = search.decode_cursor(cursor)
        where.add("(t.start_ns < %s OR (t.start_ns = %s AND t.trace_id < %s))", start_ns, start_ns, trace_id)
    rows = _newest_traces(conn, where, _indexed_trace_ids(conn, f.attributes or {}), limit + 1)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(last["start_ns"], last["trace_id"])
    return rows[:limit], next_cursor


# --- Jaeger-style search: one span must match every condition -------------------------------------


def _resource_keys_matching(conn: psycopg.Connection, key: str, value: str) -> list[str]:
    condition, params = attribute_match("attributes", key, value)
    return [r[0] for r in conn.execute(f"SELECT resource_key FROM resources WHERE {condition}", params)]


def _attribute_condition(conn: psycopg.Connection, key: str, value: str) -> tuple[str, list]:
    if key.startswith("resource."):
        return "s.resource_key = ANY(%s)", [_resource_keys_matching(conn, key[len("resource.") :], value)]
    on_span, span_params = attribute_match("s.attributes", key, value)
    on_scope, scope_params = attribute_match("s.scope_attributes", key, value)
    on_event, event_params = _exact("(e -> 'attributes')", key, value)
    on_link, link_params = _exact("(l -> 'attributes')", key, value)
    needles = _needles(key, value)
    in_events = " OR ".join("strpos(s.events, %s) > 0" for _ in needles)
    in_links = " OR ".join("strpos(s.links, %s) > 0" for _ in needles)
    query = (
        f"({on_span}"
        " OR s.resource_key = ANY(%s)"
        f" OR (s.scope_attributes <> '{{}}' AND {on_scope})"
        f" OR (({in_events}) AND EXISTS (SELECT 1 FROM jsonb_array_elements(s.events::jsonb) e WHERE {on_event}))"
        f" OR (({in_links}) AND EXISTS (SELECT 1 FROM jsonb_array_elements(s.links::jsonb) l WHERE {on_link})))"
    )
    params = [*span_params, _resource_keys_matching(conn, key, value), *scope_params]
    params += [*needles, *event_params, *needles, *link_params]
    return query, params


def _span_conditions(conn: psycopg.Connection, q: SpanSearch) -> _Where:
    where = _Where()
    if q.operation:
        where.add("s.name = %s", q.operation)
    if q.span_kind is not None:
        where.add("s.kind = %s", q.span_kind)
    if q.start_min_ns is not None:
        where.add("s.start_ns >= %s", q.start_min_ns)
    if q.start_max_ns is not None:
        where.add("s.start_ns <= %s", q.start_max_ns)
    if q.duration_min_ns:
        where.add("s.duration_ns >= %s", q.duration_min_ns)
    if q.duration_max_ns:
        where.add("s.duration_ns <= %s", q.duration_max_ns)
    for key, value in q.tags.items():
        fixed = search._fixed_tag_condition(key, value)
        attribute, attribute_params = _attribute_condition(conn, key, value)
        if fixed is None:
            where.add(attribute, *attribute_params)
            continue
        fixed_sql = fixed[0].replace("?", "%s")
        if key in search._SHOWN_FIXED_TAGS:
            where.add(f"({fixed_sql} OR {attribute})", *fixed[1], *attribute_params)
        else:
            where.add(fixed_sql, *fixed[1])
    return where


def _indexed_trace_ids(conn: psycopg.Connection, tags: dict[str, str], *, resources: bool = False) -> list[str] | None:
    """Every trace that can match, from trace_attributes for the rarest tag it answers; None to walk spans."""
    best = None
    for key, value in tags.items():
        if (
            key in search._SPECIAL_TAGS
            or key.startswith("resource.")
            or search._structured_value(value) is not None
            or not search.attribute_index.can_answer(key, search._candidates(value))
        ):
            continue
        if resources and _resource_keys_matching(conn, key, value):
            continue
        found = [
            r[0]
            for r in conn.execute(
                "SELECT trace_id FROM trace_attributes WHERE key = %s AND value = %s LIMIT %s",
                (key, value, _INDEXED_TRACES_LIMIT + 1),
            )
        ]
        if len(found) <= _INDEXED_TRACES_LIMIT and (best is None or len(found) < len(best)):
            best = found
    return best


def find_trace_ids(conn: psycopg.Connection, q: SpanSearch) -> list[str]:
    """Ids of the newest traces (by matching span, or by trace start without a service) that match."""
    where = _span_conditions(conn, q)
    candidates = _indexed_trace_ids(conn, q.tags, resources=True)
    if q.service and candidates is not None:
        query = (
            "SELECT s.trace_id FROM spans s WHERE s.trace_id = ANY(%s) AND s.service_name = %s"
            f"{where.sql(' AND ')} GROUP BY s.trace_id ORDER BY max(s.start_ns) DESC LIMIT %s"
        )
        return [r[0] for r in conn.execute(query, [candidates, q.service, *where.params, q.limit])]
    if q.service:
        # Walk the service's spans newest first, reading more until `limit` distinct traces are found.
        query = (
            f"SELECT s.trace_id FROM spans s WHERE s.service_name = %s{where.sql(' AND ')}"
            " ORDER BY s.start_ns DESC LIMIT %s"
        )
        batch = 256
        while True:
            rows = conn.execute(query, [q.service, *where.params, batch]).fetchall()
            found: dict[str, None] = {}
            for (trace_id,) in rows:
                found.setdefault(trace_id)
                if len(found) >= q.limit:
                    return list(found)
            if len(rows) < batch:
                return list(found)
            batch *= 4
    traces = _Where()
    _overlapping(traces, q.start_min_ns, q.start_max_ns)
    if where.conditions:
        traces.add(f"EXISTS (SELECT 1 FROM spans s WHERE {_OF_TRACE}{where.sql(' AND ')} OFFSET 0)", *where.params)
    return [r["trace_id"] for r in _newest_traces(conn, traces, candidates, q.limit)]
