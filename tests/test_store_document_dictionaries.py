"""A store trains a zstd dictionary on its own span attributes, compresses against it, and every reader,
in any process, reads the spans back unchanged.

Real SQLite files through the real Store writer; the thresholds are lowered so a few hundred spans train.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from polling import wait_until
from records import span_record
from telemetron_oracle_api.model import Decoded, SpanRecord
from telemetron_oracle_api.store import dictionaries
from telemetron_oracle_api.store.retention import RetentionPolicy
from telemetron_oracle_api.store.sqlite import Store

HOUR_NS = 3600 * 10**9
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-pro")
READ_DOCUMENT = [sys.executable, "-m", "telemetron_oracle_api.store.span_documents"]


@pytest.fixture(autouse=True)
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dictionaries, "FIRST_TRAINING", 200)
    monkeypatch.setattr(dictionaries, "SAMPLES", 400)
    monkeypatch.setattr(dictionaries, "WINDOW", 200)


def llm_span(trace: int, n: int, rng: random.Random, **extra: object) -> SpanRecord:
    model = rng.choice(MODELS)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(96):x}",
        "gen_ai.usage.input_tokens": rng.randrange(10, 4000),
        "gen_ai.usage.output_tokens": rng.randrange(10, 800),
        "gen_ai.agent.name": f"agent-{rng.randrange(5)}",
        "server.address": "api.openai.com",
        **extra,
    }
    return span_record(
        f"{trace:032x}", f"{trace * 1000 + n + 1:016x}", time.time_ns(), name=f"chat {model}", attributes=attributes
    )


def queue_span(trace: int, n: int, rng: random.Random) -> SpanRecord:
    """Spans nothing like ``llm_span``'s: other keys, other values."""
    attributes = {
        "messaging.system": "kafka",
        "messaging.destination.name": f"orders-{rng.randrange(3)}",
        "messaging.kafka.offset": rng.getrandbits(40),
        "order.sku": f"SKU-{rng.getrandbits(48):012X}",
        "order.warehouse": rng.choice(("lisbon", "osaka", "quito", "tromso")),
        "order.lines": [f"line-{rng.getrandbits(20)}" for _ in range(3)],
    }
    return span_record(
        f"{trace:032x}", f"{trace * 1000 + n + 1:016x}", time.time_ns(), name="process", attributes=attributes
    )


def write_traces(
    store: Store, first: int, count: int, make=llm_span, seed: int = 1, extra: dict | None = None
) -> list[SpanRecord]:
    """``count`` traces of 10 spans, one request each; the spans written."""
    rng = random.Random(seed)
    written = []
    for trace in range(first, first + count):
        spans = [make(trace, n, rng, **(extra or {})) for n in range(10)]
        store.write(Decoded(spans=spans))
        written += spans
    return written


def formats(path: Path) -> list[int]:
    """The format byte of each stored span's attributes, in the order written."""
    with sqlite3.connect(path) as conn:
        return [r[0][0] for r in conn.execute("SELECT attributes FROM span_rows ORDER BY rowid")]


