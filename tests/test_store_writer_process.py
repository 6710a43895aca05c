"""The SQLite writer in its own process (store/writer_process.py): records cross the process boundary
exactly, a commit is still what acknowledges, and a writer process that dies loses nothing acknowledged."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from numbered_load import cpu_seconds
from polling import wait_until
from records import process_writer, span_record
from telemetron_oracle_api.hub import Committed
from telemetron_oracle_api.model import Decoded, LogRecord, MetricPoint, Resource
from telemetron_oracle_api.record_packing import pack, unpack, unpack_all
from telemetron_oracle_api.store.retention import RetentionPolicy
from telemetron_oracle_api.store.sqlite import Store

OTHER = Resource("r2", "billing", {"service.name": "billing", "host.id": b"\x00\xff"})


def every_kind_of_value() -> Committed:
    """A batch with each record type and the values the decoder makes that JSON would not keep exactly."""
    span = span_record(
        "0" * 31 + "1",
        "0" * 15 + "1",
        1_700_000_000_000_000_000,
        attributes={"nan": math.nan, "inf": -math.inf, "big": 2**63 - 1, "raw": {"$bytes": "AP8="}, "list": [1, "a"]},
        events=[{"name": "exception", "time_ns": 5, "attributes": {"exception.type": "ValueError"}}],
        links=[{"trace_id": "ab" * 16, "span_id": "cd" * 8, "attributes": {}}],
        dropped=(1, 2, 3),
        input_tokens=12,
        status_code=2,
    )
    pending = span_record("0" * 31 + "1", "0" * 15 + "2", 1_700_000_000_000_000_001, resource=OTHER, pending=True)
    point = MetricPoint(
        OTHER,
        "meter",
        "gen_ai.client.token.usage",
        "{token}",
        "histogram",
        9,
        8,
        {"a": 1},
        None,
        {"count": 2, "bounds": [1.0, 4.0]},
    )
    log_record = LogRecord(OTHER, "logger", 10, 11, 9, "INFO", {"k": [1.5, None]}, {"x": "y"}, None, None, "evt")
    return Committed(spans=[span], pending=[pending], metric_points=[point], logs=[log_record])


def same_records(a: Committed, b: Committed) -> bool:
    """Equal field by field; NaN, which equals nothing, compared by its text."""
    return repr(a.spans + a.pending + a.metric_points + a.logs) == repr(b.spans + b.pending + b.metric_points + b.logs)


def test_records_cross_the_process_boundary_exactly() -> None:
    batch = every_kind_of_value()
    again = unpack(pack(batch))
    assert same_records(again, batch)
    span = again.spans[0]
    assert math.isnan(span.attributes["nan"]) and span.attributes["big"] == 2**63 - 1
    assert span.dropped == (1, 2, 3) and type(span.dropped) is tuple
    assert again.pending[0].resource.attributes["host.id"] == b"\x00\xff"
    merged = unpack_all([pack(batch), pack(batch)])
    assert [len(merged.spans), len(merged.pending), len(merged.metric_points), len(merged.logs)] == [2, 2, 2, 2]


def stored(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT name, status_code, input_tokens FROM spans ORDER BY span_id").fetchall()


def request(*spans) -> Decoded:
    return Decoded(spans=list(spans))


def test_a_batch_is_committed_by_the_writer_process_before_it_is_acknowledged(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db", writer_process=True, cache_mb=6)
    try:
        assert process_writer(store).pid not in (None, os.getpid())
        batch = every_kind_of_value()
        store.write(request(*batch.spans, *batch.pending))
        assert stored(tmp_path / "t.db") == [("op", 2, 12)]
        [read] = store.trace_spans("0" * 31 + "1")
        assert read["attributes"]["big"] == 2**63 - 1
        assert store.writer_status()["cache_kib"] == 6 * 1024
    finally:
        store.close()
    assert process_writer(store).pid is None


def test_a_record_the_database_refuses_in_the_writer_process_is_rejected_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db", writer_process=True)
    try:
        spans = [
            span_record("0" * 31 + "1", f"{n + 1:016x}", 1_700_000_000_000_000_000, name=f"s{n}") for n in range(4)
        ]
        spans[2].end_ns = 2**64 - 1  # OverflowError when the child binds it
        decoded = request(*spans)
        store.write(decoded)
        assert [r[0] for r in stored(tmp_path / "t.db")] == ["s0", "s1", "s3"]
        [rejection] = decoded.rejections
        assert rejection.example["name"] == "s2" and "OverflowError" in rejection.reason
    finally:
        store.close()


# Keeps the writer process busy inside its transaction for seconds: a span named 'slow' makes its shape's
# insert count to 10^8 first.
_SLOW_TRIGGER = """
CREATE TRIGGER slow_shape BEFORE INSERT ON span_shapes WHEN NEW.name = 'slow'
BEGIN SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) SELECT x FROM c); END
"""


def test_a_writer_process_killed_mid_transaction_loses_nothing_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store(path, writer_process=True)
    try:
        first = span_record("0" * 31 + "1", "0" * 15 + "1", 1_700_000_000_000_000_000, name="first")
        store.write(request(first))  # acknowledged
        with sqlite3.connect(path) as conn:
            conn.execute(_SLOW_TRIGGER)
        child = process_writer(store).pid
        assert child is not None
        idle_cpu = cpu_seconds(child)
        slow = span_record("0" * 31 + "2", "0" * 15 + "2", 1_700_000_000_000_000_000, name="slow")
        outcome: list[BaseException | None] = []

        def write_slow() -> None:
            try:
                store.write(request(slow))
                outcome.append(None)
            except BaseException as exc:  # what the receiver would answer UNAVAILABLE for
                outcome.append(exc)

        writer = threading.Thread(target=write_slow)
        writer.start()
        wait_until(lambda: cpu_seconds(child) > idle_cpu + 0.5, what="the writer process inside the slow transaction")
        statuses: list[dict] = []
        asking = threading.Thread(target=lambda: statuses.append(store.writer_status()))
        asking.start()
        asking.join(30)
        assert writer.is_alive() and statuses  # /health's status came while the commit still ran
        os.kill(child, signal.SIGKILL)
        writer.join(30)
        [error] = outcome
        assert isinstance(error, sqlite3.OperationalError) and "ended" in str(error)
        assert store._is_transient(error)  # the sender is told to retry
        assert [r[0] for r in stored(path)] == ["first"]  # the killed transaction left nothing behind
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TRIGGER slow_shape")
        store.write(request(slow))  # the retry: a new writer process takes it
        assert process_writer(store).pid not in (None, child)
        store.write(request(slow))  # delivered twice, stored once
        assert [r[0] for r in stored(path)] == ["first", "slow"]
    finally:
        store.close()


def test_retention_runs_in_the_writer_process(tmp_path: Path) -> None:
    policy = RetentionPolicy(max_age_s=60.0, interval_s=0.2)
    store = Store(tmp_path / "t.db", writer_process=True, retention=policy)
    try:
        old = span_record("0" * 31 + "1", "0" * 15 + "1", 1_700_000_000_000_000_000)
        store.write(request(old))
        with sqlite3.connect(tmp_path / "t.db") as conn:  # arrived two minutes ago
            conn.execute("UPDATE span_rows SET received_ns = ?", (time.time_ns() - 120 * 10**9,))
        wait_until(lambda: store.writer_status()["retention"]["spans"] == 1, what="retention deleting the old span")
        assert stored(tmp_path / "t.db") == []
    finally:
        store.close()


def test_a_file_that_is_no_database_fails_the_open_as_on_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    path.write_bytes(b"not a database, " * 512)
    for writer_process in (False, True):
        with pytest.raises(sqlite3.DatabaseError, match="not a database"):
            Store(path, writer_process=writer_process)


def test_a_retention_step_the_database_refuses_is_counted_and_writes_go_on(tmp_path: Path) -> None:
    policy = RetentionPolicy(max_age_s=60.0, interval_s=0.2)
    store = Store(tmp_path / "t.db", writer_process=True, retention=policy)
    try:
        store.write(request(span_record("0" * 31 + "1", "0" * 15 + "1", 1_700_000_000_000_000_000, name="old")))
        with sqlite3.connect(tmp_path / "t.db") as conn:
            conn.execute("UPDATE span_rows SET received_ns = ?", (time.time_ns() - 120 * 10**9,))
            conn.execute("CREATE TRIGGER keep_rows BEFORE DELETE ON span_rows BEGIN SELECT RAISE(ABORT, 'kept'); END")
        wait_until(lambda: store.writer_status()["retention"]["failed_steps"] >= 1, what="a refused retention step")
        store.write(request(span_record("0" * 31 + "2", "0" * 15 + "2", 1_700_000_000_000_000_000, name="new")))
        assert [r[0] for r in stored(tmp_path / "t.db")] == ["old", "new"]
    finally:
        store.close()
