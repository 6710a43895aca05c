"""Decoded records for tests that write to the store directly, with the fields a test does not care about empty."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from telemetron_oracle_api.model import Decoded, Resource, SpanRecord
from telemetron_oracle_api.store.sqlite import Store
from telemetron_oracle_api.store.sqlite_writer import SqliteWriter
from telemetron_oracle_api.store.writer_process import WriterProcess

RESOURCE = Resource(key="r1", service_name="svc", attributes={"service.name": "svc"})


def span_record(
    trace_id: str,
    span_id: str,
    start_ns: int,
    *,
    duration_ns: int = 1000,
    name: str = "op",
    kind: int = 1,
    parent_span_id: str | None = None,
    attributes: dict | None = None,
    events: list | None = None,
    links: list | None = None,
    resource: Resource = RESOURCE,
    **fields: object,
) -> SpanRecord:
    """A span record; ``fields`` sets any other SpanRecord field (scope, status, ...)."""
    defaults: dict = {
        "status_code": 0,
        "status_message": "",
        "scope_name": "",
        "scope_version": "",
        "trace_state": "",
        "flags": 0,
        "dropped": (0, 0, 0),
    }
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        name=name,
        kind=kind,
        start_ns=start_ns,
        end_ns=start_ns + duration_ns,
        attributes=attributes if attributes is not None else {},
        events=events or [],
        links=links or [],
        resource=resource,
        **{**defaults, **fields},
    )


@contextmanager
def sqlite_store_with(path: Path, spans: list[SpanRecord]) -> Iterator[Store]:
    """A SQLite store at ``path`` holding ``spans`` (one write), closed afterwards."""
    store = Store(path)
    store.write(Decoded(spans=spans))
    try:
        yield store
    finally:
        store.close()


@contextmanager
def reopened(path: Path, *statements: str) -> Iterator[Store]:
    """The SQLite store at ``path`` opened again after ``statements`` ran on its file (as an older version
    left it), closed afterwards."""
    conn = sqlite3.connect(path)
    with conn:
        for sql in statements:
            conn.execute(sql)
    conn.close()
    store = Store(path)
    try:
        yield store
    finally:
        store.close()


# The spans table as versions before span_rows wrote it (hex ids, strings in every row).
_OLDER_SPANS = """
CREATE TABLE {name} (
    trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT, name TEXT NOT NULL, kind INTEGER NOT NULL,
    service_name TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, duration_ns INTEGER NOT NULL,
    status_code INTEGER NOT NULL, status_message TEXT NOT NULL, operation TEXT, agent_name TEXT, provider TEXT,
    request_model TEXT, response_model TEXT, input_tokens INTEGER, output_tokens INTEGER, conversation_id TEXT,
    error_type TEXT, attributes TEXT NOT NULL, events TEXT NOT NULL, links TEXT NOT NULL, resource_key TEXT NOT NULL,
    scope_name TEXT NOT NULL, scope_version TEXT NOT NULL, trace_state TEXT NOT NULL, flags INTEGER NOT NULL,
    dropped_counts TEXT NOT NULL, received_ns INTEGER NOT NULL{later}, UNIQUE (trace_id, span_id)
)"""
_LATER_COLUMNS = ", scope_attributes TEXT NOT NULL DEFAULT '{}', source_id INTEGER"


def older_spans_table(name: str = "spans", *, later_columns: bool = True) -> str:
    """CREATE TABLE of an older version's spans table; without ``later_columns``, as the versions before its
    scope_attributes and source_id columns made it."""
    return _OLDER_SPANS.format(name=name, later=_LATER_COLUMNS if later_columns else "")


_OLDER_COLUMNS = (
    "trace_id, span_id, parent_span_id, name, kind, service_name, start_ns, end_ns, duration_ns, status_code,"
    " status_message, operation, agent_name, provider, request_model, response_model, input_tokens, output_tokens,"
    " conversation_id, error_type, attributes, events, links"
)
_OLDER_TAIL = "trace_state, flags, dropped_counts, received_ns, scope_attributes, source_id"


def as_older_layout(path: Path) -> None:
    """Rewrite a closed store's spans as versions before span_rows held them: a spans table of hex ids and
    strings (resource key and scope '' beside their source number, as the last of those versions wrote)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(older_spans_table("older_spans"))
    conn.execute(
        f"INSERT INTO older_spans (rowid, {_OLDER_COLUMNS}, resource_key, scope_name, scope_version, {_OLDER_TAIL})"
        f" SELECT span_no, {_OLDER_COLUMNS}, '', '', '', {_OLDER_TAIL} FROM spans"
    )
    for statement in (
        "DROP VIEW spans",
        "DROP TABLE span_rows",
        "DROP TABLE span_shapes",
        "DROP TABLE span_services",
        "ALTER TABLE older_spans RENAME TO spans",
        "CREATE INDEX spans_service_start ON spans (service_name, start_ns)",
        "COMMIT",
    ):
        conn.execute(statement)
    conn.close()


def indexed(path: Path) -> set[tuple]:
    """(key, value hash, trace id) of every row of the SQLite store's attribute index at ``path``; None for a
    trace number no stored trace has."""
    with sqlite3.connect(path) as conn:
        return set(
            conn.execute(
                "SELECT k.key, a.value_hash, t.trace_id FROM attribute_hashes a JOIN attribute_keys k USING (key_id)"
                " LEFT JOIN traces t USING (trace_no)"
            )
        )


def thread_writer(store: Store) -> SqliteWriter:
    """The writer of a store that writes on its own thread (the default, ``writer_process=False``)."""
    assert isinstance(store.writer, SqliteWriter)
    return store.writer


def process_writer(store: Store) -> WriterProcess:
    """The writer of a store opened with ``writer_process=True``."""
    assert isinstance(store.writer, WriterProcess)
    return store.writer