def dictionary_ids(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT dictionary_id FROM document_dictionaries ORDER BY first_span")]


def read_in_another_process(path: Path) -> dict[str, dict]:
    """Every stored span's attributes as a fresh process reads them: span id -> attributes."""
    sql = "SELECT span_id, telemetron_json(attributes) FROM spans"
    out = subprocess.run([*READ_DOCUMENT, str(path), sql], capture_output=True, text=True, check=True).stdout
    return {line.split("\t")[0]: orjson.loads(line.split("\t")[1]) for line in out.splitlines()}


def test_spans_after_training_are_compressed_against_the_store_dictionary_and_read_back_the_same(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    try:
        written = write_traces(store, 1, 60)
        stored = {s["span_id"]: s["attributes"] for t in range(1, 61) for s in store.trace_spans(f"{t:032x}")}
    finally:
        store.close()

    assert len(dictionary_ids(path)) == 1
    kinds = formats(path)
    assert kinds[0] == 2 and kinds[-1] == 3  # the preset first, the trained dictionary once it exists
    assert stored == {s.span_id: s.attributes for s in written}
    with sqlite3.connect(path) as conn:
        preset, trained = (
            conn.execute(
                "SELECT avg(length(attributes)) FROM spans WHERE substr(attributes, 1, 1) = ?", (bytes([f]),)
            ).fetchone()[0]
            for f in (2, 3)
        )
    assert trained < preset * 0.75


def test_another_process_reads_the_documents_and_a_reopened_store_keeps_its_dictionary(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    try:
        written = write_traces(store, 1, 60)
    finally:
        store.close()
    store = Store(path)  # reopened: goes on with the dictionary it trained, trains no other
    try:
        written += write_traces(store, 61, 10, seed=2)
    finally:
        store.close()

    assert len(dictionary_ids(path)) == 1
    assert formats(path)[-100:] == [3] * 100
    assert read_in_another_process(path) == {s.span_id: s.attributes for s in written}


def test_a_reader_opened_before_the_dictionary_was_trained_finds_it(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store(path).close()  # the schema, no dictionary yet
    script = (
        "import sys; from telemetron_oracle_api.store.sqlite_reads import connect\n"
        "conn = connect(sys.argv[1], readonly=True); print('open', flush=True); sys.stdin.readline()\n"
        "for row in conn.execute('SELECT telemetron_json(attributes) FROM spans ORDER BY span_no DESC LIMIT 1'): print(row[0])\n"
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline() == "open\n"
        store = Store(path)
        try:
            written = write_traces(store, 1, 60)
        finally:
            store.close()
        out, _ = reader.communicate("go\n", timeout=60)
    finally:
        reader.kill()
    assert formats(path)[-1] == 3
    assert orjson.loads(out) == written[-1].attributes


def test_a_batch_rolled_back_after_training_leaves_every_stored_span_readable(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    rng = random.Random(3)
    try:
        written = write_traces(store, 1, 19)  # 190 spans: the next batch trains
        batch = [llm_span(100, n, rng) for n in range(40)]
        batch[7].end_ns = 2**64 - 1  # SQLite cannot bind it: the batch rolls back and is written again in parts
        decoded = Decoded(spans=batch)
        store.write(decoded)
        written += decoded.spans
        written += write_traces(store, 200, 5, seed=4)
    finally:
        store.close()

    assert len(decoded.rejections) == 1 and len(decoded.spans) == 39
    assert read_in_another_process(path) == {s.span_id: s.attributes for s in written}
    with sqlite3.connect(path) as conn:
        used = {
            int.from_bytes(r[0], "big")
            for r in conn.execute(
                "SELECT DISTINCT substr(attributes, 2, 4) FROM span_rows WHERE substr(attributes, 1, 1) = x'03'"
            )
        }
    assert used and used <= set(dictionary_ids(path))


def test_documents_unlike_the_dictionary_train_another_and_retention_deletes_the_one_no_span_uses(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    try:
        old = write_traces(store, 1, 60)
        new = write_traces(store, 100, 60, make=queue_span)
    finally:
        store.close()
    first, second = dictionary_ids(path)
    assert read_in_another_process(path) == {s.span_id: s.attributes for s in old + new}

    with sqlite3.connect(path) as conn:  # the traces written before the second dictionary arrived hours ago
        conn.execute(
            "UPDATE span_rows SET received_ns = received_ns - ?"
            " WHERE rowid < (SELECT first_span FROM document_dictionaries WHERE dictionary_id = ?)",
            (3 * HOUR_NS, second),
        )
        kept = {
            r[0] for r in conn.execute("SELECT span_id FROM spans WHERE received_ns > ?", (time.time_ns() - HOUR_NS,))
        }
    store = Store(path, retention=RetentionPolicy(max_age_s=3600, interval_s=0.05))
    try:
        wait_until(lambda: dictionary_ids(path) == [second], what="the unused dictionary deleted")
    finally:
        store.close()
    assert first != second and 0 < len(kept) < len(new)  # some queue spans used the first dictionary too
    assert read_in_another_process(path) == {s.span_id: s.attributes for s in new if s.span_id in kept}


def test_message_contents_stay_out_of_the_dictionary(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    secret = "the launch code is 0451-SWORDFISH"
    messages = orjson.dumps([{"role": "user", "parts": [{"type": "text", "content": secret}]}]).decode()
    store = Store(path)
    try:
        write_traces(store, 1, 40, extra={"gen_ai.input.messages": messages})
        write_traces(store, 100, 40, seed=5)
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        [data] = [r[0] for r in conn.execute("SELECT data FROM document_dictionaries")]
    assert b"SWORDFISH" not in data and b"gen_ai.request.model" in data
