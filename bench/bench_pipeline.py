"""The whole pipeline at a steady rate: numbered spans → Collector → Kafka + oracle_api, on free ports.

    python bench/bench_pipeline.py --rate 10000 --seconds 60

Offers ``--rate`` spans/s (20 attributes, requests of 512) for ``--seconds`` from Python sender
threads (they may fall short of the rate: the acknowledged rate is printed), samples the
Collector's on-disk queue towards oracle_api every second, and prints it every 5 s: oracle_api
keeps up in real time when that queue stays flat. Then the usual accounting (bench_faults.py): spans lost
and duplicated in the store and on Kafka, and the drain time after the load. Not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_faults import ROOT, QueuePeak, report  # noqa: E402 (bench/ on the path)

sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT / "tests"))
import stack  # noqa: E402
from numbered_load import NumberedSender, PeakRss, collector_metric  # noqa: E402

MIB_PER_BYTE = 1 / (1024 * 1024)


def queue_mib(collector: stack.Collector) -> float:
    """MiB waiting in the Collector's on-disk queue towards oracle_api (traces)."""
    return MIB_PER_BYTE * collector_metric(
        collector.config.metrics_url, "otelcol_exporter_queue_size", exporter="otlp_grpc/oracle_api", data_type="traces"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--per-request", type=int, default=512)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="telemetron-pipeline-") as tmp:
        config = stack.StackConfig.on_free_ports(Path(tmp), with_mock_provider=False)
        with stack.Stack(config) as running:
            endpoint = running.collector.config.otlp_grpc_endpoint.removeprefix("http://")
            pids = {"oracle_api": lambda: running.oracle_api.pid, "collector": lambda: running.collector.pid}
            samples: list[tuple[float, float, int]] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(1.0):
                    try:
                        samples.append((time.monotonic() - t0, queue_mib(running.collector), sender.acked_count))
                    except httpx.HTTPError:
                        continue

            with PeakRss(pids) as rss, QueuePeak(running.collector) as queue:
                sender = NumberedSender(
                    endpoint, per_request=args.per_request, threads=args.threads, rate=args.rate, attributes=20
                ).start()
                t0 = time.monotonic()
                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                time.sleep(args.seconds)
                sender.stop()
                load_s = time.monotonic() - t0
                stop.set()
                sampler.join()
                print("s      queue (MiB)   acknowledged")
                for at, items, acked in samples[4::5]:
                    print(f"{at:5.0f}  {items:11.1f}   {acked:,}")
                report(
                    f"steady {args.rate:,.0f} spans/s offered for {args.seconds:.0f} s",
                    running,
                    sender,
                    load_s,
                    rss,
                    queue,
                )


if __name__ == "__main__":
    main()
