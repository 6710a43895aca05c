"""Faults and overload, minutes long: numbered spans through a whole stack on free ports (Kafka,
the Collector, oracle_api) while the three are SIGKILLed and restarted in turn, then an overload
past what oracle_api can drain.

    python bench/bench_faults.py --minutes 3 --kill-every 20 --overload-rate 26000 --overload-seconds 60

Prints, for each phase, acknowledged spans, spans lost and duplicated in the store and on Kafka,
the drain time after the load stops, and peak RSS. Not a test (tests/test_faults.py is the short
version); numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT / "tests"))

import stack  # noqa: E402 (needs the path above)
from numbered_load import (  # noqa: E402
    NumberedSender,
    PeakRss,
    collector_metric,
    kafka_seqs,
    rss_bytes,
    wait_stored,
)

MIB = 1024 * 1024


class QueuePeak:
    """Samples the Collector's on-disk queue towards oracle_api (bytes) and keeps the peak."""

    def __init__(self, collector: stack.Collector) -> None:
        self.peak = 0.0
        self._collector = collector
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> QueuePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                value = collector_metric(
                    self._collector.config.metrics_url,
                    "otelcol_exporter_queue_size",
                    exporter="otlp_grpc/oracle_api",
                    data_type="traces",
                )
            except httpx.HTTPError:
                continue  # the Collector is restarting
            self.peak = max(self.peak, value)


def report(
    name: str, running: stack.Stack, sender: NumberedSender, load_s: float, rss: PeakRss, queue: QueuePeak
) -> None:
    t0 = time.monotonic()
    stored = wait_stored(running.oracle_api.config.db_path, sender, timeout=1800)
    drain = time.monotonic() - t0
    on_kafka = kafka_seqs(running.kafka.bootstrap, stack.SPANS_TOPIC, sender.run)
    acked = sender.acked
    health = httpx.get(running.oracle_api.config.base_url + "/health", timeout=10).json()
    print(f"--- {name}")
    print(
        f"acknowledged:             {len(acked):,} spans in {load_s:.0f} s ({len(acked) / load_s:,.0f} spans/s); "
        f"{sender.failed_attempts:,} failed attempts retried"
    )
    print(
        f"store:                    lost {len(acked - stored.keys())}, duplicated {sum(n - 1 for n in stored.values())}, "
        f"unacknowledged but stored {len(stored.keys() - acked)}"
    )
    print(
        f"kafka spans topic:        lost {len(acked - on_kafka.keys())}, duplicated {sum(n - 1 for n in on_kafka.values())} "
        f"(spans on it more than once: {sum(1 for n in on_kafka.values() if n > 1)})"
    )
    print(f"drain after the load:     {drain:.1f} s until every acknowledged span was stored")
    print(
        f"peak RSS:                 oracle_api {rss.peak['oracle_api'] / MIB:.0f} MiB, "
        f"collector {rss.peak['collector'] / MIB:.0f} MiB (without mapped files: oracle_api "
        f"{rss.peak_anon['oracle_api'] / MIB:.0f} MiB, collector {rss.peak_anon['collector'] / MIB:.0f} MiB)"
    )
    print(f"peak Collector queue:     {queue.peak / MIB:.0f} MiB on disk towards oracle_api (traces)")
    print(f"oracle_api receiver:      {health['receiver']['traces']}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the kill phase")
    parser.add_argument("--kill-every", type=float, default=20.0, help="seconds between kills")
    parser.add_argument("--rate", type=float, default=2000, help="spans/s offered during the kill phase")
    parser.add_argument("--overload-rate", type=float, default=26000, help="spans/s offered in the overload phase")
    parser.add_argument("--overload-seconds", type=float, default=60.0)
    parser.add_argument("--per-request", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="telemetron-faults-") as tmp:
        config = stack.StackConfig.on_free_ports(Path(tmp), with_mock_provider=False)
        with stack.Stack(config) as running:
            endpoint = running.collector.config.otlp_grpc_endpoint.removeprefix("http://")
            pids = {
                "oracle_api": lambda: running.oracle_api.pid,
                "collector": lambda: running.collector.pid,
            }
            print(
                f"RSS at start:             oracle_api {rss_bytes(pids['oracle_api']() or 0) / MIB:.0f} MiB, "
                f"collector {rss_bytes(pids['collector']() or 0) / MIB:.0f} MiB"
            )

            victims = itertools.cycle(
                [("collector", running.collector), ("oracle_api", running.oracle_api), ("kafka", running.kafka)]
            )
            kills: Counter[str] = Counter()
            with PeakRss(pids) as rss, QueuePeak(running.collector) as queue:
                sender = NumberedSender(endpoint, per_request=args.per_request, threads=2, rate=args.rate).start()
                t0 = time.monotonic()
                end = t0 + args.minutes * 60
                while time.monotonic() + args.kill_every < end:
                    time.sleep(args.kill_every)
                    name, part = next(victims)
                    down = time.monotonic()
                    part.kill()
                    part.start()
                    kills[name] += 1
                    print(f"killed and restarted {name} ({time.monotonic() - down:.1f} s down)", flush=True)
                time.sleep(max(0.0, end - time.monotonic()))
                sender.stop()
                report(
                    f"kill phase: {dict(kills)} SIGKILLs at {args.rate:,.0f} spans/s offered",
                    running,
                    sender,
                    time.monotonic() - t0,
                    rss,
                    queue,
                )

            with PeakRss(pids) as rss, QueuePeak(running.collector) as queue:
                sender = NumberedSender(
                    endpoint, per_request=args.per_request, threads=6, rate=args.overload_rate
                ).start()
                t0 = time.monotonic()
                time.sleep(args.overload_seconds)
                sender.stop()
                load_s = time.monotonic() - t0
                report(
                    f"overload: {args.overload_rate:,.0f} spans/s asked for {args.overload_seconds:.0f} s",
                    running,
                    sender,
                    load_s,
                    rss,
                    queue,
                )


if __name__ == "__main__":
    main()
