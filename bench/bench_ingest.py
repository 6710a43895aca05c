"""Ingest throughput: GenAI-shaped spans into oracle_api's OTLP receiver, directly or through the Collector.

    python bench/bench_ingest.py                      # straight into a fresh oracle_api process
    python bench/bench_ingest.py --via-collector      # agents → Collector → (Kafka + oracle_api)
    python bench/bench_ingest.py --spans 1000000 --memory-report   # RSS at 1M spans, and where it is

Prints spans/s (acknowledged), the time from the first send until the last span is returned by
GET /api/v1/traces/{id}, and, straight into oracle_api, the store's bytes per span once the WAL is
checkpointed and its RSS: the peak during the load, right after it, 6 s later (what it keeps once
its processes have given freed memory back), and after a round of queries (traces by id and
searches by service + attribute, REST and Jaeger, and the Oracle's state), as anonymous memory +
mapped files, each process's own, and the PSS of its processes added up (the pages they share
counted once: what the three together occupy). ``--memory-report`` adds, from inside oracle_api (bench/memory_probe), glibc's
heap and the live objects by type; ``--tracemalloc`` also the source lines holding the most
Python memory (slower ingest). Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT / "tests"))

from numbered_load import PeakRss, descendants, own_rss_bytes, pss_bytes, rss_bytes  # noqa: E402 (needs the path above)
from otlp_builders import TRACE_EXPORT, kv  # noqa: E402

MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "llama-3.1-70b"]
AGENTS = ["orchestrator", "researcher", "writer", "coder"]
SERVICE = "bench-agents"
MIB = 1024 * 1024
MEMORY_PROBE = Path(__file__).resolve().parent / "memory_probe"
# Past the give-back of freed memory in each of oracle_api's processes (_malloc.give_back_free_memory_every,
# child.FreeMemoryEvery): the memory it keeps.
SETTLE_S = 6.0


def genai_span(trace_id: bytes, span_id: int, parent: int, start_ns: int, rng: random.Random) -> Span:
    """One LLM call span shaped like our LiteLLM callback's: ~20 attributes."""
    model = rng.choice(MODELS)
    span = Span(
        trace_id=trace_id,
        span_id=span_id.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name=f"chat {model}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + rng.randrange(50_000_000, 3_000_000_000),
    )
    span.attributes.extend(
        [
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.provider.name", "openai"),
            kv("gen_ai.request.model", model),
            kv("gen_ai.response.model", model + "-2024-08-06"),
            kv("gen_ai.request.temperature", 0.2),
            kv("gen_ai.request.max_tokens", 512),
            kv("gen_ai.response.id", f"chatcmpl-{span_id:x}"),
            kv("gen_ai.response.finish_reasons", ["stop"]),
            kv("gen_ai.usage.input_tokens", rng.randrange(50, 4000)),
            kv("gen_ai.usage.output_tokens", rng.randrange(10, 800)),
            kv("gen_ai.agent.name", rng.choice(AGENTS)),
            kv("gen_ai.conversation.id", f"conv-{trace_id[:4].hex()}"),
            kv("server.address", "api.openai.com"),
            kv("server.port", 443),
            kv("telemetron.llm.cost.usd", 0.0012),
            kv("telemetron.llm.ratelimit.requests.limit", 10_000),
            kv("telemetron.llm.ratelimit.requests.remaining", 9_000),
            kv("telemetron.llm.ratelimit.tokens.limit", 2_000_000),
            kv("telemetron.llm.ratelimit.tokens.remaining", 1_900_000),
        ]
    )
    return span


