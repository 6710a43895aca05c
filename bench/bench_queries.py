"""Query latency over a large store, and ingest throughput with a stalled live-stream client.

    python bench/bench_queries.py                      # 1,000,000 spans, then the query timings
    python bench/bench_queries.py --spans 200000       # a quicker run
    python bench/bench_queries.py --stream             # ingest with and without a stalled WebSocket client

Queries: a trace of 1,000 spans by id (REST, Jaeger v1, api_v3; target p99 <= 20 ms) and trace
search by service and attribute over every stored span (Jaeger and REST; target p99 <= 100 ms),
each timed over HTTP against a separate oracle_api process, as a client sees it. The Jaeger
trace is timed once more while spans arrive over gRPC, so the receiver and writer threads are
busy. The data is written straight through the store's batching writer (the same code the
receiver uses), which is much faster than sending a million spans over gRPC. Not a test:
numbers depend on the machine; the first two lines time fixed Python work (arithmetic, and
allocation-heavy work like rendering) to show how much, at that moment.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import stack  # noqa: E402 - deploy/local/stack.py: starts, health-checks and stops oracle_api

SERVICES = [f"agents-{i}" for i in range(10)]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "llama-3.1-70b"]
AGENTS = ["orchestrator", "researcher", "writer", "coder", "critic"]
CUSTOMERS = 1000
INGEST_RATE = 5000  # about half of what oracle_api ingests directly on this machine


def _records(total: int, spans_per_trace: int, seed: int = 7):
    """Yield batches of SpanRecords: GenAI-shaped traces spread over the last 24 hours."""
    from telemetron_oracle_api.model import Resource, SpanRecord
    from telemetron_oracle_api.receiver.normalize import promote

    rng = random.Random(seed)
    resources = [
        Resource(key=f"bench{i:04d}", service_name=s, attributes={"service.name": s, "host.name": f"h{i}"})
        for i, s in enumerate(SERVICES)
    ]
    now = time.time_ns()
    batch: list = []
    traces = total // spans_per_trace
    for t in range(traces):
        trace_id = f"{0xBE00 << 96 | t:032x}"
        start = now - rng.randrange(24 * 3600 * 10**9)
        resource = resources[t % len(resources)]
        customer = f"cust-{rng.randrange(CUSTOMERS)}"
        for n in range(spans_per_trace):
            kind = n % 4
            attrs: dict = {"customer.id": customer, "telemetron.task.id": f"task-{t}", "n": n}
            if kind == 0:
                agent = rng.choice(AGENTS)
                name = f"invoke_agent {agent}"
                attrs.update({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent})
            elif kind == 1:
                model = rng.choice(MODELS)
                name = f"chat {model}"
                attrs.update(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": model,
                        "gen_ai.response.model": model,
                        "gen_ai.usage.input_tokens": rng.randrange(2000),
                        "gen_ai.usage.output_tokens": rng.randrange(500),
                        "telemetron.llm.cost.usd": rng.random() / 100,
                    }
                )
            elif kind == 2:
                name = "execute_tool search_web"
                attrs.update({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search_web"})
            else:
                name = "http.request"
                attrs.update({"http.route": "/v1/items", "http.response.status_code": 200})
            s = start + n * 1_000_000
            record = SpanRecord(
                trace_id=trace_id,
                span_id=f"{t * spans_per_trace + n + 1:016x}",
                parent_span_id=None if n == 0 else f"{t * spans_per_trace + 1:016x}",
                name=name,
                kind=1,
                start_ns=s,
                end_ns=s + rng.randrange(1, 5000) * 1_000_000,
                status_code=2 if rng.random() < 0.02 else 0,
                status_message="",
                attributes=attrs,
                events=[],
                links=[],
                resource=resource,
                scope_name="bench",
                scope_version="1",
                trace_state="",
                flags=0,
                dropped=(0, 0, 0),
            )
            promote(record)
            batch.append(record)
            if len(batch) >= 20_000:
                yield batch
                batch = []
    if batch:
        yield batch


def _big_trace(spans: int):
    from telemetron_oracle_api.model import Resource, SpanRecord
    from telemetron_oracle_api.receiver.normalize import promote

    resource = Resource(key="benchbig", service_name="big-trace", attributes={"service.name": "big-trace"})
    trace_id = "b16b16b16b16b16b16b16b16b16b16b1"
    now = time.time_ns() - 60 * 10**9
    out = []
    for n in range(spans):
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 100 + n,
            "gen_ai.usage.output_tokens": 20,
            "telemetron.llm.cost.usd": 0.001,
            "step": n,
            "gen_ai.response.finish_reasons": ["stop"],
            "http.route": "/chat",
        }
        record = SpanRecord(
            trace_id=trace_id,
            span_id=f"{n + 1:016x}",
            parent_span_id=None if n == 0 else f"{(n - 1) // 10 + 1:016x}",
            name=f"chat gpt-4o #{n}",
            kind=3,
            start_ns=now + n * 1000,
            end_ns=now + n * 1000 + 500_000,
            status_code=0,
            status_message="",
            attributes=attrs,
            events=[
                {
                    "time_ns": now + n * 1000 + 10,
                    "name": "gen_ai.response.first_chunk",
                    "attributes": {"ms": 12},
                    "dropped_attributes_count": 0,
                }
            ],
            links=[],
            resource=resource,
            scope_name="bench",
            scope_version="1",
            trace_state="",
            flags=1,
            dropped=(0, 0, 0),
        )
        promote(record)
        out.append(record)
    return trace_id, out


def load(db: Path, total: int, spans_per_trace: int) -> str:
    from telemetron_oracle_api.model import Decoded
    from telemetron_oracle_api.store.sqlite import Store

    store = Store(db, queue_limit=10_000_000, batch_limit=20_000)
    started = time.perf_counter()
    written = 0
    for batch in _records(total, spans_per_trace):
        store.write(Decoded(spans=batch), timeout=600)
        written += len(batch)
        if written % 200_000 == 0:
            print(f"  {written:,} spans written ({written / (time.perf_counter() - started):,.0f}/s)", flush=True)
    trace_id, big = _big_trace(1000)
    store.write(Decoded(spans=big))
    store.close()
    print(f"loaded {written + len(big):,} spans in {time.perf_counter() - started:.1f}s", flush=True)
    return trace_id


def start_server(db: Path, workdir: Path) -> stack.OracleApi:
    """oracle_api on free ports over ``db``, logging warnings only (access lines would cost the server time)."""
    oracle = stack.OracleApi(
        stack.OracleApiConfig.on_free_ports(db, log_level="warning", start_timeout=300), log_path=workdir / "oracle.log"
    )
    oracle.start()
    return oracle


def wait_idle(pid: int, timeout: float = 300.0) -> None:
    """Wait until the server's startup work (e.g. the Oracle rebuilding its state) is over."""

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    deadline = time.monotonic() + timeout
    last = cpu()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu()
        if now - last < 0.05:
            return
        last = now


