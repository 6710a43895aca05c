"""The scaled deployment's ingest: oracle_api workers consuming Kafka as one group into PostgreSQL.

Offsets are committed only after the store commit, and the store's writes are idempotent, so a
worker SIGKILLed under load loses nothing (its partitions go to the other member, which reads its
uncommitted batch again) and stores nothing twice.
"""

from __future__ import annotations

import ast
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import stack
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic
from numbered_load import SEQ_ATTRIBUTE, SPANS_PER_TRACE, numbered_request
from polling import wait_until

PARTITIONS = 4


@pytest.fixture
def topics(kafka_broker: stack.KafkaBroker) -> dict[str, str]:
    """Fresh spans / metrics / events topics of several partitions, as the Collector's exporter fills them."""
    prefix = f"scale-{uuid.uuid4().hex[:8]}"
    names = {"spans": f"{prefix}-spans", "metrics": f"{prefix}-metrics", "logs": f"{prefix}-events"}
    admin = kafka_broker.admin()
    for future in admin.create_topics([NewTopic(t, num_partitions=PARTITIONS) for t in names.values()]).values():
        future.result(timeout=30)
    return names


def worker(kafka_broker, topics, store_url: str, log_path: Path) -> stack.OracleWorker:
    config = stack.OracleApiConfig(
        ingest="kafka",
        store_url=store_url,
        kafka_bootstrap=kafka_broker.bootstrap,
        kafka_group_id=f"group-{topics['spans']}",
        kafka_spans_topic=topics["spans"],
        kafka_metrics_topic=topics["metrics"],
        kafka_logs_topic=topics["logs"],
    )
    return stack.OracleWorker(config, log_path)


class TraceProducer:
    """Writes numbered traces to the spans topic as the Collector's kafka exporter does: one trace per
    message (TracesData, the Export request's wire layout), keyed by trace id."""

    def __init__(self, bootstrap: str, topic: str, run: bytes) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.topic = topic
        self.run = run
        self.sent = 0  # spans
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def send(self, traces: int) -> None:
        for _ in range(traces):
            first = self.sent
            seqs = range(first, first + SPANS_PER_TRACE)
            trace_id = self.run + (first // SPANS_PER_TRACE).to_bytes(8, "big")
            self.producer.produce(self.topic, numbered_request(self.run, seqs, attributes=4), key=trace_id)
            self.sent += SPANS_PER_TRACE
        self.producer.flush(30)

    def start(self, traces_per_second: int) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self.send(max(1, traces_per_second // 20))
                time.sleep(0.05)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def stored(url: str, run: bytes) -> Counter[int]:
    """How many rows the store holds for each sequence number of this run."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT (attributes::jsonb ->> '{SEQ_ATTRIBUTE}')::bigint, count(*) FROM spans"
            " WHERE trace_id >= %s AND trace_id < %s GROUP BY 1",
            (run.hex(), run.hex() + "g"),
        ).fetchall()
    return Counter(dict(rows))


def assigned(log_path: Path) -> int:
    """How many partitions a worker said it owns in its latest assignment (its log's last "assigned" line)."""
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if ": assigned [" in line]
    return len(ast.literal_eval(lines[-1].split(": assigned ", 1)[1])) if lines else -1


def test_a_sigkilled_worker_loses_nothing_and_doubles_nothing(kafka_broker, postgres_server, topics, tmp_path):
    url = postgres_server.create_database(f"w_{uuid.uuid4().hex[:12]}")
    run = uuid.uuid4().bytes[:8]
    producer = TraceProducer(kafka_broker.bootstrap, topics["spans"], run)
    first = worker(kafka_broker, topics, url, tmp_path / "worker-1.log")
    second = worker(kafka_broker, topics, url, tmp_path / "worker-2.log")
    first.start()
    try:
        producer.send(50)
        wait_until(lambda: sum(stored(url, run).values()) >= 500, 60, "the first worker storing spans")
        second.start()  # joining rebalances: the partitions are split between the two
        wait_until(lambda: (assigned(first.log_path), assigned(second.log_path)) == (6, 6), 60, "a 6/6 split")
        producer.start(traces_per_second=200)
        before_kill = sum(stored(url, run).values())
        wait_until(lambda: sum(stored(url, run).values()) > before_kill + 1000, 60, "both workers storing")
        first.kill()  # SIGKILL: whatever it consumed and had not committed is read again by the survivor
        wait_until(lambda: assigned(second.log_path) == 12, 60, "the survivor owning every partition")
        after_kill = sum(stored(url, run).values())
        wait_until(lambda: sum(stored(url, run).values()) > after_kill + 500, 60, "the survivor storing the load")
        producer.stop()
        expected = set(range(producer.sent))
        counts = wait_until(
            lambda: (c := stored(url, run)) and set(c) >= expected and c, 90, "every produced span stored"
        )
        assert set(counts) == expected, f"lost {len(expected - set(counts))}"
        assert [seq for seq, n in counts.items() if n != 1] == []
        assert producer.sent >= 2000
    finally:
        producer.stop()
        first.stop()
        second.stop()
