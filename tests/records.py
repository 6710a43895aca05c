"""Decoded records for tests that write to the store directly, with the fields a test does not care about empty."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from telemetron_oracle_api.model import Decoded, Resource, SpanRecord
from telemetron_oracle_api.store.sqlite import Store

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