class LeanClient:
    """Keep-alive GETs through the standard library's ``http.client``, which reads a body in one C-level read.

    httpx runs each response through h11 in Python: on this machine that adds about 5 ms to a 1 MiB
    body, time spent in the client, not the server (curl sees the same numbers as this client).
    ``--client httpx`` measures through httpx anyway.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.hostname is None:
            raise ValueError(f"no host in {url!r}")
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def get(self, path: str, params: dict | None = None) -> tuple[int, bytes]:
        self._conn.request("GET", path + ("?" + urlencode(params) if params else ""))
        response = self._conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._conn.close()


class HttpxClient:
    def __init__(self, url: str) -> None:
        self._client = httpx.Client(base_url=url, timeout=60)

    def get(self, path: str, params: dict | None = None) -> tuple[int, bytes]:
        response = self._client.get(path, params=params)
        return response.status_code, response.content

    def close(self) -> None:
        self._client.close()


def attribute_searches(rng: random.Random):
    """Request makers for searches by service + attribute, shared with bench_postgres.py.

    Returns ``jaeger(tags, lookback_us=a week)``, ``rest(attrs)`` and the attribute makers ``common``
    (1 span in 16) and ``rare`` (1 trace in 1,000).
    """
    end_us = time.time_ns() // 1000
    week_us = 7 * 24 * 3600 * 10**6

    def jaeger(tags, lookback_us=week_us):
        return lambda i: (
            "/api/traces",
            {
                "service": rng.choice(SERVICES),
                "tags": json.dumps(tags(i)),
                "limit": 20,
                "start": end_us - lookback_us,
                "end": end_us,
            },
        )

    def rest(attrs):
        return lambda i: (
            "/api/v1/traces",
            {"service": rng.choice(SERVICES), "attributes": json.dumps(attrs(i)), "limit": 20},
        )

    def common(i):
        return {"gen_ai.request.model": rng.choice(MODELS)}

    def rare(i):
        return {"customer.id": f"cust-{rng.randrange(CUSTOMERS)}"}

    return jaeger, rest, common, rare


def timed(client: LeanClient | HttpxClient, label: str, make_params, runs: int, target_ms: float | None) -> None:
    times, sizes = [], []
    for i in range(runs + 3):
        path, params = make_params(i)
        t = time.perf_counter()
        status, body = client.get(path, params)
        elapsed = (time.perf_counter() - t) * 1000
        if status not in (200, 404):
            raise RuntimeError(f"{label}: {status} {body[:200]!r}")
        if i >= 3:  # warm-up first
            times.append(elapsed)
            sizes.append(len(body))
    times.sort()
    p50, p99 = statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]
    verdict = "" if target_ms is None else ("  OK" if p99 <= target_ms else f"  MISSED (target {target_ms:.0f} ms)")
    print(f"{label:<58} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   {statistics.mean(sizes) / 1024:7.1f} KiB{verdict}")


def machine_noise(runs: int) -> None:
    """Time two fixed pieces of Python work as often as a query: what this machine adds to a p99 alone.

    Arithmetic in a loop barely touches memory; building and joining thousands of small dicts and
    strings does, like rendering a trace. Both run with this process's garbage collector off, so
    that the lines show the machine, not this process's own collections.
    """

    def arithmetic() -> int:
        total = 0
        for i in range(100_000):
            total += i * i % 7
        return total

    def allocation_heavy() -> int:
        tags = [{"key": f"attribute.{i % 40}", "type": "int64", "value": i} for i in range(8_000)]
        return len(",".join(f'{{"key":"{t["key"]}","type":"{t["type"]}","value":{t["value"]}}}' for t in tags))

    for label, work in (("arithmetic", arithmetic), ("allocation-heavy", allocation_heavy)):
        times = []
        gc.disable()
        try:
            for _ in range(runs):
                t = time.perf_counter()
                work()
                times.append((time.perf_counter() - t) * 1000)
        finally:
            gc.enable()
        times.sort()
        p50, p99 = statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]
        print(
            f"{'machine noise: fixed ' + label + ' Python work':<58} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   "
            f"(p99 = {p99 / p50:.2f} x p50)"
        )


def bench_queries(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.keep or tmp)
        db = workdir / "bench.db"
        if not db.exists():
            print(f"generating {args.spans:,} spans ({args.spans_per_trace} per trace) into {db}", flush=True)
            big = load(db, args.spans, args.spans_per_trace)
        else:
            big = "b16b16b16b16b16b16b16b16b16b16b1"
        oracle = start_server(db, workdir)
        url, grpc_endpoint = oracle.config.base_url, oracle.config.grpc_endpoint
        pid = oracle.pid
        if pid is None:  # start() returned, so the process exists; None would mean it never started
            raise RuntimeError("oracle_api did not start")
        wait_idle(pid)
        try:
            rng = random.Random(1)
            client = LeanClient(url) if args.client == "lean" else HttpxClient(url)
            try:
                n = args.runs
                print(f"\n{args.spans:,} spans stored; {n} runs each, over HTTP ({args.client} client)\n")
                machine_noise(n)
                timed(
                    client,
                    "trace by id, 1,000 spans: GET /api/v1/traces/{id}",
                    lambda i: (f"/api/v1/traces/{big}", None),
                    n,
                    20,
                )
                timed(
                    client,
                    "trace by id, 1,000 spans: GET /api/traces/{id} (Jaeger)",
                    lambda i: (f"/api/traces/{big}", None),
                    n,
                    20,
                )
                timed(
                    client,
                    "trace by id, 1,000 spans: GET /api/v3/traces/{id}",
                    lambda i: (f"/api/v3/traces/{big}", None),
                    n,
                    20,
                )
                with BackgroundIngest(grpc_endpoint, INGEST_RATE):  # the receiver and writer busy beside the query
                    timed(
                        client,
                        f"  Jaeger, while ingesting {INGEST_RATE:,} spans/s",
                        lambda i: (f"/api/traces/{big}", None),
                        n,
                        None,
                    )
                timed(
                    client, "trace timeline, 1,000 spans", lambda i: (f"/api/v1/traces/{big}/timeline", None), n, None
                )
                timed(client, "trace graph, 1,000 spans", lambda i: (f"/api/v1/traces/{big}/graph", None), n, None)
                jaeger, rest, common, rare = attribute_searches(rng)
                timed(client, "search service + attribute (1 span in 16): Jaeger", jaeger(common), n, 100)
                timed(client, "search service + attribute (1 trace in 1,000): Jaeger", jaeger(rare), n, 100)
                timed(
                    client,
                    "  the same over the last hour (the UI's default lookback)",
                    jaeger(rare, 3600 * 10**6),
                    n,
                    100,
                )
                timed(client, "search service + attribute (1 span in 16): REST", rest(common), n, 100)
                timed(client, "search service + attribute (1 trace in 1,000): REST", rest(rare), n, 100)
                timed(
                    client,
                    "search by service only: Jaeger",
                    lambda i: ("/api/traces", {"service": rng.choice(SERVICES), "limit": 20}),
                    n,
                    None,
                )
                timed(client, "list newest traces: REST", lambda i: ("/api/v1/traces", {"limit": 50}), n, None)
                timed(
                    client,
                    "operations of a service: Jaeger",
                    lambda i: (f"/api/services/{rng.choice(SERVICES)}/operations", None),
                    n,
                    None,
                )
                timed(client, "services: Jaeger", lambda i: ("/api/services", None), n, None)
                timed(
                    client,
                    "metrics, 15 minute window",
                    lambda i: ("/api/v1/metrics", {"window": "15m"}),
                    max(10, n // 10),
                    None,
                )
            finally:
                client.close()
        finally:
            oracle.stop()


def otlp_requests(offset: int, count: int, per_request: int) -> list[bytes]:
    """Serialized OTLP trace export requests: ``count`` chat spans, 20 per trace, from span number ``offset``."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    out = []
    now = time.time_ns()
    for r in range(count // per_request):
        spans = []
        for i in range(per_request):
            n = offset + r * per_request + i
            spans.append(
                Span(
                    trace_id=(0x5EA << 100 | n // 20).to_bytes(16, "big"),
                    span_id=(n + 1).to_bytes(8, "big"),
                    name="chat gpt-4o",
                    kind=Span.SPAN_KIND_CLIENT,
                    start_time_unix_nano=now,
                    end_time_unix_nano=now + 10**6,
                    attributes=[
                        KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o")),
                        KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")),
                        KeyValue(key="payload", value=AnyValue(string_value="x" * 300)),
                    ],
                )
            )
        rs = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
        rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="stream-bench")))
        out.append(ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString())
    return out


