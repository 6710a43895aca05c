"""A span's resource key and scope are stored once per distinct source (span_sources), and rows written before,
holding the strings themselves, read and search the same.

Real SQLite files through the real Store writer; the older rows are made by rewriting stored ones as an older
version's spans table held them, which the store moves into its current layout when it opens the file again.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from records import as_older_layout, reopened, span_record, sqlite_store_with
from telemetron_oracle_api.model import Decoded, Resource, SpanRecord
from telemetron_oracle_api.store import span_layout
from telemetron_oracle_api.store.search import SpanSearch
from telemetron_oracle_api.store.sqlite import Store, connect

NOW = time.time_ns()
AGENTS = Resource(key="r-agents", service_name="agents", attributes={"service.name": "agents", "team": "blue"})
TOOLS = Resource(key="r-tools", service_name="tools", attributes={"service.name": "tools"})


def span(trace: int, n: int, resource: Resource, scope: tuple[str, str], **fields: Any) -> SpanRecord:
    return span_record(
        f"{trace:032x}",
        f"{trace * 100 + n:016x}",
        NOW - 3600 * 10**9 + trace * 10**9 + n * 10**6,
        parent_span_id=None if n == 0 else f"{trace * 100:016x}",
        attributes={"n": n},
        resource=resource,
        scope_name=scope[0],
        scope_version=scope[1],
        **fields,
    )


def spans(trace: int) -> list[SpanRecord]:
    return [
        span(trace, 0, AGENTS, ("openai-agents", "0.4")),
        span(trace, 1, TOOLS, ("openai-agents", "0.4")),
        span(trace, 2, TOOLS, ("httpx", "")),
    ]


def as_older_rows(path: Path, trace: int) -> None:
    """Rewrite a trace's rows as a store written before span_sources holds them."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE spans SET (resource_key, scope_name, scope_version, source_id) ="
            " (SELECT resource_key, scope_name, scope_version, NULL FROM span_sources src"
            "  WHERE src.source_id = spans.source_id) WHERE trace_id = ?",
            (f"{trace:032x}",),
        )


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "t.db")
    s.write(Decoded(spans=spans(1) + spans(2)))
    s.close()
    as_older_layout(s.path)
    as_older_rows(s.path, 1)
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def test_each_source_is_stored_once_and_spans_hold_its_number(store):
    with sqlite3.connect(store.path) as conn:
        sources = conn.execute("SELECT resource_key, scope_name, scope_version FROM span_sources").fetchall()
        numbers = conn.execute("SELECT source_id FROM span_rows ORDER BY rowid").fetchall()
    assert sorted(sources) == [
        ("r-agents", "openai-agents", "0.4"),
        ("r-tools", "httpx", ""),
        ("r-tools", "openai-agents", "0.4"),
    ]
    assert len(numbers) == 6 and len(set(numbers)) == 3


EXPECTED = [("r-agents", "openai-agents", "0.4"), ("r-tools", "openai-agents", "0.4"), ("r-tools", "httpx", "")]


@pytest.mark.parametrize("trace", [1, 2])
def test_a_trace_reads_back_the_same_from_either_form(store, trace):
    read = store.trace_spans(f"{trace:032x}")
    assert [(s["resource_key"], s["scope_name"], s["scope_version"]) for s in read] == EXPECTED
    jaeger = store.jaeger_span_rows([f"{trace:032x}"])
    assert [(r[9], r[11], r[12]) for r in jaeger] == EXPECTED
    assert [r[10] for r in jaeger] == ["agents", "tools", "tools"]


def test_the_oracle_rebuild_reads_the_sources_of_either_form(store):
    rows = [row for batch in store.recent_span_rows(0, 0) for row in batch]
    assert [(r[18], r[19], r[20]) for r in rows] == EXPECTED * 2  # resource_key, scope_name, scope_version


@pytest.mark.parametrize(
    ("tags", "service", "expected"),
    [
        ({"otel.scope.name": "httpx"}, None, [2, 1]),
        ({"otel.scope.name": "httpx"}, "agents", []),
        ({"otel.scope.version": "0.4"}, "agents", [2, 1]),
        ({"scope.name": "openai-agents"}, "tools", [2, 1]),
        ({"otel.scope.name": ""}, None, []),  # no span has an empty scope name, whatever its row holds
        ({"resource.team": "blue"}, None, [2, 1]),
        ({"team": "blue"}, "agents", [2, 1]),  # a tag matches resource attributes too
        ({"team": "blue"}, "tools", []),
    ],
)
def test_searches_by_scope_and_resource_find_both_forms(store, tags, service, expected):
    found = store.find_trace_ids(SpanSearch(service=service, tags=tags))
    assert found == [f"{t:032x}" for t in expected]


def test_a_store_made_before_span_sources_gets_them_on_open(store):
    store.close()
    as_older_layout(store.path)
    as_older_rows(store.path, 1)
    as_older_rows(store.path, 2)
    with reopened(store.path, "ALTER TABLE spans DROP COLUMN source_id", "DROP TABLE span_sources") as again:
        again.write(Decoded(spans=spans(3)))
        for trace in (1, 2, 3):
            read = again.trace_spans(f"{trace:032x}")
            assert [(s["resource_key"], s["scope_name"], s["scope_version"]) for s in read] == EXPECTED
        with sqlite3.connect(store.path) as conn:
            numbered = conn.execute("SELECT count(DISTINCT source_id) FROM span_rows").fetchone()[0]
        assert numbered == 3


def test_an_older_store_moved_by_another_process_first_is_left_as_it_is(tmp_path):
    path = tmp_path / "t.db"
    with sqlite_store_with(path, spans(1)):
        pass
    as_older_layout(path)
    first = connect(path)  # a second process that saw the older table before the first one moved it
    with reopened(path):
        pass
    span_layout.rebuild_older(first, "CREATE VIEW spans AS SELECT 1")
    first.close()
    with reopened(path) as again:
        read = again.trace_spans(f"{1:032x}")
    assert [(s["resource_key"], s["scope_name"], s["scope_version"]) for s in read] == EXPECTED
