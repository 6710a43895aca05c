"""How SQLite holds a span: one span_rows row of bytes and numbers, read back through the spans view.

A span's ids are stored as their bytes (16 and 8, instead of 32 and 16 hex characters, in the row and
again in its (trace, span) key), its end as its duration, and what many spans repeat (service, span
name, kind, the gen_ai.* operation, agent, provider and models) as the number of a span_shapes row, the
service alone as a span_services number (for the (service_id, start_ns) index), the resource and scope as
a span_sources number (span_sources.py). The spans view (schema.sql) gives them
back as plain values. Reads look a span up by id through ``trace = telemetron_id(?)``: the view's hex
``trace_id`` is computed per row and cannot use the key.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

import orjson

from ..model import SpanRecord
from .numbers import Numbers, Value

log = logging.getLogger(__name__)

ID_FUNCTION = "telemetron_id"

ROW_COLUMNS = (
    "trace",
    "span",
    "parent",
    "shape_id",
    "service_id",
    "start_ns",
    "duration_ns",
    "status_code",
    "status_message",
    "input_tokens",
    "output_tokens",
    "conversation_id",
    "error_type",
    "attributes",
    "events",
    "links",
    "trace_state",
    "flags",
    "dropped_counts",
    "received_ns",
    "scope_attributes",
    "source_id",
)
INSERT = f"INSERT OR IGNORE INTO span_rows ({', '.join(ROW_COLUMNS)}) VALUES"

SHAPE_COLUMNS = (
    "service_name",
    "name",
    "kind",
    "operation",
    "agent_name",
    "provider",
    "request_model",
    "response_model",
)
_NULLABLE = SHAPE_COLUMNS[3:]


def id_bytes(hex_id: str | bytes | None) -> bytes | None:
    """A hex id's bytes, as span_rows holds it; None for NULL and for text that is not hex."""
    if hex_id is None or isinstance(hex_id, bytes):
        return hex_id
    try:
        return bytes.fromhex(hex_id)
    except ValueError:
        return None


def register(conn: sqlite3.Connection) -> None:
    """Let SQL on ``conn`` turn a hex id into the bytes span_rows holds: ``telemetron_id(?)``."""
    conn.create_function(ID_FUNCTION, 1, id_bytes, deterministic=True)


def shapes(conn: sqlite3.Connection) -> Numbers:
    """The writer's numbers of the span shapes (``row`` takes one)."""
    return Numbers(conn, "span_shapes", "shape_id", SHAPE_COLUMNS, nullable=_NULLABLE)


def services(conn: sqlite3.Connection) -> Numbers:
    """The writer's numbers of the service names (``row`` takes one)."""
    return Numbers(conn, "span_services", "service_id", ("service_name",))


def service_ids(
    numbers: Numbers, conn: sqlite3.Connection, spans: list[SpanRecord]
) -> tuple[list[int], dict[Value, int]]:
    """Each span's service number, numbering new ones in the open transaction; and those, for ``committed``."""
    return numbers.ids(conn, (s.resource.service_name for s in spans))


def shape_ids(
    numbers: Numbers, conn: sqlite3.Connection, spans: list[SpanRecord]
) -> tuple[list[int], dict[Value, int]]:
    """Each span's shape number, numbering new shapes in the open transaction; and those, for ``committed``."""
    return numbers.ids(
        conn,
        (
            (
                s.resource.service_name,
                s.name,
                s.kind,
                s.operation,
                s.agent_name,
                s.provider,
                s.request_model,
                s.response_model,
            )
            for s in spans
        ),
    )


def row(
    s: SpanRecord,
    received_ns: int,
    encode: Callable[[object], bytes],
    shape_id: int,
    service_id: int,
    source_id: int,
    attributes: bytes | str,
) -> tuple:
    """A span's span_rows row in ``ROW_COLUMNS`` order, its ``attributes`` already encoded."""
    parent = s.parent_span_id
    return (
        bytes.fromhex(s.trace_id),
        bytes.fromhex(s.span_id),
        bytes.fromhex(parent) if parent is not None else None,
        shape_id,
        service_id,
        s.start_ns,
        s.end_ns - s.start_ns,
        s.status_code,
        s.status_message,
        s.input_tokens,
        s.output_tokens,
        s.conversation_id,
        s.error_type,
        attributes,
        encode(s.events) if s.events else "",
        encode(s.links) if s.links else "",
        s.trace_state,
        s.flags,
        "" if s.dropped == (0, 0, 0) else orjson.dumps(list(s.dropped)).decode(),
        received_ns,
        encode(s.scope_attributes) if s.scope_attributes else "",
        source_id,
    )


# An older store's spans table (hex ids, names, resource and scope strings in each row) into span_rows,
# rowids kept (document_dictionaries counts spans by rowid). Its resource and scope strings and its
# shapes are numbered first; an id that is somehow not hex is kept as its text's bytes.
_OLDER = (
    "INSERT OR IGNORE INTO span_sources (resource_key, scope_name, scope_version)"
    " SELECT DISTINCT resource_key, scope_name, scope_version FROM spans WHERE source_id IS NULL",
    f"INSERT OR IGNORE INTO span_shapes ({', '.join(SHAPE_COLUMNS)}) SELECT DISTINCT {', '.join(SHAPE_COLUMNS)} FROM spans",
    "INSERT OR IGNORE INTO span_services (service_name) SELECT DISTINCT service_name FROM spans",
    f"""INSERT INTO span_rows (rowid, {", ".join(ROW_COLUMNS)})
SELECT s.rowid, coalesce({ID_FUNCTION}(s.trace_id), CAST(s.trace_id AS BLOB)),
       coalesce({ID_FUNCTION}(s.span_id), CAST(s.span_id AS BLOB)),
       coalesce({ID_FUNCTION}(s.parent_span_id), CAST(s.parent_span_id AS BLOB)),
       (SELECT h.shape_id FROM span_shapes h WHERE h.service_name = s.service_name AND h.name = s.name
          AND h.kind = s.kind {"".join(f" AND ifnull(h.{c}, x'00') = ifnull(s.{c}, x'00')" for c in _NULLABLE)}),
       (SELECT n.service_id FROM span_services n WHERE n.service_name = s.service_name),
       s.start_ns, s.end_ns - s.start_ns, s.status_code, s.status_message, s.input_tokens, s.output_tokens,
       s.conversation_id, s.error_type, s.attributes, s.events, s.links, s.trace_state, s.flags, s.dropped_counts,
       s.received_ns, s.scope_attributes,
       coalesce(s.source_id, (SELECT v.source_id FROM span_sources v WHERE v.resource_key = s.resource_key
          AND v.scope_name = s.scope_name AND v.scope_version = s.scope_version))
FROM spans s ORDER BY s.rowid""",
    "DROP TABLE spans",
)


def is_older(conn: sqlite3.Connection) -> bool:
    """Whether the store's spans are still an older version's table."""
    found = conn.execute("SELECT type FROM sqlite_master WHERE name = 'spans'").fetchone()
    return found is not None and found[0] == "table"


def rebuild_older(conn: sqlite3.Connection, view: str) -> None:
    """Move an older store's spans table into span_rows and put the ``view`` (its CREATE VIEW) in its place,
    in one transaction: a crash leaves the older table as it was, and the next start does it again. A store
    another process moved first is left as it is."""
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    try:
        if is_older(conn):
            count = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
            log.info("moving %d spans into the current layout (once, in one transaction)", count)
            for statement in _OLDER:
                conn.execute(statement)
            conn.execute(view)
            log.info("spans moved in %.1f s", time.perf_counter() - started)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
