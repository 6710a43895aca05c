"""The trace_attributes table: which traces carry an attribute value, so a search for a rare value
reads a few traces instead of every span of a service.

It holds the short strings (at most 128 characters) found in the attributes of spans, their
instrumentation scopes, their events and their links, one row per distinct (key, value) in a
trace; bytes values are held as their base64 text, the text Jaeger shows and searches them by. Numbers are left out:
token counts, costs and latencies are unique per span, and each unique value costs the writer a
random B-tree insert (indexing them too halved ingest throughput; strings alone cost ~10%).
A search the table cannot answer (a number, a bool, a long string, a message content key, a
key that matches a resource attribute) scans spans as before; every search still checks its
exact condition on the spans it reads, so the table only decides which spans are read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from ..model import SpanRecord
from . import span_documents

# Message contents and tool schemas: long, unique, never looked up by value.
UNINDEXED_KEYS = frozenset(
    {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions"}
)
MAX_CHARS = 128

INSERT = "INSERT OR IGNORE INTO trace_attributes (key, value, trace_id) VALUES (?,?,?)"


def rows(spans: Iterable[SpanRecord]) -> set[tuple[str, str, str]]:
    """(key, value, trace id) of every indexed value in the spans; a set, as a trace repeats most of them."""
    out: set[tuple[str, str, str]] = set()
    add = out.add
    for s in spans:
        trace_id = s.trace_id
        groups = [s.attributes]
        if s.scope_attributes:
            groups.append(s.scope_attributes)
        if s.events:
            groups.extend(e["attributes"] for e in s.events)
        if s.links:
            groups.extend(link["attributes"] for link in s.links)
        for attributes in groups:
            for key, value in attributes.items():
                if value.__class__ is str:
                    if len(value) <= MAX_CHARS and key not in UNINDEXED_KEYS:
                        add((key, value, trace_id))
                elif value.__class__ is dict and len(value) == 1 and "$bytes" in value:
                    if len(value["$bytes"]) <= MAX_CHARS:
                        add((key, value["$bytes"], trace_id))
    return out


def _eligible(j: str) -> str:
    unindexed = ", ".join(f"'{k}'" for k in sorted(UNINDEXED_KEYS))
    text = f"{j}.type = 'text' AND length({j}.value) <= {MAX_CHARS} AND {j}.key NOT IN ({unindexed})"
    as_bytes = f"{j}.type = 'object' AND json_type({j}.value, '$.\"$bytes\"') = 'text'"
    return f"(({text}) OR ({as_bytes} AND length(json_extract({j}.value, '$.\"$bytes\"')) <= {MAX_CHARS}))"


def _value(j: str) -> str:
    return f"CASE WHEN {j}.type = 'object' THEN json_extract({j}.value, '$.\"$bytes\"') ELSE {j}.value END"


def _indexed_values(spans_where: str) -> str:
    """SELECT key, value, trace_id: the rows ``rows`` makes, for the stored spans ``s`` matching ``spans_where``."""
    return f"""
SELECT j.key, {_value("j")}, s.trace_id FROM spans s, json_each({span_documents.sql("s.attributes")}) j
WHERE {spans_where} AND {_eligible("j")}
UNION ALL
SELECT j.key, {_value("j")}, s.trace_id FROM spans s, json_each({span_documents.sql("s.scope_attributes")}) j
WHERE {spans_where} AND s.scope_attributes <> '{{}}' AND {_eligible("j")}
UNION ALL
SELECT j.key, {_value("j")}, s.trace_id FROM spans s, json_each({span_documents.sql("s.events")}) e, json_each(e.value, '$.attributes') j
WHERE {spans_where} AND s.events <> '[]' AND {_eligible("j")}
UNION ALL
SELECT j.key, {_value("j")}, s.trace_id FROM spans s, json_each({span_documents.sql("s.links")}) l, json_each(l.value, '$.attributes') j
WHERE {spans_where} AND s.links <> '[]' AND {_eligible("j")}
"""


# The same rows as ``rows``, for spans stored before the table existed.
BACKFILL = f"INSERT OR IGNORE INTO trace_attributes (key, value, trace_id) {_indexed_values('1')}"

# The rows of the traces named in ?1 (a JSON array of trace ids), found before their spans are deleted
# and then deleted one by one by key (a DELETE ... WHERE (key, value, trace_id) IN (...) scans the table).
OF_TRACES = _indexed_values("s.trace_id IN (SELECT value FROM json_each(?1))").replace("UNION ALL", "UNION")
DELETE = "DELETE FROM trace_attributes WHERE key = ? AND value = ? AND trace_id = ?"


def can_answer(key: str, candidates: list) -> bool:
    """Whether every typed value a search stands for (search._candidates) is one the table holds."""
    return key not in UNINDEXED_KEYS and all(c.__class__ is str and len(c) <= MAX_CHARS for c in candidates)


def trace_ids(conn: sqlite3.Connection, key: str, value: str, limit: int) -> list[str] | None:
    """Ids of the traces carrying ``key`` = ``value``; None when there are more than ``limit`` (a common value)."""
    found = [
        r[0]
        for r in conn.execute(
            "SELECT trace_id FROM trace_attributes WHERE key = ? AND value = ? LIMIT ?", (key, value, limit + 1)
        )
    ]
    return None if len(found) > limit else found
