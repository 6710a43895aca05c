"""The operation list (Jaeger's operation picker) comes from the operations table, kept with each batch.

A store written before the table existed gets it filled on open; retention drops the operations
whose spans are all gone. Real SQLite files throughout.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from polling import wait_until
from records import as_older_layout, reopened, span_record, thread_writer
from telemetron_oracle_api.model import Decoded, Resource, SpanRecord
from telemetron_oracle_api.store.retention import RetentionPolicy
from telemetron_oracle_api.store.sqlite import Store

HOUR_NS = 3600 * 10**9
AGENTS = Resource(key="ra", service_name="agents", attributes={"service.name": "agents"})
TOOLS = Resource(key="rt", service_name="tools", attributes={"service.name": "tools"})


def span(trace: int, n: int, name: str, kind: int, resource: Resource, start_ns: int | None = None) -> SpanRecord:
    start = time.time_ns() if start_ns is None else start_ns
    return span_record(f"{trace:032x}", f"{trace * 100 + n + 1:016x}", start, name=name, kind=kind, resource=resource)


def spans_of_two_services() -> list[SpanRecord]:
    return [
        span(1, 0, "invoke_agent planner", 1, AGENTS),
        span(1, 1, "chat gpt-4o", 3, AGENTS),
        span(1, 2, "chat gpt-4o", 3, AGENTS),  # the same operation again
        span(2, 0, "execute_tool search", 1, TOOLS),
        span(2, 1, "chat gpt-4o", 2, TOOLS),  # the same name, another kind and service
    ]


def test_operations_are_listed_per_service_and_kind_and_for_all_services(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db")
    try:
        store.write(Decoded(spans=spans_of_two_services()[:3]))
        store.write(Decoded(spans=spans_of_two_services()[3:]))
        assert store.operations("agents") == [("chat gpt-4o", 3), ("invoke_agent planner", 1)]
        assert store.operations("tools") == [("chat gpt-4o", 2), ("execute_tool search", 1)]
        assert store.operations("agents", span_kind=3) == [("chat gpt-4o", 3)]
        assert store.operations(None) == [
            ("chat gpt-4o", 2),
            ("chat gpt-4o", 3),
            ("execute_tool search", 1),
            ("invoke_agent planner", 1),
        ]
        assert store.operations("nobody") == []
    finally:
        store.close()


def test_a_store_written_before_the_operations_table_gets_its_operations_on_open(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    store.write(Decoded(spans=spans_of_two_services()))
    before = store.operations(None)
    store.close()
    as_older_layout(path)
    with reopened(
        path, "DROP TABLE operations", "CREATE INDEX spans_service_operation ON spans (service_name, name, kind)"
    ) as again:
        assert again.operations(None) == before
        assert again.operations("tools") == [("chat gpt-4o", 2), ("execute_tool search", 1)]
    with sqlite3.connect(path) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "spans_service_operation" not in indexes


def test_retention_drops_the_operations_whose_spans_are_all_gone(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    three_hours_ago = time.time_ns() - 3 * HOUR_NS
    store = Store(path)
    store.write(
        Decoded(
            spans=[
                span(1, 0, "old operation", 1, AGENTS, three_hours_ago),
                span(1, 1, "kept operation", 1, AGENTS, three_hours_ago),
            ]
        )
    )
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE span_rows SET received_ns = received_ns - ?", (3 * HOUR_NS,))

    store = Store(path, retention=RetentionPolicy(max_age_s=3600, interval_s=0.05))
    try:
        store.write(Decoded(spans=[span(2, 0, "kept operation", 1, AGENTS), span(2, 1, "new operation", 1, TOOLS)]))
        wait_until(lambda: thread_writer(store).retention.stats.passes >= 1, what="a retention pass")
        assert thread_writer(store).retention.stats.traces == 1
        assert store.operations("agents") == [("kept operation", 1)]
        assert store.operations(None) == [("kept operation", 1), ("new operation", 1)]
    finally:
        store.close()
