"""The whole pipeline at a steady rate: GenAI spans → Collector → Kafka + oracle_api, on free ports.

    python bench/bench_pipeline.py --rate 10000 --seconds 60                   # telemetrygen sends
    python bench/bench_pipeline.py --rate 10000 --seconds 60 --sender python   # numbered spans

Offers ``--rate`` spans/s for ``--seconds`` to the Collector's OTLP gRPC receiver, samples the
Collector's on-disk queue towards oracle_api, the spans it accepted and the spans oracle_api
committed about every second, and prints them every 5 samples.

The queue is *flat*, and oracle_api keeps up in real time, when its size at the end of the load is
at most 8 MiB (FLAT_SLACK_MIB) above its size 10 s into the load (FLAT_FROM_S; 8 MiB is about one
8,192-span batch the Collector cuts from the queue, at ~870 B a queued span) and it never exceeds
32 MiB (FLAT_CEILING_MIB).

``--sender telemetrygen`` (bench/telemetrygen.py, Go, cheap on CPU) sends from ``--senders``
processes traces of ``--spans-per-trace`` spans with 20 GenAI attributes. Its spans are not numbered, so they are
counted: generated (telemetrygen's own count), accepted by the Collector's receiver (its
``otelcol_receiver_accepted_spans`` metric), stored in oracle_api (rows in its SQLite file) and
distinct on the Kafka spans topic; lost = accepted - stored. ``--sender python`` keeps the numbered
Python sender (tests/numbered_load.py), which counts span by span but is CPU-bound near 5k spans/s
here. Both print the drain time after the load and the peak RSS. Not a test.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_faults import ROOT, QueuePeak, report  # noqa: E402 (bench/ on the path)
from telemetrygen import Telemetrygen  # noqa: E402

sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT / "tests"))
import stack  # noqa: E402
from numbered_load import (  # noqa: E402
    NumberedSender,
    PeakRss,
    Sampling,
    collector_metric,
    cpu_seconds,
    descendants,
    kafka_spans,
    rss_bytes,
)

MIB = 1024 * 1024
FLAT_SLACK_MIB = 8.0
FLAT_CEILING_MIB = 32.0
FLAT_FROM_S = 10.0


def queue_mib(collector: stack.Collector) -> float:
    """MiB waiting in the Collector's on-disk queue towards oracle_api (traces)."""
    return (
        collector_metric(
            collector.config.metrics_url,
            "otelcol_exporter_queue_size",
            exporter="otlp_grpc/oracle_api",
            data_type="traces",
        )
        / MIB
    )


def accepted_spans(collector: stack.Collector) -> int:
    """Spans the Collector's OTLP receiver accepted since it started."""
    return int(collector_metric(collector.config.metrics_url, "otelcol_receiver_accepted_spans", receiver="otlp"))


@dataclass
class Sample:
    at: float  # seconds since the load started
    queue_mib: float
    accepted: int  # by the Collector's receiver
    committed: int  # by oracle_api's store


class QueueSampler(Sampling):
    """Samples the Collector's queue towards oracle_api, its accepted spans and oracle_api's
    committed spans every second."""

    def __init__(self, running: stack.Stack) -> None:
        super().__init__(1.0)
        self.samples: list[Sample] = []
        self._running = running
        self._t0 = time.monotonic()

    def sample(self) -> None:
        collector = self._running.collector
        try:
            queue, accepted = queue_mib(collector), accepted_spans(collector)
            committed = committed_spans(self._running.oracle_api.config.base_url)
        except httpx.HTTPError:
            return
        self.samples.append(Sample(time.monotonic() - self._t0, queue, accepted, committed))

    def print_table(self) -> None:
        print("s      queue (MiB)   accepted by the Collector   committed by oracle_api")
        for sample in self.samples[4::5]:
            print(f"{sample.at:5.0f}  {sample.queue_mib:11.1f}   {sample.accepted:>25,}   {sample.committed:>23,}")

    def rates(self) -> str:
        """Spans/s accepted by the Collector and committed by oracle_api from FLAT_FROM_S to the last sample."""
        if not self.samples:
            return "no samples"
        start = next((s for s in self.samples if s.at >= FLAT_FROM_S), self.samples[0])
        end = self.samples[-1]
        span = max(end.at - start.at, 1e-9)
        return (
            f"from {start.at:.0f} s to {end.at:.0f} s the Collector accepted {(end.accepted - start.accepted) / span:,.0f} "
            f"spans/s and oracle_api committed {(end.committed - start.committed) / span:,.0f}"
        )

    def flat(self) -> tuple[bool, str]:
        """Whether the queue stayed flat (module docstring), with the numbers that decide it."""
        if not self.samples:
            return False, "no samples"
        start = next((s for s in self.samples if s.at >= FLAT_FROM_S), self.samples[0])
        end = self.samples[-1]
        peak = max(s.queue_mib for s in self.samples)
        growth = end.queue_mib - start.queue_mib
        slope = growth / (end.at - start.at) if end.at > start.at else 0.0
        flat = growth <= FLAT_SLACK_MIB and peak <= FLAT_CEILING_MIB
        return flat, (
            f"{start.queue_mib:.1f} MiB at {start.at:.0f} s, {end.queue_mib:.1f} at {end.at:.0f} s "
            f"({slope:+.2f} MiB/s), peak {peak:.1f}; flat means growth <= {FLAT_SLACK_MIB:.0f} MiB "
            f"and peak <= {FLAT_CEILING_MIB:.0f} MiB"
        )


