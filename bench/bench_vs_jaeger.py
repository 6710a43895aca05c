"""oracle_api's receiver against Jaeger v2 (Badger) on the same load, interleaved in one run.

    python bench/bench_vs_jaeger.py --spans 100000 --rounds 3

The same OTLP sender (bench_ingest.py: GenAI-shaped spans with 20 attributes, requests of 512
spans, 4 at a time) sends the same requests to a fresh oracle_api and a fresh Jaeger v2 in turn,
each round. Prints acknowledged spans/s, RSS after the load, and disk per span once each has
stopped (oracle_api's WAL checkpointed; blocks actually allocated, as ``du`` counts them). Jaeger v2
is built from the Go module proxy on first use (bench/jaeger_v2.py). Not a test.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import ROOT, build_requests, send_all  # noqa: E402 (bench/ on the path)
from jaeger_v2 import VERSION, Jaeger  # noqa: E402
from numbered_load import rss_bytes  # noqa: E402 (tests/, on the path since bench_ingest)

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import stack  # noqa: E402


def allocated_bytes(paths: list[Path]) -> int:
    """Bytes of disk blocks the files hold (a preallocated, sparse Badger value log counts what it uses)."""
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return sum(f.stat().st_blocks * 512 for f in files)


def run_oracle_api(requests: list[bytes], workdir: Path) -> tuple[float, float, int]:
    db = workdir / "bench.db"
    oracle = stack.OracleApi(
        stack.OracleApiConfig.on_free_ports(db, log_level="warning"), log_path=workdir / "oracle.log"
    )
    oracle.start()
    try:
        elapsed = send_all(oracle.config.grpc_endpoint, requests, 4)
        rss = rss_bytes(oracle.pid or 0) / 2**20
    finally:
        oracle.stop()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return elapsed, rss, allocated_bytes([db, db.with_name(db.name + "-wal")])


def run_jaeger(requests: list[bytes], workdir: Path, batch: bool) -> tuple[float, float, int]:
    jaeger = Jaeger(workdir, batch=batch)
    jaeger.start()
    try:
        elapsed = send_all(jaeger.grpc_endpoint, requests, 4)
        rss = rss_bytes(jaeger.pid or 0) / 2**20
    finally:
        jaeger.stop()
    return elapsed, rss, allocated_bytes([jaeger.data])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--jaeger-batch",
        action="store_true",
        help="also run Jaeger with its sample config's batch processor (it then answers before its storage write)",
    )
    args = parser.parse_args()
    requests, _ = build_requests(args.spans, 512, 20)
    spans = len(requests) * 512
    runners: dict[str, Callable[[list[bytes], Path], tuple[float, float, int]]] = {
        "oracle_api": run_oracle_api,
        f"Jaeger v2 {VERSION} (Badger)": lambda r, w: run_jaeger(r, w, batch=False),
    }
    if args.jaeger_batch:
        runners[f"Jaeger v2 {VERSION} + batch"] = lambda r, w: run_jaeger(r, w, batch=True)
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runners}
    for round_no in range(args.rounds):
        for name, run in runners.items():
            with tempfile.TemporaryDirectory(prefix="telemetron-vs-jaeger-") as tmp:
                elapsed, rss, disk = run(requests, Path(tmp))
            results[name].append((spans / elapsed, rss, disk / spans))
            print(
                f"round {round_no + 1} {name:28} {spans / elapsed:>9,.0f} spans/s  RSS {rss:6.0f} MB  "
                f"{disk / spans:6.0f} B/span",
                flush=True,
            )
            time.sleep(1)  # let the machine settle between processes
    print(f"\n{spans:,} spans in requests of 512, 4 at a time, {args.rounds} interleaved rounds (median)")
    print(f"| | {' | '.join(runners)} |\n|---|{'---|' * len(runners)}")
    for i, what in enumerate(("spans/s acknowledged", "RSS after the load (MB)", "disk per span (B)")):
        cells = [f"{statistics.median(r[i] for r in results[name]):,.0f}" for name in runners]
        print(f"| {what} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