def build_requests(
    total: int, per_request: int, spans_per_trace: int, *, random_trace_ids: bool = False
) -> tuple[list[bytes], str]:
    """OTLP requests of ``total`` GenAI spans; the last trace id. Trace ids count up unless ``random_trace_ids``
    (as SDKs make them), which a store's index by trace id writes at random places."""
    rng = random.Random(42)
    requests, now, span_no = [], time.time_ns(), 0
    last_trace = ""
    for _ in range(0, total, per_request):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.extend([kv("service.name", SERVICE), kv("service.version", "1.0")])
        ss = rs.scope_spans.add()
        ss.scope.name = "telemetron_instrumentation"
        for _ in range(per_request):
            trace_no = span_no // spans_per_trace
            trace_id = (
                (trace_no + 1).to_bytes(16, "big")
                if not random_trace_ids
                else random.Random(f"trace-{trace_no}").randbytes(16)
            )
            parent = (trace_no * spans_per_trace + 1) if span_no % spans_per_trace else 0
            ss.spans.append(genai_span(trace_id, span_no + 1, parent, now + span_no * 1000, rng))
            last_trace = trace_id.hex()
            span_no += 1
        requests.append(req.SerializeToString())
    return requests, last_trace


def send_all(endpoint: str, requests: list[bytes], concurrency: int) -> float:
    channel = grpc.insecure_channel(endpoint, options=[("grpc.max_send_message_length", 64 << 20)])
    call = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)

    def send(raw: bytes) -> None:
        for attempt in range(200):
            try:
                response = call(raw, timeout=120)
                if response.partial_success.rejected_spans:
                    raise RuntimeError(response.partial_success.error_message)
                return
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise RuntimeError("receiver stayed UNAVAILABLE")

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, requests))
    elapsed = time.perf_counter() - start
    channel.close()
    return elapsed


def wait_queryable(http_url: str, trace_id: str, spans: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=http_url, timeout=10) as client:
        while time.monotonic() < deadline:
            r = client.get(f"/api/v1/traces/{trace_id}")
            if r.status_code == 200 and len(r.json()["spans"]) >= spans:
                return
            time.sleep(0.01)
    raise TimeoutError(f"trace {trace_id} not queryable after {timeout}s")


def rss(pid: int) -> str:
    """RSS of oracle_api and its decoder and writer processes added up, split into anonymous memory and
    mapped files (shared libraries, mostly), then each process's own; and their PSS added up, which
    counts the library pages the three share once instead of three times."""
    anon, files = rss_bytes(pid, "RssAnon"), rss_bytes(pid, "RssFile")
    each = " + ".join(f"{own_rss_bytes(p) / MIB:.0f}" for p in [pid, *descendants(pid)])
    return (
        f"{rss_bytes(pid) / MIB:.0f} MiB ({anon / MIB:.0f} anonymous + {files / MIB:.0f} mapped files; {each} by process); "
        f"PSS {pss_bytes(pid) / MIB:.0f} MiB"
    )


def query_round(base_url: str, traces: int, rounds: int) -> None:
    """What a user does after the load: traces by id and searches by service + attribute, REST and
    Jaeger, and the Oracle's state, ``rounds`` times each, so oracle_api's read caches fill up."""
    rng = random.Random(7)
    with httpx.Client(base_url=base_url, timeout=120) as client:
        for _ in range(rounds):
            trace = (rng.randrange(traces) + 1).to_bytes(16, "big").hex()
            model = json.dumps({"gen_ai.request.model": rng.choice(MODELS)})
            agent = json.dumps({"gen_ai.agent.name": rng.choice(AGENTS)})
            queries: list[tuple[str, dict[str, str | int]]] = [
                (f"/api/v1/traces/{trace}", {}),
                (f"/api/traces/{trace}", {}),
                ("/api/v1/traces", {"service": SERVICE, "attributes": model, "limit": 20}),
                ("/api/traces", {"service": SERVICE, "tags": agent, "limit": 20}),
                ("/api/v1/oracle/state", {}),
            ]
            for path, params in queries:
                client.get(path, params=params).raise_for_status()


def memory_report(report: Path, timeout: float = 120) -> str:
    """Asks bench/memory_probe inside oracle_api for its report and returns it."""
    Path(f"{report}.please").touch()
    deadline = time.monotonic() + timeout
    while not report.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"oracle_api wrote no memory report to {report} (is bench/memory_probe on its path?)")
        time.sleep(0.2)
    return report.read_text()


