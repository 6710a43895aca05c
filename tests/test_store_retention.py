"""Retention bounds the store by age and by size, a whole trace at a time, while ingest goes on.

Real SQLite files through the real Store writer. "Arrived long ago" is made by moving stored
arrival times back while the store is closed: retention counts age from arrival.
"""

from __future__ import annotations

import base64
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from polling import wait_until
from records import span_record, thread_writer
from telemetron_oracle_api.model import Decoded, LogRecord, MetricPoint, Resource, SpanRecord
from telemetron_oracle_api.settings import settings_from_environment
from telemetron_oracle_api.store import retention
from telemetron_oracle_api.store.retention import RetentionPolicy, used_bytes
from telemetron_oracle_api.store.sqlite import Store
from telemetron_oracle_api.store.trace_summaries import FULL_REAGGREGATION

HOUR_NS = 3600 * 10**9
RESOURCE = Resource(key="r1", service_name="svc", attributes={"service.name": "svc"})


def _noise(seed: int, size: int) -> str:
    """``size`` characters that do not compress (the store compresses attributes), the same for a seed."""
    return base64.b64encode(random.Random(seed).randbytes(size))[:size].decode()


def span(trace: int, n: int, *, padding: int = 0) -> SpanRecord:
    start = time.time_ns()
    return span_record(
        f"{trace:032x}",
        f"{trace * 10_000 + n:016x}",
        start,
        name=f"op-{n}",
        parent_span_id=None if n == 0 else f"{trace * 10_000:016x}",
        attributes={"gen_ai.agent.name": f"agent-{trace}", "note": _noise(trace * 100 + n, padding)},
        events=[{"name": "e", "time_unix_nano": start, "attributes": {"event.key": f"ev-{trace}"}}],
        resource=RESOURCE,
    )


def metric(value: float) -> MetricPoint:
    now = time.time_ns()
    return MetricPoint(RESOURCE, "", "m", "1", "gauge", now, now, {}, value)


def log_record(body: str) -> LogRecord:
    now = time.time_ns()
    return LogRecord(RESOURCE, "", now, now, 9, "INFO", body, {}, None, None, "")


def rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return [tuple(r) for r in conn.execute(sql, params)]


def age_everything(path: Path, hours: float, *, but: list[SpanRecord] = ()) -> None:  # type: ignore[assignment]
    """Make every stored record but the spans ``but`` look as if it arrived ``hours`` ago (the store is closed)."""
    with sqlite3.connect(path) as conn:
        for table in ("span_rows", "metric_points", "log_records"):
            conn.execute(f"UPDATE {table} SET received_ns = received_ns - ?", (int(hours * HOUR_NS),))
        conn.executemany(
            "UPDATE span_rows SET received_ns = ? WHERE trace = ? AND span = ?",
            [(time.time_ns(), bytes.fromhex(s.trace_id), bytes.fromhex(s.span_id)) for s in but],
        )


def test_age_deletes_old_traces_metrics_and_logs_and_keeps_a_trace_still_receiving(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    recent = span(2, 1)
    store.write(
        Decoded(
            spans=[span(1, 0), span(1, 1), span(2, 0), recent],
            metric_points=[metric(1.0)],
            logs=[log_record("old")],
        )
    )
    store.close()
    age_everything(path, 3, but=[recent])  # trace 2 is still receiving: its old span stays with it

    store = Store(path, retention=RetentionPolicy(max_age_s=3600, interval_s=0.05))
    try:
        store.write(Decoded(spans=[span(3, 0)], metric_points=[metric(2.0)], logs=[log_record("new")]))
        wait_until(lambda: thread_writer(store).retention.stats.passes >= 1, what="a retention pass")
    finally:
        store.close()

    assert rows(path, "SELECT DISTINCT trace_id FROM spans ORDER BY 1") == [(f"{2:032x}",), (f"{3:032x}",)]
    assert rows(path, "SELECT trace_id, span_count FROM traces ORDER BY 1") == [(f"{2:032x}", 2), (f"{3:032x}", 1)]
    # Exactly the deleted traces' index rows went: a row left behind would name no trace (None).
    assert rows(
        path, "SELECT DISTINCT t.trace_id FROM attribute_hashes LEFT JOIN traces t USING (trace_no) ORDER BY 1"
    ) == [
        (f"{2:032x}",),
        (f"{3:032x}",),
    ]
    assert rows(path, "SELECT value FROM metric_points") == [(2.0,)]
    assert rows(path, "SELECT body FROM log_records") == [("new",)]
    assert thread_writer(store).retention.stats.deleted_by["age"] == 2 + 1 + 1


def test_size_limit_keeps_the_newest_data_and_reuses_the_freed_space_while_ingest_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "STEP_SPANS", 12)  # a trace per step: a batch of three needs several
    monkeypatch.setattr(retention, "SIZE_CHECK_S", 0.0)
    path = tmp_path / "t.db"
    limit = 2 * 1024 * 1024
    store = Store(path, retention=RetentionPolicy(max_bytes=limit, interval_s=0.05))
    written: list[int] = []
    errors: list[BaseException] = []
    largest = [0]

    def ingest() -> None:
        try:
            with sqlite3.connect(path) as conn:
                for first in range(1, 301, 3):  # ~8 MB in all: four times the limit
                    traces = range(first, first + 3)
                    store.write(Decoded(spans=[span(t, n, padding=2000) for t in traces for n in range(12)]))
                    written.extend(traces)
                    largest[0] = max(largest[0], used_bytes(conn))
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=ingest)
    writer.start()
    try:
        writer.join(timeout=120)
        assert not errors and len(written) == 300
        with sqlite3.connect(path) as conn:
            wait_until(lambda: used_bytes(conn) <= limit, what="the store within its size limit")
            file_bytes = (
                conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
            )
    finally:
        store.close()

    traces = [int(r[0], 16) for r in rows(path, "SELECT trace_id FROM traces ORDER BY 1")]
    assert traces and traces[-1] == 300, "the newest trace is kept"
    assert traces == list(range(traces[0], 301)), "the oldest traces went first, whole"
    assert rows(path, "SELECT count(*) FROM spans")[0][0] == 12 * len(traces)
    assert rows(path, "SELECT count(DISTINCT trace_no) FROM attribute_hashes")[0][0] == len(traces)
    assert rows(path, "SELECT count(*) FROM attribute_hashes WHERE trace_no NOT IN (SELECT trace_no FROM traces)") == [
        (0,)
    ]
    # Over the limit by at most a batch or two (~80 KB each) at any time.
    assert largest[0] < limit + 256 * 1024
    # Freed pages were written again: the file stays near the limit instead of growing to all 8 MB.
    assert file_bytes < 1.5 * limit
    assert thread_writer(store).retention.stats.deleted_by["size"] > 0


