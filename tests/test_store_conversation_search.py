"""The REST conversation filter, answered from the attribute index, finds what the spans' conversation ids say.

Real SQLite files through the real Store writer; the spans' conversation ids come from the receiver's own
promotion (receiver/normalize.py), and every search is checked against the conversation_id column itself.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from records import as_older_layout, reopened, span_record, sqlite_store_with
from telemetron_oracle_api.model import SpanRecord
from telemetron_oracle_api.receiver.normalize import promote
from telemetron_oracle_api.store import attribute_index, search
from telemetron_oracle_api.store.sqlite import Store

NOW = time.time_ns()
LONG = "c" * (attribute_index.MAX_CHARS + 1)


def span(trace: int, n: int = 0, **attributes: object) -> SpanRecord:
    record = span_record(
        f"{trace:032x}",
        f"{trace * 100 + n:016x}",
        NOW - 3600 * 10**9 + trace * 10**9 + n * 10**6,
        parent_span_id=None if n == 0 else f"{trace * 100:016x}",
        attributes=attributes,
    )
    promote(record)
    return record


SPANS = [
    span(1, 0, **{"gen_ai.conversation.id": "conv-a", "customer.id": "x"}),
    span(1, 1),
    span(2, 0, **{"session.id": "sess-b"}),  # no gen_ai.conversation.id: the session is the conversation
    span(3, 0, **{"gen_ai.conversation.id": "conv-c", "session.id": "conv-a"}),  # conv-c, not conv-a
    span(4, 0, **{"gen_ai.conversation.id": 42}),  # not a string: the index does not hold it
    span(5, 0, **{"gen_ai.conversation.id": LONG}),  # too long to be indexed
    span(6, 0),
    span(6, 1, **{"gen_ai.conversation.id": "conv-a"}),  # on a child span
    span(7, 0, **{"gen_ai.conversation.id": True}),
    span(8, 0, **{"gen_ai.conversation.id": 1.5}),
    span(9, 0, **{"gen_ai.conversation.id": "conv-a"}),
]


@pytest.fixture
def store(tmp_path: Path):
    with sqlite_store_with(tmp_path / "t.db", SPANS) as s:
        yield s


def found(store: Store, conversation: str, **filters) -> list[str]:
    rows, _ = store.list_traces(search.TraceFilter(conversation_id=conversation, **filters), limit=50)
    return [r["trace_id"] for r in rows]


def by_column(path: Path, conversation: str) -> list[str]:
    """The traces holding a span of the conversation, newest first, read from the column itself."""
    with sqlite3.connect(path) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT t.trace_id FROM traces t WHERE t.trace_id IN"
                " (SELECT trace_id FROM spans WHERE conversation_id = ?) ORDER BY t.start_ns DESC, t.trace_id DESC",
                (conversation,),
            )
        ]


def ids(*traces: int) -> list[str]:
    return [f"{t:032x}" for t in traces]


@pytest.mark.parametrize(
    ("conversation", "expected"),
    [
        ("conv-a", ids(9, 6, 1)),
        ("sess-b", ids(2)),
        ("conv-c", ids(3)),
        ("42", ids(4)),
        (LONG, ids(5)),
        ("True", ids(7)),
        ("1.5", ids(8)),
        ("nobody", ids()),
    ],
)
def test_the_conversation_filter_finds_the_traces_whose_spans_carry_the_id(store, conversation, expected):
    assert found(store, conversation) == expected
    assert by_column(store.path, conversation) == expected


def test_the_conversation_filter_combines_with_an_attribute_the_index_answers(store):
    assert found(store, "conv-a", attributes={"customer.id": "x"}) == ids(1)
    assert found(store, "conv-c", attributes={"customer.id": "x"}) == ids()


def test_pages_of_a_conversation_follow_each_other(store):
    first, cursor = store.list_traces(search.TraceFilter(conversation_id="conv-a"), limit=2)
    assert [r["trace_id"] for r in first] == ids(9, 6) and cursor
    rest, cursor = store.list_traces(search.TraceFilter(conversation_id="conv-a"), limit=2, cursor=cursor)
    assert [r["trace_id"] for r in rest] == ids(1) and cursor is None


def test_an_older_store_loses_its_conversation_and_start_indexes_and_reads_the_same(store):
    store.close()
    as_older_layout(store.path)
    with reopened(
        store.path,
        "CREATE INDEX spans_conversation ON spans (conversation_id) WHERE conversation_id IS NOT NULL",
        "CREATE INDEX spans_start ON spans (start_ns)",
        "CREATE INDEX traces_start ON traces (start_ns)",
    ) as again:
        with sqlite3.connect(store.path) as conn:
            indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert not indexes & {"spans_conversation", "spans_start", "traces_start"}
        assert found(again, "conv-a") == ids(9, 6, 1)
