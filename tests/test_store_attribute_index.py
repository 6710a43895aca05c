"""The attribute index (attribute_hashes): which values it holds, and searches that use it find what a scan finds.

Real SQLite files through the real Store writer; searches through store/search.py, compared
with the same search forced to walk spans.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from records import indexed, reopened, span_record, sqlite_store_with
from telemetron_oracle_api.model import Decoded, Resource, SpanRecord
from telemetron_oracle_api.store import attribute_index, search
from telemetron_oracle_api.store.sqlite import Store, connect

NOW = time.time_ns()
AGENTS = Resource(key="r-agents", service_name="agents", attributes={"service.name": "agents", "team": "blue"})
TOOLS = Resource(key="r-tools", service_name="tools", attributes={"service.name": "tools"})
LONG = "x" * (attribute_index.MAX_CHARS + 1)


def span(
    trace: int,
    n: int,
    resource: Resource = AGENTS,
    events: list | None = None,
    links: list | None = None,
    attributes: dict[str, object] | None = None,
) -> SpanRecord:
    start = NOW - 3600 * 10**9 + trace * 10**9 + n * 10**6
    return span_record(
        f"{trace:032x}",
        f"{trace * 100 + n:016x}",
        start,
        duration_ns=10**6,
        parent_span_id=None if n == 0 else f"{trace * 100:016x}",
        attributes=attributes,
        events=events,
        links=links,
        resource=resource,
    )


def event(**attributes) -> dict:
    return {"time_ns": NOW, "name": "e", "attributes": attributes, "dropped_attributes_count": 0}


def link(**attributes) -> dict:
    return {
        "trace_id": "ab" * 16,
        "span_id": "cd" * 8,
        "trace_state": "",
        "attributes": attributes,
        "dropped_attributes_count": 0,
    }


SPANS = [
    span(1, 0, attributes={"customer.id": "c-1", "gen_ai.request.model": "gpt-4o", "count": 5}),
    span(1, 1, resource=TOOLS, attributes={"customer.id": "c-1", "flag": True}),
    span(2, 0, events=[event(**{"customer.id": "c-2"})], attributes={"gen_ai.request.model": "gpt-4o"}),
    span(3, 0, links=[link(**{"customer.id": "c-3"})], attributes={"count": "5"}),
    span(4, 0, attributes={"long": LONG, "gen_ai.input.messages": "[]", "ratio": 1.5}),
    span(5, 0, resource=TOOLS, attributes={"customer.id": "c-1", "team": "blue"}),
    span(6, 0, events=[event(blob={"$bytes": "AAAwOQ=="})], attributes={"blob": {"$bytes": "Ymlu"}, "list": ["a", 1]}),
]


@pytest.fixture
def store(tmp_path: Path):
    with sqlite_store_with(tmp_path / "t.db", SPANS) as s:
        yield s


def row(key: str, value: str, trace: int) -> tuple:
    return key, attribute_index.value_hash(value), f"{trace:032x}"


# (key, value, trace id) of every value the index holds for SPANS, as its older forms held them.
TEXT_ROWS = attribute_index.rows(SPANS)


def test_short_strings_of_spans_events_and_links_are_indexed_once_per_trace(store):
    rows = indexed(store.path)
    assert row("customer.id", "c-1", 1) in rows  # on two spans of trace 1, one row
    assert row("customer.id", "c-2", 2) in rows  # an event's attribute
    assert row("customer.id", "c-3", 3) in rows  # a link's attribute
    assert row("count", "5", 3) in rows
    assert len([r for r in rows if r[:2] == row("customer.id", "c-1", 1)[:2]]) == 2
    assert rows == {row(key, value, int(trace, 16)) for key, value, trace in TEXT_ROWS}


def test_bytes_are_indexed_as_the_base64_text_jaeger_shows(store):
    rows = indexed(store.path)
    assert row("blob", "Ymlu", 6) in rows
    assert row("blob", "AAAwOQ==", 6) in rows  # an event's


def test_numbers_bools_long_strings_and_message_contents_are_not_indexed(store):
    values = {(key, value) for key, value, _ in indexed(store.path)}
    assert {key for key, _ in values} == {"customer.id", "gen_ai.request.model", "count", "team", "blob"}
    assert values >= {row("count", "5", 3)[:2]} and len([k for k, _ in values if k == "count"]) == 1


def test_the_value_hash_is_the_same_in_every_process():
    # Stored hashes are looked up by later processes: a hash that changed between starts would lose them.
    assert attribute_index.value_hash("c-1") == 8458119715100675186
    assert attribute_index.value_hash("\ud800") != attribute_index.value_hash("")  # a lone surrogate still hashes


def test_a_store_written_before_the_index_existed_is_indexed_at_startup(store, tmp_path):
    before = indexed(store.path)
    store.close()
    with reopened(store.path, "DROP TABLE attribute_hashes", "DROP TABLE attribute_keys"):
        assert indexed(store.path) == before


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_the_older_index_of_key_value_and_hex_trace_id_is_carried_over_at_startup(store, tmp_path):
    before = indexed(store.path)
    store.close()
    with sqlite3.connect(store.path) as conn:
        conn.execute("DROP TABLE attribute_hashes")
        conn.execute("DROP TABLE attribute_keys")
        conn.execute(
            "CREATE TABLE trace_attributes (key TEXT NOT NULL, value TEXT NOT NULL, trace_id TEXT NOT NULL,"
            " PRIMARY KEY (key, value, trace_id)) WITHOUT ROWID"
        )
        conn.executemany("INSERT INTO trace_attributes VALUES (?, ?, ?)", sorted(TEXT_ROWS))
        conn.execute("INSERT INTO trace_attributes VALUES ('only.in.the.older', 'index', ?)", (f"{1:032x}",))
        conn.execute("INSERT INTO trace_attributes VALUES ('of.no.stored.trace', 'x', ?)", (f"{9:032x}",))
    with reopened(store.path) as again:
        # A row of a trace the store does not hold has no trace number: it named nothing to read, and goes.
        assert indexed(store.path) == before | {row("only.in.the.older", "index", 1)}
        assert "trace_attributes" not in tables(store.path)
        # Keys numbered by the carry-over are the writer's too: a new span with one of them is indexed.
        again.write(Decoded(spans=[span(10, 0, attributes={"only.in.the.older": "again"})]))
        assert row("only.in.the.older", "again", 10) in indexed(store.path)


def as_the_previous_version_left_it(path: Path) -> None:
    """The index of value texts (attribute_traces) in place of the hashes, with a row the spans do not give
    and one of a trace the store does not hold."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE attribute_hashes")
        conn.execute(
            "CREATE TABLE attribute_traces (key_id INTEGER NOT NULL, value TEXT NOT NULL, trace BLOB NOT NULL,"
            " PRIMARY KEY (key_id, value, trace)) WITHOUT ROWID"
        )
        conn.execute("INSERT INTO attribute_keys (key) VALUES ('only.in.the.older')")
        key_ids = dict(conn.execute("SELECT key, key_id FROM attribute_keys"))
        texts = [*TEXT_ROWS, ("only.in.the.older", "index", f"{1:032x}"), ("only.in.the.older", "x", f"{9:032x}")]
        conn.executemany(
            "INSERT INTO attribute_traces VALUES (?, ?, ?)", [(key_ids[k], v, bytes.fromhex(t)) for k, v, t in texts]
        )


