"""Oracle read latency and freshness with 1,000,000 spans stored and 100 agents live.

    python bench/bench_oracle.py                           # fresh oracle_api process, bulk + live load
    python bench/bench_oracle.py --spans 100000            # a quicker run
    python bench/bench_oracle.py --otlp-endpoint 127.0.0.1:4317 --url http://127.0.0.1:8080
                                                           # live load through a running Collector
                                                           # that feeds the oracle_api at --url

1. Bulk: ``--spans`` spans (agent traces: invoke_agent, chat, tool) are committed through the
   store directly (the receiver's decode is measured elsewhere, bench_ingest.py), then oracle_api
   starts on that file and rebuilds its state from it.
2. Live: 100 agents each keep a running task (pending-span records, heartbeats) and complete
   tasks with LLM calls at ``--rate`` spans/s, plus Kubernetes metrics, all over OTLP gRPC.
3. GET /api/v1/oracle/state latency (sequential keep-alive requests) under that load.
4. Freshness: a span that completes a probe task is sent with end time = now; the time until
   GET /api/v1/oracle/state?agent=probe shows it completed is the freshness of one span.

Prints the numbers; targets are p99 <= 20 ms and freshness p95 <= 500 ms. Not a test.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "deploy" / "local"))

from otlp_builders import METRICS_EXPORT, TRACE_EXPORT, kv  # noqa: E402 (needs the path above)

AGENTS = [f"agent-{n:03d}" for n in range(100)]
DEPLOYMENTS = [f"deploy-{n}" for n in range(10)]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "llama-3.1-70b"]


def pick(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[int(min(len(ordered) - 1, max(0, -(-len(ordered) * q // 100) - 1)))]


def percentiles(values: list[float]) -> str:
    return (
        f"p50 {pick(values, 50):.1f}  p95 {pick(values, 95):.1f}  p99 {pick(values, 99):.1f}  "
        f"max {max(values):.1f}  (n={len(values)})"
    )


# --- 1. bulk ----------------------------------------------------------------------------------------


def bulk_load(db: Path, total: int) -> None:
    """Agent traces (invoke_agent, 3 chat calls, 1 tool call) written through the store in big batches."""
    from telemetron_oracle_api.model import Decoded, Resource, SpanRecord
    from telemetron_oracle_api.store.sqlite import Store

    store = Store(db, queue_limit=10**9, batch_limit=50_000)
    resources = [
        Resource(f"bulk{n}", f"svc-{d}", {"service.name": f"svc-{d}", "k8s.deployment.name": d})
        for n, d in enumerate(DEPLOYMENTS)
    ]
    rng = random.Random(7)
    start_ns = time.time_ns() - 3600 * 10**9
    started = time.perf_counter()
    written, trace_no = 0, 0
    pending = []
    while written < total:
        batch = Decoded()
        while len(batch.spans) < 50_000 and written + len(batch.spans) < total:
            trace_no += 1
            trace_id = f"{trace_no:032x}"
            agent_index = trace_no % len(AGENTS)
            resource = resources[agent_index % len(resources)]
            t0 = start_ns + trace_no * 10_000_000
            root = f"{trace_no * 8:016x}"
            spans = [
                _record(
                    SpanRecord,
                    trace_id,
                    root,
                    None,
                    f"invoke_agent {AGENTS[agent_index]}",
                    1,
                    t0,
                    t0 + 4_000_000_000,
                    {
                        "gen_ai.operation.name": "invoke_agent",
                        "gen_ai.agent.name": AGENTS[agent_index],
                        "telemetron.task.id": f"bulk-{trace_no}",
                    },
                    resource,
                    operation="invoke_agent",
                    agent_name=AGENTS[agent_index],
                    status=2 if trace_no % 50 == 0 else 0,
                )
            ]
            for k in range(3):
                model = MODELS[rng.randrange(len(MODELS))]
                spans.append(
                    _record(
                        SpanRecord,
                        trace_id,
                        f"{trace_no * 8 + k + 1:016x}",
                        root,
                        f"chat {model}",
                        3,
                        t0 + k * 1_000_000_000,
                        t0 + k * 1_000_000_000 + 800_000_000,
                        {
                            "gen_ai.operation.name": "chat",
                            "gen_ai.provider.name": "openai",
                            "gen_ai.request.model": model,
                            "gen_ai.usage.input_tokens": 500,
                            "gen_ai.usage.output_tokens": 100,
                            "telemetron.llm.cost.usd": 0.001,
                        },
                        resource,
                        operation="chat",
                        provider="openai",
                        request_model=model,
                        response_model=model,
                        input_tokens=500,
                        output_tokens=100,
                    )
                )
            spans.append(
                _record(
                    SpanRecord,
                    trace_id,
                    f"{trace_no * 8 + 5:016x}",
                    root,
                    "execute_tool search_web",
                    1,
                    t0 + 3_100_000_000,
                    t0 + 3_500_000_000,
                    {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search_web"},
                    resource,
                    operation="execute_tool",
                )
            )
            batch.spans.extend(spans)
        written += len(batch.spans)
        pending.append(store.submit(batch))
        if len(pending) >= 4:
            pending.pop(0).result(600)
    for future in pending:
        future.result(600)
    store.close()
    elapsed = time.perf_counter() - started
    print(f"bulk: {written:,} spans committed through the store in {elapsed:.1f}s ({written / elapsed:,.0f} spans/s)")


def _record(cls, trace_id, span_id, parent, name, kind, start, end, attrs, resource, status=0, **promoted):
    return cls(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=kind,
        start_ns=start,
        end_ns=end,
        status_code=status,
        status_message="",
        attributes=attrs,
        events=[],
        links=[],
        resource=resource,
        scope_name="bench",
        scope_version="",
        trace_state="",
        flags=0,
        dropped=(0, 0, 0),
        error_type="ToolError" if status == 2 else None,
        **promoted,
    )


# --- 2. live load -----------------------------------------------------------------------------------


class LiveLoad:
    """100 agents with a running task each, completing tasks (with LLM calls) at a steady span rate."""

    def __init__(self, endpoint: str, rate: float) -> None:
        self.channel = grpc.insecure_channel(endpoint, options=[("grpc.max_send_message_length", 64 << 20)])
        self.traces = self.channel.unary_unary(
            TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString
        )
        self.metrics = self.channel.unary_unary(
            METRICS_EXPORT, response_deserializer=ExportMetricsServiceResponse.FromString
        )
        self.rate = rate
        self.rng = random.Random()  # fresh ids each run: a rerun on the same database must not repeat span ids
        self.running: dict[str, tuple[bytes, bytes, int, str]] = {}  # agent -> (trace, span, start, task)
        self.sent = 0
        self.task_no = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()  # one export at a time from this client
        self.thread = threading.Thread(target=self._run, daemon=True)

    def export(self, spans: list[Span], deployment: str = "deploy-0") -> None:
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.extend([kv("service.name", f"svc-{deployment}"), kv("k8s.deployment.name", deployment)])
        rs.scope_spans.add().spans.extend(spans)
        with self.lock:
            for attempt in range(50):
                try:
                    self.traces(request.SerializeToString(), timeout=30)
                    break
                except grpc.RpcError as err:
                    if err.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    time.sleep(0.05 * (attempt + 1))
        self.sent += len(spans)

    def _ids(self) -> tuple[bytes, bytes]:
        return self.rng.getrandbits(128).to_bytes(16, "big"), self.rng.getrandbits(64).to_bytes(8, "big")

    def agent_span(self, agent: str, trace: bytes, span: bytes, start: int, end: int, task: str, failed=False) -> Span:
        s = Span(
            trace_id=trace,
            span_id=span,
            name=f"invoke_agent {agent}",
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=start,
            end_time_unix_nano=end,
        )
        s.attributes.extend(
            [
                kv("gen_ai.operation.name", "invoke_agent"),
                kv("gen_ai.agent.name", agent),
                kv("telemetron.task.id", task),
                kv("telemetron.agent.max_parallel_invocations", 4),
                kv("gen_ai.agent.description", f"{agent} does one job"),
            ]
        )
        if failed:
            s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="tool failed"))
            s.attributes.append(kv("error.type", "ToolError"))
        return s

    def pending(self, real: Span, now: int) -> Span:
        record = Span(
            trace_id=real.trace_id,
            span_id=self._ids()[1],
            parent_span_id=real.span_id,
            name=real.name,
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=real.start_time_unix_nano,
            end_time_unix_nano=now,
        )
        record.attributes.extend(real.attributes)
        record.attributes.extend([kv("telemetron.span_type", "pending_span"), kv("telemetron.pending_parent_id", "")])
        return record

    def start_task(self, agent: str, now: int) -> Span:
        trace, span = self._ids()
        self.task_no += 1
        task = f"live-{self.task_no}"
        self.running[agent] = (trace, span, now, task)
        return self.pending(self.agent_span(agent, trace, span, now, now, task), now)

    def complete_task(self, agent: str, now: int) -> list[Span]:
        trace, span, start, task = self.running[agent]
        out = []
        for _ in range(2):
            model = MODELS[self.rng.randrange(len(MODELS))]
            chat = Span(
                trace_id=trace,
                span_id=self._ids()[1],
                parent_span_id=span,
                name=f"chat {model}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=max(start, now - 800_000_000),
                end_time_unix_nano=now,
            )
            chat.attributes.extend(
                [
                    kv("gen_ai.operation.name", "chat"),
                    kv("gen_ai.provider.name", "openai"),
                    kv("gen_ai.request.model", model),
                    kv("gen_ai.usage.input_tokens", 400),
                    kv("gen_ai.usage.output_tokens", 80),
                    kv("telemetron.llm.cost.usd", 0.0008),
                    kv("telemetron.llm.ratelimit.tokens.limit", 2_000_000),
                    kv("telemetron.llm.ratelimit.tokens.remaining", 1_500_000),
                    kv("telemetron.llm.ratelimit.requests.limit", 10_000),
                    kv("telemetron.llm.ratelimit.requests.remaining", 9_000),
                ]
            )
            out.append(chat)
        out.append(self.agent_span(agent, trace, span, start, now, task, failed=self.rng.random() < 0.02))
        return out

    def send_metrics(self) -> None:
        request = ExportMetricsServiceRequest()
        now = time.time_ns()
        for d, deployment in enumerate(DEPLOYMENTS):
            rm = request.resource_metrics.add()
            rm.resource.attributes.extend([kv("k8s.deployment.name", deployment), kv("k8s.namespace.name", "agents")])
            for name, value in (("k8s.deployment.desired", 3), ("k8s.deployment.available", 3)):
                rm.scope_metrics.add().metrics.add(name=name).gauge.data_points.add(time_unix_nano=now, as_int=value)
            for p in range(3):
                rm = request.resource_metrics.add()
                rm.resource.attributes.extend(
                    [
                        kv("k8s.deployment.name", deployment),
                        kv("k8s.pod.name", f"{deployment}-5d8f7c9b6d-{p:05d}"),
                        kv("k8s.namespace.name", "agents"),
                    ]
                )
                scope = rm.scope_metrics.add()
                scope.metrics.add(name="k8s.pod.phase").gauge.data_points.add(time_unix_nano=now, as_int=2)
                scope.metrics.add(name="k8s.pod.cpu.usage").gauge.data_points.add(
                    time_unix_nano=now, as_double=0.1 + d / 100
                )
                scope.metrics.add(name="k8s.pod.memory.working_set").gauge.data_points.add(
                    time_unix_nano=now, as_int=300 << 20
                )
        self.metrics(request.SerializeToString(), timeout=30)

    def begin(self) -> None:
        now = time.time_ns()
        for i in range(0, len(AGENTS), 25):
            self.export([self.start_task(agent, now) for agent in AGENTS[i : i + 25]])
        self.send_metrics()
        self.thread.start()

    def _run(self) -> None:
        tick = 0.1
        last_heartbeat = last_metrics = time.monotonic()
        while not self.stop.wait(tick):
            now = time.time_ns()
            spans: list[Span] = []
            while len(spans) < self.rate * tick:
                agent = AGENTS[self.rng.randrange(len(AGENTS))]
                spans.extend(self.complete_task(agent, now))
                spans.append(self.start_task(agent, now))
            self.export(spans, DEPLOYMENTS[self.rng.randrange(len(DEPLOYMENTS))])
            if time.monotonic() - last_heartbeat >= 5:
                last_heartbeat = time.monotonic()
                self.export(
                    [
                        self.pending(self.agent_span(a, t, s, st, st, task), now)
                        for a, (t, s, st, task) in self.running.items()
                    ]
                )
            if time.monotonic() - last_metrics >= 10:
                last_metrics = time.monotonic()
                self.send_metrics()

    def end(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.channel.close()


# --- 3 and 4. measurements --------------------------------------------------------------------------


def measure_reads(url: str, count: int) -> tuple[list[float], int]:
    latencies, size = [], 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(20):
            client.get("/api/v1/oracle/state")
        for _ in range(count):
            started = time.perf_counter()
            response = client.get("/api/v1/oracle/state")
            latencies.append((time.perf_counter() - started) * 1000)
            size = len(response.content)
            time.sleep(0.005)
    return latencies, size


def measure_freshness(url: str, load: LiveLoad, probes: int) -> list[float]:
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(probes):
            trace, span = load._ids()
            task = f"probe-{n}-{span.hex()}"
            end = time.time_ns()
            load.export([load.agent_span("probe", trace, span, end - 1_000_000, end, task)])
            while True:
                tasks = []
                state = client.get("/api/v1/oracle/state", params={"agent": "probe"}).json()
                if state["agents"]:
                    activity = state["agents"][0]["activity"]
                    tasks = activity["active_task_ids"] + activity.get("recent_tasks", [])
                if any(t["id"] == task and t["status"] == "completed" for t in tasks):
                    out.append((time.time_ns() - end) / 1e6)
                    break
                if time.time_ns() - end > 30e9:
                    raise TimeoutError(f"probe {task} not visible after 30 s")
                time.sleep(0.002)
            time.sleep(0.05)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans stored before the live phase")
    parser.add_argument("--rate", type=float, default=400, help="live spans per second")
    parser.add_argument("--requests", type=int, default=2000, help="GET /api/v1/oracle/state requests to time")
    parser.add_argument("--probes", type=int, default=200, help="freshness probes")
    parser.add_argument("--warmup", type=float, default=10, help="seconds of live load before measuring")
    parser.add_argument("--otlp-endpoint", help="send live OTLP here (a running Collector) instead of oracle_api")
    parser.add_argument("--url", help="with --otlp-endpoint: the oracle_api the Collector feeds")
    parser.add_argument("--workdir", type=Path, help="keep the database and logs here")
    args = parser.parse_args()

    import stack

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-oracle-"))
    workdir.mkdir(parents=True, exist_ok=True)
    oracle = None
    if args.otlp_endpoint:
        if not args.url:
            parser.error("--otlp-endpoint needs --url (the oracle_api behind that Collector)")
        url, endpoint = args.url, args.otlp_endpoint
        print(f"live load through {endpoint}; reading {url} (no bulk phase)")
    else:
        db = workdir / "bench.db"
        if args.spans:
            bulk_load(db, args.spans)
        started = time.perf_counter()
        oracle = stack.OracleApi(
            stack.OracleApiConfig.on_free_ports(db, log_level="warning", start_timeout=600),
            log_path=workdir / "oracle.log",
        )
        oracle.start()
        url, endpoint = oracle.config.base_url, oracle.config.grpc_endpoint
        rebuild = httpx.get(f"{url}/api/v1/oracle/health").json()["rebuild"]
        print(f"startup: oracle_api answered after {time.perf_counter() - started:.1f}s; rebuild {rebuild}")
    load = LiveLoad(endpoint, args.rate)
    try:
        load.begin()
        time.sleep(args.warmup)
        state = httpx.get(f"{url}/api/v1/oracle/state").json()
        print(
            f"live: {len(state['agents'])} agents, {state['counts']['tasks_running']} running tasks, "
            f"{state['counts']['pods']} pods, {len(state['litellm'])} models; {load.rate:g} spans/s offered"
        )
        sent_before, t_before = load.sent, time.perf_counter()
        latencies, size = measure_reads(url, args.requests)
        print(f"GET /api/v1/oracle/state ms: {percentiles(latencies)}; {size / 1024:.0f} KiB per response")
        freshness = measure_freshness(url, load, args.probes)
        print(f"freshness, span end -> visible in state, ms: {percentiles(freshness)}")
        achieved = (load.sent - sent_before) / (time.perf_counter() - t_before)
        print(f"live spans actually sent during measurement: {achieved:,.0f}/s")
        p99, p95f = pick(latencies, 99), pick(freshness, 95)
        print(
            f"targets: read p99 {p99:.1f} ms (<= 20: {'met' if p99 <= 20 else 'MISSED'}), "
            f"freshness p95 {p95f:.0f} ms (<= 500: {'met' if p95f <= 500 else 'MISSED'})"
        )
        health = httpx.get(f"{url}/api/v1/oracle/health").json()
        print(
            f"oracle: {health['spans']:,} spans and {health['pending']:,} pending records folded in, "
            f"{health['duplicates']} duplicates, {health['snapshots']} snapshots"
        )
    finally:
        load.end()
        if oracle is not None:
            oracle.stop()
    print(f"workdir: {workdir}")


if __name__ == "__main__":
    main()
