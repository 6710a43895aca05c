"""Ingest and query latency while retention deletes, against the same load without retention, interleaved.

    python bench/bench_retention.py --spans 200000 --max-mb 60 --rounds 2

Each round runs two fresh oracle_api processes one after the other on the same requests: one with
no retention, one whose size limit is reached early in the run, so retention deletes old traces in
steps between the writer's batches for most of it. While the spans are sent, a second client asks
for a recent trace (GET /api/v1/traces/{id}) and searches (GET /api/v1/traces?agent=...) without
pause. Prints acknowledged spans/s, query p50/p99 and the store's size at the end. Not a test.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import AGENTS, ROOT, build_requests, send_all  # noqa: E402 (bench/ on the path)

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import stack  # noqa: E402


def query_while(base_url: str, traces: int, stop: threading.Event, sent: list[int]) -> dict[str, list[float]]:
    """Latencies (ms) of trace reads and searches, asked in turn until ``stop``."""
    rng = random.Random(1)
    out: dict[str, list[float]] = {"trace": [], "search": []}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not stop.is_set():
            # A trace among the last ones acknowledged: retention must not slow down reading what is kept.
            newest = max(1, sent[0] // 20)
            trace_no = rng.randrange(max(1, newest - 50), newest + 1)
            started = time.perf_counter()
            client.get(f"/api/v1/traces/{trace_no.to_bytes(16, 'big').hex()}")
            out["trace"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            client.get("/api/v1/traces", params={"agent": rng.choice(AGENTS), "limit": 20})
            out["search"].append((time.perf_counter() - started) * 1000)
    return out


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 2 else float("nan")


def one_run(requests: list[bytes], per_request: int, max_bytes: int, workdir: Path) -> dict:
    db = workdir / f"bench-{time.monotonic_ns()}.db"
    config = stack.OracleApiConfig.on_free_ports(
        db, log_level="warning", retention_max_bytes=max_bytes, retention_interval_seconds=1.0
    )
    oracle = stack.OracleApi(config, log_path=workdir / "oracle.log")
    oracle.start()
    try:
        stop, sent = threading.Event(), [0]
        latencies: dict[str, list[float]] = {}
        reader = threading.Thread(target=lambda: latencies.update(query_while(config.base_url, 0, stop, sent)))
        reader.start()
        started = time.perf_counter()
        for i in range(0, len(requests), 16):  # in slices, so the reader knows which traces exist
            send_all(config.grpc_endpoint, requests[i : i + 16], 4)
            sent[0] = (i + 16) * per_request
        elapsed = time.perf_counter() - started
        stop.set()
        reader.join()
        with sqlite3.connect(db) as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
            spans = conn.execute("SELECT count(*) FROM span_rows").fetchone()[0]
    finally:
        oracle.stop()
    return {
        "rate": len(requests) * per_request / elapsed,
        "trace": latencies["trace"],
        "search": latencies["search"],
        "file_mb": pages * size / 2**20,
        "used_mb": (pages - free) * size / 2**20,
        "spans": spans,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--per-request", type=int, default=512)
    parser.add_argument("--max-mb", type=float, default=60.0, help="size limit of the run with retention")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    requests, _ = build_requests(args.spans, args.per_request, 20)
    rows = []
    with tempfile.TemporaryDirectory(prefix="telemetron-bench-") as tmp:
        for _ in range(args.rounds):
            for label, limit in (("no retention", 0), (f"size limit {args.max_mb:g} MB", int(args.max_mb * 2**20))):
                r = one_run(requests, args.per_request, limit, Path(tmp))
                rows.append((label, r))
                print(
                    f"{label:22} {r['rate']:>8,.0f} spans/s  trace p50 {p(r['trace'], 50):6.1f} p99 "
                    f"{p(r['trace'], 99):6.1f} ms  search p50 {p(r['search'], 50):6.1f} p99 {p(r['search'], 99):6.1f} ms"
                    f"  file {r['file_mb']:6.1f} MB (in use {r['used_mb']:.1f}), {r['spans']:,} spans kept",
                    flush=True,
                )


if __name__ == "__main__":
    main()