def stored_spans(db_path: Path) -> int:
    """Span rows in oracle_api's SQLite file (a span delivered twice is one row)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM span_rows").fetchone()[0])
    finally:
        conn.close()


def committed_spans(base_url: str) -> int:
    """Spans oracle_api has committed since it started, as its /health reports them (cheap to poll)."""
    return int(httpx.get(base_url + "/health", timeout=10).json()["committed_spans"])


def wait_drained(running: stack.Stack, accepted: int, timeout: float, idle: float = 30.0) -> tuple[int, float]:
    """Polls until the store holds ``accepted`` spans, or the Collector's queue is empty and nothing
    new was committed for ``idle`` seconds (then the rest is lost); returns (stored, seconds)."""
    oracle = running.oracle_api.config
    t0 = time.monotonic()
    last_committed, last_change = -1, t0
    while True:
        committed = committed_spans(oracle.base_url)
        now = time.monotonic()
        if committed != last_committed:
            last_committed, last_change = committed, now
        if committed >= accepted:
            stored = stored_spans(oracle.db_path)
            if stored >= accepted:
                return stored, now - t0
        if now - last_change > idle and queue_mib(running.collector) == 0:
            return stored_spans(oracle.db_path), now - t0
        if now - t0 > timeout:
            raise TimeoutError(f"{committed:,} of {accepted:,} accepted spans committed after {timeout:.0f} s")
        time.sleep(0.5)


def kafka_distinct(bootstrap: str) -> tuple[int, int]:
    """(distinct spans, extra copies) on the Kafka spans topic."""
    seen: set[bytes] = set()
    total = 0
    for span in kafka_spans(bootstrap, stack.SPANS_TOPIC, timeout=600):
        seen.add(span.trace_id + span.span_id)
        total += 1
    return len(seen), total - len(seen)


def tree_cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process and its descendants (oracle_api's decoder and writer processes)
    have used (0 when it is gone)."""
    return 0.0 if pid is None else sum(cpu_seconds(p) for p in [pid, *descendants(pid)])


def load_average() -> str:
    return "load average " + ", ".join(f"{load:.2f}" for load in os.getloadavg())