def exporter(grpc_endpoint: str):
    """(channel, a callable sending one serialized export request)."""
    import grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
    from otlp_builders import TRACE_EXPORT

    channel = grpc.insecure_channel(grpc_endpoint)
    return channel, channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)


class BackgroundIngest:
    """Sends ``rate`` spans/s to oracle_api in requests of 100 from a thread, so queries run beside ingestion."""

    def __init__(self, grpc_endpoint: str, rate: int) -> None:
        self.channel, self.export = exporter(grpc_endpoint)
        self.requests = otlp_requests(50 * 10**6, rate * 30, 100)  # 30 s worth, more than the timed queries take
        self.interval = 100 / rate
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        for raw in self.requests:
            if self.stop.wait(max(0.0, next_at - time.monotonic())):
                return
            self.export(raw, timeout=60)
            next_at += self.interval

    def __enter__(self) -> BackgroundIngest:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.channel.close()


def bench_stream(args) -> None:
    """Ingest over gRPC with no stream client, then with one stalled and one reading client."""
    from websockets.sync.client import connect

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        oracle = start_server(workdir / "stream.db", workdir)
        url, grpc_endpoint = oracle.config.base_url, oracle.config.grpc_endpoint
        try:
            channel, export = exporter(grpc_endpoint)

            def ingest(requests: list[bytes]) -> float:
                t = time.perf_counter()
                for raw in requests:
                    export(raw, timeout=120)
                return time.perf_counter() - t

            total, per = args.stream_spans, 1000
            ingest(otlp_requests(10**9, 20_000, per))  # warm-up
            quiet = ingest(otlp_requests(0, total, per))
            print(f"ingest, no stream clients:                    {total / quiet:10,.0f} spans/s")
            ws = url.replace("http://", "ws://")
            from types import SimpleNamespace

            from test_websocket import StalledClient  # a client that never reads, with a small socket buffer

            stalled = StalledClient(SimpleNamespace(http_url=url), "stalled")
            try:
                busy = ingest(otlp_requests(total, total, per))
                print(
                    f"ingest, one stalled client:                   {total / busy:10,.0f} spans/s "
                    f"({busy / quiet:.2f}x the time)"
                )
                with connect(ws + "/ws/debug/reader") as reader:
                    reader.recv(timeout=10)
                    got = [0]

                    def read() -> None:
                        try:
                            while True:
                                reader.recv(timeout=30)
                                got[0] += 1
                        except Exception:
                            pass

                    thread = threading.Thread(target=read, daemon=True)
                    thread.start()
                    both = ingest(otlp_requests(2 * total, total, per))
                    print(
                        f"ingest, stalled + one reading every message:  {total / both:10,.0f} spans/s "
                        f"({both / quiet:.2f}x the time; the reader costs CPU on 2 cores, not waiting)"
                    )
                    stats = httpx.get(url + "/api/v1/stream/stats").json()
                    dropped = {c["client_id"]: c["dropped"] for c in stats["clients"]}
                    print(
                        f"  stalled client dropped {dropped.get('stalled', 0):,} messages (told by a gap message); "
                        f"reading client received {got[0]:,} of {total:,} by the end of ingest"
                    )
            finally:
                stalled.close()
            channel.close()
        finally:
            oracle.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--spans-per-trace", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--client", choices=("lean", "httpx"), default="lean", help="HTTP client timing the queries (see LeanClient)"
    )
    parser.add_argument("--keep", help="directory to keep (and reuse) the generated database in")
    parser.add_argument("--stream", action="store_true", help="measure ingest with a stalled WebSocket client instead")
    parser.add_argument("--stream-spans", type=int, default=100_000)
    args = parser.parse_args()
    if args.stream:
        bench_stream(args)
    else:
        bench_queries(args)


if __name__ == "__main__":
    main()