def test_the_index_of_value_texts_is_rebuilt_as_hashes_once(store, tmp_path):
    before = indexed(store.path)
    store.close()
    as_the_previous_version_left_it(store.path)
    Store(store.path).close()
    assert indexed(store.path) == before | {row("only.in.the.older", "index", 1)}
    assert "attribute_traces" not in tables(store.path)
    with sqlite3.connect(store.path) as conn:  # rows gone since: a second start must not rebuild the index
        conn.execute(
            "DELETE FROM attribute_hashes WHERE trace_no = (SELECT trace_no FROM traces WHERE trace_id = ?)"
            " OR key_id = (SELECT key_id FROM attribute_keys WHERE key = 'only.in.the.older')",
            (f"{3:032x}",),
        )
    with reopened(store.path) as again:
        assert indexed(store.path) == {r for r in before if r[2] != f"{3:032x}"}
        with again.reader() as conn:
            assert search._indexed_trace_ids(conn, {"customer.id": "c-1"}) == [f"{1:032x}", f"{5:032x}"]


def test_a_rebuild_that_fails_leaves_the_older_index_to_rebuild_next_start(store, monkeypatch):
    before = indexed(store.path)
    store.close()
    as_the_previous_version_left_it(store.path)
    with monkeypatch.context() as m:
        m.setattr(attribute_index, "value_hash", lambda value: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            Store(store.path)
    assert "attribute_traces" in tables(store.path) and indexed(store.path) == set()
    Store(store.path).close()
    assert indexed(store.path) == before | {row("only.in.the.older", "index", 1)}
    assert "attribute_traces" not in tables(store.path)


def tags_name(tags: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in tags.items())


def ids(*traces: int) -> list[str]:
    return [f"{t:032x}" for t in traces]


# What each search must find (newest first), so that two searches both coming back empty fail.
JAEGER_FINDS = {
    ("customer.id=c-1", None): ids(5, 1),
    ("customer.id=c-1", "agents"): ids(1),
    ("customer.id=c-1", "tools"): ids(5, 1),
    ("customer.id=c-2", None): ids(2),
    ("customer.id=c-2", "agents"): ids(2),
    ("customer.id=c-2", "tools"): ids(),
    ("customer.id=c-3", None): ids(3),
    ("customer.id=c-3", "agents"): ids(3),
    ("customer.id=c-3", "tools"): ids(),
    ("customer.id=nobody", None): ids(),
    ("customer.id=nobody", "agents"): ids(),
    ("customer.id=nobody", "tools"): ids(),
    ("team=blue", None): ids(6, 5, 4, 3, 2, 1),
    ("team=blue", "agents"): ids(6, 4, 3, 2, 1),
    ("team=blue", "tools"): ids(5),
    ("count=5", None): ids(3, 1),
    ("count=5", "agents"): ids(3, 1),
    ("count=5", "tools"): ids(),
    ("flag=true", None): ids(1),
    ("flag=true", "agents"): ids(),
    ("flag=true", "tools"): ids(1),
    (f"long={LONG}", None): ids(4),
    (f"long={LONG}", "agents"): ids(4),
    (f"long={LONG}", "tools"): ids(),
    ("customer.id=c-1,gen_ai.request.model=gpt-4o", None): ids(1),
    ("customer.id=c-1,gen_ai.request.model=gpt-4o", "agents"): ids(1),
    ("customer.id=c-1,gen_ai.request.model=gpt-4o", "tools"): ids(),
    ("blob=Ymlu", None): ids(6),
    ("blob=Ymlu", "agents"): ids(6),
    ("blob=Ymlu", "tools"): ids(),
    ("blob=AAAwOQ==", None): ids(6),
    ("blob=AAAwOQ==", "agents"): ids(6),
    ("blob=AAAwOQ==", "tools"): ids(),
    ('list=["a",1]', None): ids(6),
    ('list=["a",1]', "agents"): ids(6),
    ('list=["a",1]', "tools"): ids(),
}
REST_FINDS = {  # REST matches span and scope attributes only: not an event's
    ("customer.id=c-1", None): ids(5, 1),
    ("customer.id=c-1", "agents"): ids(1),
    ("customer.id=c-2", None): ids(),
    ("customer.id=c-2", "agents"): ids(),
    ("count=5", None): ids(3, 1),
    ("count=5", "agents"): ids(3, 1),
    (f"long={LONG}", None): ids(4),
    (f"long={LONG}", "agents"): ids(4),
}


def both_ways(monkeypatch, run, *args):
    """The search as it runs, and the same search forced to walk spans."""
    with_index = run(*args)
    monkeypatch.setattr(search, "_indexed_trace_ids", lambda *a, **k: None)
    without = run(*args)
    monkeypatch.undo()
    return with_index, without


@pytest.mark.parametrize(
    "tags",
    [
        {"customer.id": "c-1"},  # on spans of two services
        {"customer.id": "c-2"},  # on an event
        {"customer.id": "c-3"},  # on a link
        {"customer.id": "nobody"},
        {"team": "blue"},  # a resource attribute of every "agents" span: the table is not used
        {"count": "5"},  # the string or the int: walks spans
        {"flag": "true"},
        {"long": LONG},
        {"customer.id": "c-1", "gen_ai.request.model": "gpt-4o"},  # both on one span
        {"blob": "Ymlu"},  # bytes, by their base64 text
        {"blob": "AAAwOQ=="},  # bytes on an event
        {"list": '["a",1]'},  # an array, as Jaeger writes it: the table is not used
    ],
)
@pytest.mark.parametrize("service", [None, "agents", "tools"])
def test_jaeger_search_finds_what_a_walk_over_spans_finds(store, monkeypatch, tags, service):
    q = search.SpanSearch(service=service, tags=tags, start_min_ns=NOW - 7200 * 10**9, start_max_ns=NOW)
    with store.reader() as conn:
        with_index, without = both_ways(monkeypatch, search.find_trace_ids, conn, q)
    assert with_index == without
    assert with_index == JAEGER_FINDS[(tags_name(tags), service)]


def test_jaeger_search_by_a_rare_value_reads_only_its_traces(store):
    with store.reader() as conn:
        q = search.SpanSearch(service="tools", tags={"customer.id": "c-1"})
        assert search._indexed_trace_ids(conn, q.tags, resources=True) == [f"{1:032x}", f"{5:032x}"]
        assert search.find_trace_ids(conn, q) == [f"{5:032x}", f"{1:032x}"]  # newest matching span first


@pytest.mark.parametrize("attributes", [{"customer.id": "c-1"}, {"customer.id": "c-2"}, {"count": "5"}, {"long": LONG}])
@pytest.mark.parametrize("service", [None, "agents"])
def test_rest_search_finds_what_a_walk_over_traces_finds(store, monkeypatch, attributes, service):
    f = search.TraceFilter(service=service, attributes=attributes)
    with store.reader() as conn:
        with_index, without = both_ways(monkeypatch, search.list_traces, conn, f)
    assert with_index == without
    assert [t["trace_id"] for t in with_index[0]] == REST_FINDS[(tags_name(attributes), service)]


def test_readers_see_the_rows_of_a_committed_batch(tmp_path):
    s = Store(tmp_path / "t.db")
    try:
        s.write(Decoded(spans=[span(9, 0, attributes={"customer.id": "late"})]))
        with s.reader() as conn:
            assert search.find_trace_ids(conn, search.SpanSearch(tags={"customer.id": "late"})) == [f"{9:032x}"]
    finally:
        s.close()
    assert connect(tmp_path / "t.db", readonly=True).execute("SELECT count(*) FROM attribute_hashes").fetchone()[0] == 1