def run_telemetrygen(running: stack.Stack, args: argparse.Namespace, workdir: Path, rss: PeakRss) -> None:
    endpoint = running.collector.config.otlp_grpc_endpoint.removeprefix("http://")
    sender = Telemetrygen(
        endpoint,
        workdir,
        rate=args.rate,
        seconds=args.seconds,
        processes=args.senders,
        spans_per_trace=args.spans_per_trace,
        per_request=args.per_request,
    )
    load_before = load_average()
    parts = {"oracle_api": running.oracle_api, "Collector": running.collector, "Kafka": running.kafka}
    cpu_before = {name: tree_cpu_seconds(part.pid) for name, part in parts.items()}
    with QueueSampler(running) as sampler:
        t0 = time.monotonic()
        sender.start()
        try:
            generated = sender.wait(timeout=args.seconds + 120)
        finally:
            sender.kill()
        load_s = time.monotonic() - t0
    load_after = load_average()
    cpu = {name: tree_cpu_seconds(part.pid) - cpu_before[name] for name, part in parts.items()}
    cpu["telemetrygen"] = sender.cpu_seconds
    accepted = accepted_spans(running.collector)
    refused = int(collector_metric(running.collector.config.metrics_url, "otelcol_receiver_refused_spans"))
    stored, drain = wait_drained(running, accepted, timeout=args.drain_timeout)
    oracle_rss_after = rss_bytes(running.oracle_api.pid or 0)
    on_kafka, kafka_copies = kafka_distinct(running.kafka.bootstrap)
    flat, flat_numbers = sampler.flat()
    sampler.print_table()
    print(f"--- telemetrygen ({args.senders} processes), {args.rate:,.0f} spans/s asked for {args.seconds:.0f} s")
    print(f"machine:                  {load_before} before the load, {load_after} after it")
    print(
        f"offered:                  {generated:,} spans generated by telemetrygen ({generated / args.seconds:,.0f}/s); "
        f"{accepted:,} accepted by the Collector ({accepted / load_s:,.0f}/s over {load_s:.1f} s), {refused:,} refused, "
        f"{generated - accepted - refused:,} dropped inside telemetrygen"
    )
    print(f"queue flat:               {'yes' if flat else 'no'} ({flat_numbers})")
    print(f"keeping up:               {sampler.rates()}")
    print(
        "CPU during the load:      "
        + ", ".join(f"{name} {seconds / load_s:.0%}" for name, seconds in cpu.items())
        + " of one core (2 cores: 200%)"
    )
    print(f"store:                    {stored:,} stored, lost {accepted - stored:,} (accepted - stored)")
    print(
        f"kafka spans topic:        {on_kafka:,} distinct spans, lost {accepted - on_kafka:,}, {kafka_copies:,} extra copies"
    )
    print(f"drain after the load:     {drain:.1f} s until every accepted span was stored")
    print(
        f"RSS:                      oracle_api peak {rss.peak['oracle_api'] / MIB:.0f} MiB, "
        f"{oracle_rss_after / MIB:.0f} MiB after the drain; Collector peak {rss.peak['collector'] / MIB:.0f} MiB "
        f"({rss.peak_anon['collector'] / MIB:.0f} MiB without its mapped queue files)"
    )


def run_python(running: stack.Stack, args: argparse.Namespace, rss: PeakRss) -> None:
    endpoint = running.collector.config.otlp_grpc_endpoint.removeprefix("http://")
    with QueuePeak(running.collector) as queue, QueueSampler(running) as sampler:
        sender = NumberedSender(
            endpoint, per_request=args.per_request, threads=args.threads, rate=args.rate, attributes=20
        ).start()
        t0 = time.monotonic()
        time.sleep(args.seconds)
        sender.stop()
        load_s = time.monotonic() - t0
    sampler.print_table()
    flat, flat_numbers = sampler.flat()
    print(f"queue flat:               {'yes' if flat else 'no'} ({flat_numbers}); {load_average()}")
    print(f"keeping up:               {sampler.rates()}")
    report(f"steady {args.rate:,.0f} spans/s offered for {args.seconds:.0f} s", running, sender, load_s, rss, queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sender", choices=["telemetrygen", "python"], default="telemetrygen")
    parser.add_argument("--rate", type=float, default=10_000, help="spans/s offered in total")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--per-request", type=int, default=512, help="spans per OTLP request")
    parser.add_argument("--spans-per-trace", type=int, default=10, help="telemetrygen: a parent and its children")
    parser.add_argument("--senders", type=int, default=4, help="telemetrygen: processes, each exporting on its own")
    parser.add_argument("--threads", type=int, default=4, help="python: sender threads")
    parser.add_argument("--drain-timeout", type=float, default=1800.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="telemetron-pipeline-") as tmp:
        config = stack.StackConfig.on_free_ports(Path(tmp), with_mock_provider=False)
        with stack.Stack(config) as running:
            pids = {"oracle_api": lambda: running.oracle_api.pid, "collector": lambda: running.collector.pid}
            with PeakRss(pids) as rss:
                if args.sender == "telemetrygen":
                    run_telemetrygen(running, args, Path(tmp), rss)
                else:
                    run_python(running, args, rss)


if __name__ == "__main__":
    main()
