"""A span's attributes, events, links and scope attributes are stored compressed (zstd), and rows
written before (JSON text, or DEFLATE: format 1) read back the same: by trace, by search on a value the attribute index leaves out,
and through the ``telemetron_json`` SQL function."""

from __future__ import annotations

import sqlite3
import time
import zlib
from pathlib import Path

import orjson
from records import span_record
from telemetron_oracle_api.model import Decoded, Resource, SpanRecord
from telemetron_oracle_api.store import span_documents
from telemetron_oracle_api.store.search import SpanSearch
from telemetron_oracle_api.store.sqlite import Store

RESOURCE = Resource(key="r1", service_name="svc", attributes={"service.name": "svc"})


def span(trace: int) -> SpanRecord:
    start = time.time_ns()
    return span_record(
        f"{trace:032x}",
        f"{trace:016x}",
        start,
        name="chat gpt-4o",
        kind=3,
        attributes={"gen_ai.usage.input_tokens": 1234, "blob": {"$bytes": "AAE="}, "text": "é\x1e"},
        events=[{"name": "retry", "time_unix_nano": start, "attributes": {"attempt": 2}}],
        links=[{"trace_id": "ab" * 16, "span_id": "cd" * 8, "trace_state": "", "attributes": {"kind": "x"}}],
        resource=RESOURCE,
        scope_name="lib",
        scope_version="1",
        scope_attributes={"scope.key": "v"},
    )


COLUMNS = ("attributes", "events", "links", "scope_attributes")


def deflate_format(document: object) -> bytes:
    """A document as versions before zstd wrote it: format byte 1, raw DEFLATE against the same dictionary."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15, 4, zdict=span_documents._ZDICT)
    return b"\x01" + packer.compress(orjson.dumps(document)) + packer.flush()


def test_compressed_and_json_text_rows_read_back_alike(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    try:
        store.write(Decoded(spans=[span(1), span(2), span(3)]))
        with sqlite3.connect(path) as conn:
            span_documents.register(conn)
            assert {r[0] for r in conn.execute("SELECT DISTINCT typeof(attributes) FROM spans")} == {"blob"}
            assert {r[0] for r in conn.execute("SELECT DISTINCT substr(attributes, 1, 1) FROM spans")} == {b"\x02"}
            # Trace 1 as a store written before compression holds it: JSON text.
            sets = ", ".join(f"{c} = telemetron_json({c})" for c in COLUMNS)
            conn.execute(f"UPDATE span_rows SET {sets} WHERE trace = ?", (bytes.fromhex(f"{1:032x}"),))
            # Trace 3 as a store written with DEFLATE holds it.
            documents = [
                orjson.loads(
                    conn.execute(
                        f"SELECT telemetron_json({c}) FROM spans WHERE trace_id = ?", (f"{3:032x}",)
                    ).fetchone()[0]
                )
                for c in COLUMNS
            ]
            conn.execute(
                f"UPDATE span_rows SET {', '.join(f'{c} = ?' for c in COLUMNS)} WHERE trace = ?",
                (*(deflate_format(d) for d in documents), bytes.fromhex(f"{3:032x}")),
            )
        expected = span(1)
        for trace in (1, 2, 3):
            (stored,) = store.trace_spans(f"{trace:032x}")
            assert stored["attributes"] == expected.attributes
            assert stored["events"][0]["attributes"] == {"attempt": 2}
            assert stored["links"] == expected.links
            assert stored["scope_attributes"] == {"scope.key": "v"}
            assert store.jaeger_span_rows([f"{trace:032x}"])[0][-5] == expected.attributes
        for tags in ({"gen_ai.usage.input_tokens": "1234"}, {"attempt": "2"}, {"kind": "x"}, {"scope.key": "v"}):
            assert sorted(store.find_trace_ids(SpanSearch(service="svc", tags=tags))) == [
                f"{t:032x}" for t in (1, 2, 3)
            ]
        assert store.find_trace_ids(SpanSearch(service="svc", tags={"gen_ai.usage.input_tokens": "1235"})) == []
    finally:
        store.close()


def test_a_batch_encoded_in_one_call_stores_what_encoding_each_stores() -> None:
    documents: list = [
        {"gen_ai.response.id": f"chatcmpl-{i}", "gen_ai.usage.input_tokens": i, "tags": ["a", i]} if i % 3 else {}
        for i in range(40)
    ]
    stored = span_documents.encode_many(documents, "{}")
    assert stored == [span_documents.encode(d) if d else "{}" for d in documents]
    assert [span_documents.decode(s) if s != "{}" else {} for s in stored] == documents
    assert span_documents.encode_many([{}, {}], "{}") == ["{}", "{}"]