def test_summaries_of_kept_traces_stay_equal_to_a_full_reaggregation(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    receiving = [span(t, 3) for t in range(20, 40)]
    store.write(Decoded(spans=[span(t, n) for t in range(1, 40) for n in range(3)] + receiving))
    store.close()
    age_everything(path, 2, but=receiving)
    store = Store(path, retention=RetentionPolicy(max_age_s=3600, interval_s=0.05))
    try:
        wait_until(lambda: thread_writer(store).retention.stats.passes >= 1, what="a retention pass")
    finally:
        store.close()
    assert [int(r[0], 16) for r in rows(path, "SELECT trace_id FROM traces ORDER BY 1")] == list(range(20, 40))
    summaries = rows(
        path,
        "SELECT trace_id, start_ns, end_ns, span_count, error_count, root_name, root_service, services"
        " FROM traces ORDER BY trace_id",
    )
    assert summaries == rows(path, FULL_REAGGREGATION)


def test_a_lower_size_limit_gives_free_pages_back_to_the_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    for trace in range(1, 201):
        store.write(Decoded(spans=[span(trace, n, padding=2000) for n in range(10)]))
    store.close()
    before = path.stat().st_size
    monkeypatch.setattr(retention, "FREE_RESERVE_BYTES", 0)

    store = Store(path, retention=RetentionPolicy(max_bytes=1024 * 1024, interval_s=0.05))
    try:
        wait_until(lambda: thread_writer(store).retention.stats.passes >= 1, what="a retention pass")
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert before > 4 * 1024 * 1024
    assert path.stat().st_size < 1.2 * 1024 * 1024
    assert thread_writer(store).retention.stats.pages_released > 0


def test_retention_settings_and_their_variables() -> None:
    settings = settings_from_environment()
    assert (settings.retention_max_age_hours, settings.retention_max_bytes, settings.retention_interval_seconds) == (
        168.0,
        10 * 1024**3,
        30.0,
    )
    policy = RetentionPolicy.from_settings(settings_from_environment(retention_max_age_hours=0, retention_max_bytes=0))
    assert not policy.enabled


def test_an_older_store_gets_arrival_times_that_keep_its_metrics_and_logs_for_the_full_age(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    store.write(Decoded(metric_points=[metric(1.0)], logs=[log_record("kept")]))
    store.close()
    with sqlite3.connect(path) as conn:  # as a store made before the column existed
        for table in ("metric_points", "log_records"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN received_ns")

    store = Store(path, retention=RetentionPolicy(max_age_s=3600, interval_s=0.05))
    try:
        wait_until(lambda: thread_writer(store).retention.stats.passes >= 1, what="a retention pass")
    finally:
        store.close()
    assert rows(path, "SELECT value FROM metric_points") == [(1.0,)]
    assert rows(path, "SELECT body FROM log_records") == [("kept",)]
    arrived = rows(path, "SELECT received_ns FROM metric_points UNION ALL SELECT received_ns FROM log_records")
    assert all(abs(r[0] - time.time_ns()) < HOUR_NS for r in arrived)


def pending(trace: int, started_ns: int) -> SpanRecord:
    """A record of work in progress: the real span ``{trace}0000...`` started at ``started_ns``, last seen then too."""
    return span_record(
        f"{trace:032x}",
        f"{trace * 10_000 + 9_999:016x}",
        started_ns,
        duration_ns=0,
        name="invoke_agent planner",
        parent_span_id=f"{trace * 10_000:016x}",
        pending=True,
        resource=RESOURCE,
    )


def test_age_deletes_work_in_progress_whose_heartbeats_stopped_and_keeps_the_rest_open(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    store.write(Decoded(spans=[pending(7, time.time_ns() - 3 * HOUR_NS), pending(8, time.time_ns())]))
    store.close()

    store = Store(path, retention=RetentionPolicy(max_age_s=3600, interval_s=0.05))
    try:
        wait_until(lambda: thread_writer(store).retention.stats.passes >= 1, what="a retention pass")
        assert rows(path, "SELECT trace_id FROM active_spans") == [(f"{8:032x}",)]  # 7's process died 3 h ago
        assert thread_writer(store).retention.stats.active_spans == 1
        store.write(Decoded(spans=[span(8, 0)]))  # the running span ends: its record goes
    finally:
        store.close()
    assert rows(path, "SELECT count(*) FROM active_spans") == [(0,)]
