"""The scaled deployment on one machine: PostgreSQL, Kafka with several partitions, the Collector
writing only to Kafka, a group of ingest workers and several API replicas (README, "Beyond one machine").

    .venv/bin/python deploy/local/scaled.py [--workers 2] [--replicas 2] [--partitions 6] [--once]

Every port is free-picked; what listens where is printed. Ctrl-C stops every process.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from stack import (
    REPO,
    Collector,
    CollectorConfig,
    KafkaBroker,
    KafkaConfig,
    LocalProcess,
    OracleApi,
    OracleApiConfig,
    OracleWorker,
    PostgresConfig,
    PostgresServer,
    build_collector,
    fetch_kafka,
    free_ports,
)

KAFKA_ONLY = REPO / "collector-config" / "overlays" / "kafka-only.yaml"


class ScaledStack:
    """Started in dependency order, stopped in reverse."""

    def __init__(self, run_dir: Path, workers: int, replicas: int, partitions: int) -> None:
        logs = run_dir / "logs"
        kafka_port, controller, pg_port, grpc, http, health, metrics = free_ports(7)
        self.postgres = PostgresServer(
            PostgresConfig(data_dir=run_dir / "postgres", port=pg_port), logs / "postgres.log"
        )
        self.kafka = KafkaBroker(
            KafkaConfig(
                data_dir=run_dir / "kafka",
                libs_dir=fetch_kafka(),
                port=kafka_port,
                controller_port=controller,
                partitions=partitions,
            ),
            logs / "kafka.log",
        )
        self.collector = Collector(
            CollectorConfig(
                binary=build_collector(),
                storage_dir=run_dir / "collector-storage",
                overlays=(KAFKA_ONLY,),
                grpc_port=grpc,
                http_port=http,
                health_port=health,
                metrics_port=metrics,
                kafka_brokers=self.kafka.bootstrap,
            ),
            logs / "collector.log",
        )
        shared: dict[str, Any] = {"store_url": self.postgres.url, "kafka_bootstrap": self.kafka.bootstrap}
        self.workers = [
            OracleWorker(OracleApiConfig(ingest="kafka", **shared), logs / f"worker-{n}.log") for n in range(workers)
        ]
        self.replicas = [
            OracleApi(
                OracleApiConfig.on_free_ports(
                    run_dir / f"replica-{n}.unused", ingest="none", live_feed="kafka", **shared
                ),
                logs / f"api-{n}.log",
            )
            for n in range(replicas)
        ]
        self._started: list[LocalProcess] = []

    def start(self) -> None:
        for part in [self.postgres, self.kafka, self.collector, *self.workers, *self.replicas]:
            began = time.monotonic()
            part.start()
            self._started.append(part)
            print(f"{part.name} ready in {time.monotonic() - began:.1f}s", flush=True)

    def stop(self) -> None:
        while self._started:
            self._started.pop().stop()

    def describe(self) -> str:
        lines = [
            f"  OTLP in (Collector)   {self.collector.config.otlp_grpc_endpoint}  (writes only to Kafka)",
            f"  Kafka bootstrap       {self.kafka.bootstrap}  ({self.kafka.config.partitions} partitions a topic)",
            f"  PostgreSQL            {self.postgres.url}",
            f"  ingest workers        {len(self.workers)} (group telemetron-ingest)",
        ]
        lines += [f"  API replica {n}         {r.config.base_url}" for n, r in enumerate(self.replicas)]
        return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--run-dir", type=Path, default=REPO / "var" / "scaled")
    parser.add_argument("--once", action="store_true", help="stop right after printing where everything is")
    args = parser.parse_args()
    args.run_dir.mkdir(parents=True, exist_ok=True)
    args.run_dir.chmod(0o755)  # as root, PostgreSQL runs as the postgres user, which must reach its data
    stack = ScaledStack(args.run_dir, args.workers, args.replicas, args.partitions)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stack.start()
        print("Telemetron scaled stack is up.\n" + stack.describe(), flush=True)
        if not args.once:
            while not stopping.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
