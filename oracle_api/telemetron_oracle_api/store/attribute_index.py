"""The attribute index: which traces carry an attribute value, so a search for a rare value
reads a few traces instead of every span of a service.

In SQLite it is the attribute_hashes table: each key numbered once in attribute_keys, each value as a
64-bit hash of its text (``value_hash``), the trace as its number in traces (``trace_no``). Most indexed
values are unique per span or trace (response ids, conversation ids), so rows are many and kept short:
8 bytes of hash and a trace number of 1-4 bytes instead of the value's text and the 16-byte trace id.
Two values of a key that collide only make a search read one more trace, whose spans it then checks.
Retention deletes a trace's rows with it; a trace number is never given again (AUTOINCREMENT), so a row
left behind could only name no trace, which the lookup's join drops. PostgreSQL keeps its
trace_attributes table of (key, value, trace id) as ``rows`` gives them.

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
from collections.abc import Iterable, Mapping
from hashlib import blake2b

from ..model import SpanRecord
from . import span_documents
from .many_rows import insert_many
from .numbers import Numbers, Value

# Message contents and tool schemas: long, unique, never looked up by value.
UNINDEXED_KEYS = frozenset(
    {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions"}
)
MAX_CHARS = 128

_INSERT = "INSERT OR IGNORE INTO attribute_hashes (key_id, value_hash, trace_no) VALUES"
_DELETE = "DELETE FROM attribute_hashes WHERE key_id = ? AND value_hash = ? AND trace_no = ?"
_KEY_ID = "SELECT key_id FROM attribute_keys WHERE key = ?"


def value_hash(value: str) -> int:
    """The value as the table holds it: 8 bytes of BLAKE2b as a signed int64, the same in every process
    (Python's ``hash`` of a str changes with each start)."""
    digest = blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


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
    """SELECT key, value, trace_no: the rows ``rows`` makes, numbered, for the stored spans ``s`` matching
    ``spans_where`` (a span whose trace has no summary row has no number, and no rows)."""
    spans = "spans s CROSS JOIN traces t ON t.trace_id = s.trace_id"  # the spans first, by their own index
    return f"""
SELECT j.key, {_value("j")}, t.trace_no FROM {spans}, json_each({span_documents.sql("s.attributes")}) j
WHERE {spans_where} AND {_eligible("j")}
UNION ALL
SELECT j.key, {_value("j")}, t.trace_no FROM {spans}, json_each({span_documents.sql("s.scope_attributes")}) j
WHERE {spans_where} AND {span_documents.not_empty("s.scope_attributes")} AND {_eligible("j")}
UNION ALL
SELECT j.key, {_value("j")}, t.trace_no FROM {spans}, json_each({span_documents.sql("s.events")}) e, json_each(e.value, '$.attributes') j
WHERE {spans_where} AND {span_documents.not_empty("s.events")} AND {_eligible("j")}
UNION ALL
SELECT j.key, {_value("j")}, t.trace_no FROM {spans}, json_each({span_documents.sql("s.links")}) l, json_each(l.value, '$.attributes') j
WHERE {spans_where} AND {span_documents.not_empty("s.links")} AND {_eligible("j")}
"""


# The rows of the traces named in ?1 (a JSON array of trace ids), found before their spans are deleted
# and then deleted one by one by key (a DELETE ... WHERE trace_no IN (...) would scan the table).
_OF_TRACES = _indexed_values("s.trace IN (SELECT telemetron_id(value) FROM json_each(?1))").replace(
    "UNION ALL", "UNION"
)


class SqliteIndex:
    """The writer's side of the SQLite index: key numbers, kept in memory once committed."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._keys = Numbers(conn, "attribute_keys", "key_id", ("key",))

    def insert_spans(
        self, conn: sqlite3.Connection, spans: Iterable[SpanRecord], trace_nos: Mapping[str, int]
    ) -> dict[Value, int]:
        """Index newly stored spans in the open transaction, their traces numbered by ``trace_nos`` (trace id:
        trace_no); the keys it numbered, for ``committed``."""
        return self.insert(conn, [(key, value, trace_nos[trace_id]) for key, value, trace_id in rows(spans)])

    def insert(self, conn: sqlite3.Connection, rows: Iterable[tuple[str, str, int]]) -> dict[Value, int]:
        """Insert (key, value, trace_no) rows in the open transaction; the keys it numbered, for ``committed``."""
        keys = self._keys
        known = keys.known
        hashes: dict[str, int] = {}  # a batch repeats its models, agents and operations in every trace
        new: dict[Value, int] = {}
        stored = []
        for key, value, trace_no in rows:
            key_id = known.get(key) or keys.number(conn, key, new)
            hashed = hashes.get(value)
            if hashed is None:
                hashed = hashes[value] = value_hash(value)
            stored.append((key_id, hashed, trace_no))
        insert_many(conn, _INSERT, stored)
        return new

    def committed(self, new_keys: dict[Value, int]) -> None:
        """The transaction that numbered ``new_keys`` committed (a rolled-back one numbered nothing)."""
        self._keys.committed(new_keys)


def delete_traces(conn: sqlite3.Connection, trace_ids_json: str) -> None:
    """Delete the index rows of the traces in ``trace_ids_json`` (a JSON array), before their spans go."""
    key_ids: dict[str, int | None] = {}
    doomed = []
    for key, value, trace_no in conn.execute(_OF_TRACES, (trace_ids_json,)).fetchall():
        if key not in key_ids:
            found = conn.execute(_KEY_ID, (key,)).fetchone()
            key_ids[key] = found[0] if found else None
        key_id = key_ids[key]
        if key_id is not None:
            doomed.append((key_id, value_hash(value), trace_no))
    conn.executemany(_DELETE, doomed)


# The (key, value, trace_no) rows of the older forms of the index, by table name: trace_attributes of
# text only, then attribute_traces of numbered keys, texts and 16-byte trace ids. A row of a trace the
# store does not hold (no summary row, no number) names nothing a search could read, and is left out.
OLDER_TABLES = {
    "trace_attributes": "SELECT a.key, a.value, t.trace_no FROM trace_attributes a JOIN traces t USING (trace_id)",
    "attribute_traces": (
        "SELECT k.key, a.value, t.trace_no FROM attribute_traces a JOIN attribute_keys k USING (key_id)"
        " JOIN traces t ON t.trace_id = lower(hex(a.trace))"
    ),
}


def backfill(conn: sqlite3.Connection, older_table: str | None) -> None:
    """Fill the index of a store written before it (or before its current form), in the open transaction:
    from ``older_table`` (one of OLDER_TABLES, then dropped) if given, else from the spans."""
    source = OLDER_TABLES[older_table] if older_table else _indexed_values("1")
    index = SqliteIndex(conn)
    cursor = conn.execute(source)
    while chunk := cursor.fetchmany(50_000):
        index.committed(index.insert(conn, chunk))
    if older_table:
        conn.execute(f"DROP TABLE {older_table}")


def can_answer(key: str, candidates: list) -> bool:
    """Whether every typed value a search stands for (search._candidates) is one the table holds."""
    return key not in UNINDEXED_KEYS and all(c.__class__ is str and len(c) <= MAX_CHARS for c in candidates)


def trace_ids(conn: sqlite3.Connection, key: str, value: str, limit: int) -> list[str] | None:
    """Ids of the traces that may carry ``key`` = ``value`` (a hash collision adds a trace that does not, which
    the caller's check on its spans drops); None when there are more than ``limit`` (a common value)."""
    found = [
        r[0]
        for r in conn.execute(
            "SELECT t.trace_id FROM attribute_hashes a JOIN traces t USING (trace_no)"
            " WHERE a.key_id = (SELECT key_id FROM attribute_keys WHERE key = ?) AND a.value_hash = ? LIMIT ?",
            (key, value_hash(value), limit + 1),
        )
    ]
    return None if len(found) > limit else found
