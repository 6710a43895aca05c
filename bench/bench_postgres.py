"""Query latency on the PostgreSQL store at 1M spans: trace by id (target p99 <= 20 ms) and search
by service and attribute (target p99 <= 100 ms), as bench_queries.py measures them on SQLite.

    python bench/bench_postgres.py                     # 1,000,000 spans into a throwaway cluster
    python bench/bench_postgres.py --spans 200000 --runs 100

The data (bench_queries.py's GenAI-shaped traces and its 1,000-span trace) is written through the
PostgreSQL store's batching writer; one oracle_api process then serves it over HTTP
(TELEMETRON_STORE_URL), and each query is timed as a client sees it. Not a test.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import bench_queries as q  # noqa: E402 - the data, the client and the timing of the SQLite benchmark
import psycopg  # noqa: E402
import stack  # noqa: E402


def load(url: str, total: int, spans_per_trace: int) -> str:
    from telemetron_oracle_api.model import Decoded
    from telemetron_oracle_api.store.postgres import PostgresStore

    store = PostgresStore(url, queue_limit=10_000_000, batch_limit=20_000)
    started = time.perf_counter()
    written = 0
    for batch in q._records(total, spans_per_trace):
        store.write(Decoded(spans=batch), timeout=600)
        written += len(batch)
        if written % 200_000 == 0:
            print(f"  {written:,} spans written ({written / (time.perf_counter() - started):,.0f}/s)", flush=True)
    trace_id, big = q._big_trace(1000)
    store.write(Decoded(spans=big))
    store.close()
    print(f"loaded {written + len(big):,} spans in {time.perf_counter() - started:.1f}s", flush=True)
    return trace_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--spans-per-trace", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pg-", ignore_cleanup_errors=True) as name:
        tmp = Path(name)
        os.chmod(tmp, 0o755)
        (port,) = stack.free_ports(1)
        pg = stack.PostgresServer(stack.PostgresConfig(data_dir=tmp / "pg", port=port), tmp / "pg.log")
        pg.start()
        oracle = None
        try:
            big = load(pg.url, args.spans, args.spans_per_trace)
            with psycopg.connect(pg.url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
                size = conn.execute("SELECT pg_database_size(current_database())").fetchall()[0][0]
                ids = [
                    r[0]
                    for r in conn.execute("SELECT trace_id FROM traces ORDER BY random() LIMIT %s", (args.runs + 3,))
                ]
            print(f"database {size / 2**20:,.0f} MiB ({size / (args.spans + 1000):,.0f} B a span, indexes included)")
            oracle = stack.OracleApi(
                stack.OracleApiConfig.on_free_ports(
                    tmp / "unused.db", store_url=pg.url, log_level="warning", start_timeout=300
                ),
                log_path=tmp / "oracle.log",
            )
            oracle.start()
            client = q.LeanClient(oracle.config.base_url)
            rng = random.Random(1)
            n = args.runs
            print(f"\n{args.spans:,} spans stored in PostgreSQL; {n} runs each, over HTTP\n")
            q.timed(
                client,
                "trace by id, 1,000 spans: GET /api/v1/traces/{id}",
                lambda i: (f"/api/v1/traces/{big}", None),
                n,
                20,
            )
            q.timed(
                client,
                "trace by id, 1,000 spans: GET /api/traces/{id} (Jaeger)",
                lambda i: (f"/api/traces/{big}", None),
                n,
                20,
            )
            q.timed(
                client,
                "trace by id, 20 spans, a new trace each time (Jaeger)",
                lambda i: (f"/api/traces/{ids[i]}", None),
                n,
                20,
            )
            jaeger, rest, common, rare = q.attribute_searches(rng)
            q.timed(client, "search service + attribute (1 span in 16): Jaeger", jaeger(common), n, 100)
            q.timed(client, "search service + attribute (1 trace in 1,000): Jaeger", jaeger(rare), n, 100)
            q.timed(client, "search service + attribute (1 span in 16): REST", rest(common), n, 100)
            q.timed(client, "search service + attribute (1 trace in 1,000): REST", rest(rare), n, 100)
            q.timed(client, "list newest traces: REST", lambda i: ("/api/v1/traces", {"limit": 50}), n, None)
            client.close()
        finally:
            if oracle is not None:
                oracle.stop()
            pg.stop()


if __name__ == "__main__":
    main()