def probe_memory(workdir: Path, trace_python: bool) -> Path:
    """Loads bench/memory_probe into the oracle_api started next (children inherit this environment)."""
    report = workdir / "memory-report.txt"
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(MEMORY_PROBE), os.environ.get("PYTHONPATH")]))
    os.environ["TELEMETRON_BENCH_MEMORY_REPORT"] = str(report)
    if trace_python:
        os.environ["PYTHONTRACEMALLOC"] = "1"
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--per-request", type=int, default=1000)
    parser.add_argument("--spans-per-trace", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--via-collector", action="store_true", help="start Kafka + Collector and send to it")
    parser.add_argument("--queries", type=int, default=100, help="rounds of queries after the load (straight only)")
    parser.add_argument("--memory-report", action="store_true", help="where oracle_api's memory is, after the queries")
    parser.add_argument("--tracemalloc", action="store_true", help="the report with Python source lines (slower)")
    args = parser.parse_args()

    import stack

    requests, last_trace = build_requests(args.spans, args.per_request, args.spans_per_trace)
    total = len(requests) * args.per_request
    with tempfile.TemporaryDirectory(prefix="telemetron-bench-") as tmp:
        workdir = Path(tmp)
        if args.via_collector:
            config = stack.StackConfig.on_free_ports(workdir, with_mock_provider=False)
            with stack.Stack(config) as running:
                endpoint = running.collector.config.otlp_grpc_endpoint.removeprefix("http://")
                http_url = running.oracle_api.config.base_url
                elapsed = send_all(endpoint, requests, args.concurrency)
                start_wait = time.perf_counter()
                wait_queryable(http_url, last_trace, args.spans_per_trace)
                lag = time.perf_counter() - start_wait
        else:
            report = probe_memory(workdir, args.tracemalloc) if args.memory_report or args.tracemalloc else None
            oracle = stack.OracleApi(
                stack.OracleApiConfig.on_free_ports(workdir / "bench.db", log_level="warning"),
                log_path=workdir / "oracle.log",
            )
            oracle.start()
            pid = oracle.pid or 0
            try:
                with PeakRss({"oracle_api": lambda: oracle.pid}) as peak:
                    elapsed = send_all(oracle.config.grpc_endpoint, requests, args.concurrency)
                    start_wait = time.perf_counter()
                    wait_queryable(oracle.config.base_url, last_trace, args.spans_per_trace)
                    lag = time.perf_counter() - start_wait
                after_load = rss(pid)
                time.sleep(SETTLE_S)
                settled = rss(pid)
                query_round(oracle.config.base_url, total // args.spans_per_trace, args.queries)
                after_queries = rss(pid)
                inside = memory_report(report) if report else ""
            finally:
                oracle.stop()
            db = oracle.config.db_path
            with sqlite3.connect(db) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            footprint = f"store {db.stat().st_size / total:,.0f} B/span"
    path = "agents → Collector → oracle_api (+ Kafka)" if args.via_collector else "straight into oracle_api"
    print(f"path:                     {path}")
    print(f"spans sent:               {total} in {len(requests)} requests of {args.per_request}")
    print(f"acknowledged throughput:  {total / elapsed:,.0f} spans/s ({elapsed:.2f} s)")
    print(
        f"last span queryable:      {elapsed + lag:.2f} s after the first send ({lag * 1000:.0f} ms after the last ack)"
    )
    if not args.via_collector:
        print(f"oracle_api:               {footprint} (after a checkpoint)")
        print(f"RSS peak during the load: {peak.peak['oracle_api'] / MIB:.0f} MiB")
        print(f"RSS after the load:       {after_load}")
        print(f"RSS {SETTLE_S:.0f} s after it:         {settled}")
        print(f"RSS after {args.queries} query rounds: {after_queries}")
        if inside:
            print("inside oracle_api after the queries (bench/memory_probe):")
            print(inside, end="")


if __name__ == "__main__":
    main()
