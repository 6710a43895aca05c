"""The scaled deployment's ingest: spans/s stored by 1 and 2 Kafka ingest workers into PostgreSQL
versus SQLite, and the consumer group's lag under a steady offered rate.

    python bench/bench_scaled.py                         # 200,000 spans per run, then 10,000 spans/s for 30 s
    python bench/bench_scaled.py --spans 100000 --lag-seconds 20

Throughput: the spans are put on a fresh topic first (one trace of 10 spans per message, keyed by
trace id, as the Collector's kafka exporter writes them), then the workers start and drain it;
the rate is counted from the first stored span to the last. Lag: a producer offers a steady rate
while two workers consume into PostgreSQL; each second the group's lag (end offsets minus
committed offsets, in messages of 10 spans) is sampled. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import psycopg  # noqa: E402
import stack  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402
from numbered_load import SPANS_PER_TRACE, numbered_request  # noqa: E402

PARTITIONS = 6


def make_topics(broker: stack.KafkaBroker) -> dict[str, str]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    names = {"spans": f"{prefix}-spans", "metrics": f"{prefix}-metrics", "logs": f"{prefix}-events"}
    admin = broker.admin()
    for future in admin.create_topics([NewTopic(t, num_partitions=PARTITIONS) for t in names.values()]).values():
        future.result(timeout=30)
    return names


def produce(bootstrap: str, topic: str, run: bytes, first: int, spans: int, producer: Producer | None = None) -> None:
    own = producer is None
    producer = producer or Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "queue.buffering.max.messages": 1_000_000}
    )
    for start in range(first, first + spans, SPANS_PER_TRACE):
        trace_id = run + (start // SPANS_PER_TRACE).to_bytes(8, "big")
        producer.produce(topic, numbered_request(run, range(start, start + SPANS_PER_TRACE)), key=trace_id)
        producer.poll(0)
    if own:
        producer.flush(120)


def stored_count(store_url: str, db_path: Path) -> int:
    if store_url:
        with psycopg.connect(store_url) as pg:
            return pg.execute("SELECT count(*) FROM spans").fetchall()[0][0]
    if not db_path.exists():
        return 0
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM span_rows").fetchall()[0][0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def workers(broker, topics, store_url: str, db_path: Path, count: int, logs: Path) -> list[stack.OracleWorker]:
    settings = {
        "ingest": "kafka",
        "store_url": store_url,
        "db_path": db_path,
        "kafka_bootstrap": broker.bootstrap,
        "kafka_group_id": f"g-{topics['spans']}",
        "kafka_spans_topic": topics["spans"],
        "kafka_metrics_topic": topics["metrics"],
        "kafka_logs_topic": topics["logs"],
    }
    return [
        stack.OracleWorker(stack.OracleApiConfig(**settings), logs / f"{topics['spans']}-{n}.log") for n in range(count)
    ]


def start_workers(group: list[stack.OracleWorker]) -> None:
    for w in group:
        w.start()


def throughput(broker, pg: stack.PostgresServer, backend: str, count: int, spans: int, tmp: Path) -> float:
    topics = make_topics(broker)
    store_url = pg.create_database(f"b_{uuid.uuid4().hex[:10]}") if backend == "postgres" else ""
    db_path = tmp / f"{topics['spans']}.db"
    produce(broker.bootstrap, topics["spans"], uuid.uuid4().bytes[:8], 0, spans)
    group = workers(broker, topics, store_url, db_path, count, tmp)
    start_workers(group)
    try:
        first_at = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            n = stored_count(store_url, db_path)
            if n and first_at is None:
                first_at, first_n = time.monotonic(), n
            if n >= spans:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"only {n} of {spans} spans stored")
        assert first_at is not None
        elapsed = time.monotonic() - first_at
        return (spans - first_n) / elapsed if elapsed > 0 else float("nan")
    finally:
        for w in group:
            w.stop()


def lag(broker, pg: stack.PostgresServer, rate: int, seconds: int, tmp: Path) -> list[int]:
    topics = make_topics(broker)
    store_url = pg.create_database(f"l_{uuid.uuid4().hex[:10]}")
    group = workers(broker, topics, store_url, tmp / "unused.db", 2, tmp)
    start_workers(group)
    group_id = f"g-{topics['spans']}"
    watcher = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group_id, "enable.auto.commit": False})
    parts = [TopicPartition(topics["spans"], p) for p in range(PARTITIONS)]
    run, sent, samples = uuid.uuid4().bytes[:8], 0, []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20})
    stop = threading.Event()

    def offer() -> None:
        nonlocal sent
        began = time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - began) * rate) // SPANS_PER_TRACE * SPANS_PER_TRACE
            if due > sent:
                produce(broker.bootstrap, topics["spans"], run, sent, due - sent, producer)
                sent = due
            time.sleep(0.01)

    thread = threading.Thread(target=offer, daemon=True)
    time.sleep(5)  # the workers join the group before the load starts
    thread.start()
    try:
        for _ in range(seconds):
            time.sleep(1)
            committed = watcher.committed(parts, timeout=10)
            ends = [watcher.get_watermark_offsets(p, timeout=10, cached=False)[1] for p in parts]
            samples.append(sum(end - max(c.offset, 0) for end, c in zip(ends, committed, strict=True)))
    finally:
        stop.set()
        thread.join()
        producer.flush(60)
        watcher.close()
        for w in group:
            w.stop()
    print(f"  offered {sent:,} spans in {seconds} s ({sent / seconds:,.0f}/s)")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--lag-rate", type=int, default=10_000)
    parser.add_argument("--lag-seconds", type=int, default=30)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scaled-", ignore_cleanup_errors=True) as name:
        tmp = Path(name)
        os.chmod(tmp, 0o755)
        kafka_port, controller, pg_port = stack.free_ports(3)
        broker = stack.KafkaBroker(
            stack.KafkaConfig(
                data_dir=tmp / "kafka", libs_dir=stack.fetch_kafka(), port=kafka_port, controller_port=controller
            ),
            tmp / "kafka.log",
        )
        pg = stack.PostgresServer(stack.PostgresConfig(data_dir=tmp / "pg", port=pg_port), tmp / "pg.log")
        broker.start()
        pg.start()
        try:
            print(
                f"{os.cpu_count()} cores; {args.spans:,} spans per run, {PARTITIONS} partitions, 13 attributes a span"
            )
            for backend in ("postgres", "sqlite"):
                if backend == "sqlite" and args.skip_sqlite:
                    continue
                for count in (1, 2):
                    rate = throughput(broker, pg, backend, count, args.spans, tmp)
                    print(f"  {backend:8} {count} worker(s): {rate:,.0f} spans/s stored", flush=True)
            if args.lag_seconds:
                samples = lag(broker, pg, args.lag_rate, args.lag_seconds, tmp)
                traces = sorted(samples)
                print(
                    f"  lag under {args.lag_rate:,} spans/s offered, 2 workers into PostgreSQL (messages of"
                    f" {SPANS_PER_TRACE} spans): median {statistics.median(traces):,.0f}, max {traces[-1]:,},"
                    f" last {samples[-1]:,} (per second: {samples})"
                )
        finally:
            pg.stop()
            broker.stop()


if __name__ == "__main__":
    main()
