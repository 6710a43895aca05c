"""Where oracle_api's disk goes per GenAI span: SQLite's dbstat per table and index, after a checkpoint.

    python bench/bench_disk.py --spans 100000

Sends bench_ingest.py's load (GenAI-shaped spans with 20 attributes, requests of 512) to a fresh
oracle_api over OTLP gRPC, exactly as bench_vs_jaeger.py's oracle_api side does, then prints the file's
size per span, the bytes per span of every table and index above 1 B, and the average stored length
of the spans columns. Not a test: the figures depend on the load's shape, not on the machine.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import build_requests  # noqa: E402 (bench/ on the path)
from bench_vs_jaeger import run_oracle_api  # noqa: E402

PER_REQUEST = 512
SPANS_PER_TRACE = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--random-trace-ids", action="store_true", help="as SDKs make them (default: counting up)")
    args = parser.parse_args()
    requests, _ = build_requests(args.spans, PER_REQUEST, SPANS_PER_TRACE, random_trace_ids=args.random_trace_ids)
    spans = len(requests) * PER_REQUEST
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, rss, disk = run_oracle_api(requests, Path(tmp))
        print(f"{spans:,} spans: {spans / elapsed:,.0f} spans/s acknowledged, file {disk / spans:.0f} B/span")
        with sqlite3.connect(Path(tmp) / "bench.db") as conn:
            rows = conn.execute(
                "SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            ).fetchall()
            for name, size, payload in rows:
                if size / spans > 1:
                    print(f"  {name:32s} {size / spans:6.1f} B/span (payload {payload / spans:6.1f})")
            columns = [r[1] for r in conn.execute("PRAGMA table_info(span_rows)") if r[2] in ("TEXT", "BLOB")]
            lengths = conn.execute(
                f"SELECT {', '.join(f'avg(length({c}))' for c in columns)} FROM span_rows"
            ).fetchone()
            print("  average length of the span_rows TEXT and BLOB columns (B):")
            print("   ", ", ".join(f"{c} {v:.0f}" for c, v in zip(columns, lengths, strict=True) if v))


if __name__ == "__main__":
    main()
