"""CPU cost per LLM call of each way to instrument LiteLLM, against the mock provider over real HTTP.

Each configuration runs in its own process (OpenTelemetry's global providers are set once per
process): no instrumentation, LiteLLM's built-in ``otel`` callback, OpenLLMetry's LiteLLM
instrumentor, and Telemetron's callback (``configure()``, pending spans and metrics included, httpx
spans off as in the others). All export OTLP/gRPC to ``--otlp`` (default 127.0.0.1:4317); if
nothing listens there, a local sink is started on that address.

CPU time is ``time.process_time()`` (all threads of the worker, export threads included) over
``--calls`` sequential calls after a warm-up, with the exporters flushed inside the measured window.

    python bench/bench_callback_overhead.py --calls 300 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "examples"), str(ROOT / "instrumentation")]

CONFIGS = {
    "none": "no instrumentation",
    "noop_callback": "an empty LiteLLM CustomLogger (LiteLLM's own cost)",
    "litellm_otel": "LiteLLM built-in otel callback",
    "openllmetry": "OpenLLMetry LiteLLMInstrumentor",
    "telemetron": "Telemetron callback (spans, pending, metrics)",
}


def _listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def _setup(config: str, endpoint: str) -> object:
    """Instrument this worker process; returns a flush function."""
    from opentelemetry import metrics, trace

    if config == "none":
        return lambda: None
    if config == "noop_callback":
        import litellm
        from litellm.integrations.custom_logger import CustomLogger

        litellm.callbacks = [CustomLogger()]
        return lambda: None
    if config == "litellm_otel":
        import litellm

        litellm.callbacks = ["otel"]
    elif config == "openllmetry":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.litellm import LiteLLMInstrumentor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[
            PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint))]))
        LiteLLMInstrumentor().instrument()
    elif config == "telemetron":
        from telemetron_instrumentation import configure

        telemetry = configure(service_name="bench", endpoint=endpoint, protocol="grpc", instrument_httpx=False)
        _time_hooks(telemetry.callback)
        return telemetry.force_flush

    def flush() -> None:
        for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
            if hasattr(provider, "force_flush"):
                provider.force_flush()

    return flush


HOOK_CPU = [0.0]  # seconds of thread CPU spent inside Telemetron's LiteLLM hooks


def _time_hooks(callback: object) -> None:
    """Count the thread CPU time spent in the callback's hooks (they run on several threads)."""
    import functools
    import inspect

    for name in ("log_pre_api_call", "log_post_api_call", "log_success_event", "log_failure_event",
                 "async_log_success_event", "async_log_failure_event"):
        hook = getattr(callback, name)
        if inspect.iscoroutinefunction(hook):
            continue

        def timed(*a, _hook=hook, **kw):
            t0 = time.thread_time()
            try:
                return _hook(*a, **kw)
            finally:
                HOOK_CPU[0] += time.thread_time() - t0

        setattr(callback, name, functools.wraps(hook)(timed))


def _export_threads_cpu() -> float:
    """CPU seconds used so far by OpenTelemetry's export and heartbeat threads."""
    import threading

    total = 0.0
    for thread in threading.enumerate():
        if thread.ident and thread.name.startswith(("Otel", "telemetron", "OtelPeriodic", "OtelBatch")):
            try:
                total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
            except (OSError, ValueError):
                pass
    return total


def worker(config: str, api_base: str, endpoint: str, calls: int, warmup: int, repeat: int) -> dict:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    if config == "litellm_otel":
        os.environ.update({"OTEL_EXPORTER": "otlp_grpc", "OTEL_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "bench"})
    import litellm

    litellm.suppress_debug_info = True
    flush = _setup(config, endpoint)
    args = {"model": "openai/mock-gpt-4o-mini", "api_base": api_base, "api_key": "sk-bench",
            "messages": [{"role": "user", "content": "Say something about benchmarks."}], "max_retries": 0}
    for _ in range(warmup):
        litellm.completion(**args)
    flush()
    cpu_us, wall_us, hook_us, export_us = [], [], [], []
    for _ in range(repeat):
        gc.collect()  # start every round from the same heap state
        HOOK_CPU[0] = 0.0
        export0 = _export_threads_cpu()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            litellm.completion(**args)
        flush()
        cpu_us.append((time.process_time() - cpu0) / calls * 1e6)
        wall_us.append((time.perf_counter() - wall0) / calls * 1e6)
        hook_us.append(HOOK_CPU[0] / calls * 1e6)
        export_us.append((_export_threads_cpu() - export0) / calls * 1e6)
    result = {"config": config, "cpu_us": statistics.median(cpu_us), "cpu_runs": cpu_us,
              "wall_us": statistics.median(wall_us), "hook_us": statistics.median(hook_us),
              "export_us": statistics.median(export_us)}
    if config == "telemetron":
        result["replay_us"] = _replay(litellm, args, flush)
    return result


def _replay(litellm: object, args: dict, flush: object, n: int = 1000) -> float:
    """Telemetron's own CPU per call: one real call's hook arguments replayed ``n`` times on one thread,
    spans, pending spans and metrics exported over OTLP, best of 5 rounds, minus the loop's own cost.

    Without LiteLLM around it, this is the figure the machine's load and LiteLLM's threads disturb least.
    """
    import uuid

    from litellm.integrations.custom_logger import CustomLogger

    from telemetron_instrumentation.configure import current

    seen: dict = {}

    class _Recorder(CustomLogger):
        def log_pre_api_call(self, model, messages, kwargs):
            seen["pre"] = (model, messages, dict(kwargs))

        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            seen["success"] = (dict(kwargs), response_obj, start_time, end_time)

    recorder = _Recorder()
    litellm.callbacks.append(recorder)
    litellm.completion(**args)
    deadline = time.monotonic() + 5
    while "success" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    litellm.callbacks.remove(recorder)
    callback = current().callback
    model, messages, pre = seen["pre"]
    post, response, start, end = seen["success"]

    def loop(call_hooks: bool) -> None:
        for i in range(n):
            call_id = f"replay-{i}-{uuid.uuid4().hex[:8]}"
            pre_kwargs, post_kwargs = {**pre, "litellm_call_id": call_id}, {**post, "litellm_call_id": call_id}
            if call_hooks:
                callback.log_pre_api_call(model, messages, pre_kwargs)
                callback.log_post_api_call(pre_kwargs, None, start, None)
                callback.log_success_event(post_kwargs, response, start, end)

    def best(call_hooks: bool) -> float:
        times = []
        for _ in range(5):
            t0 = time.process_time()
            loop(call_hooks)
            flush()
            times.append(time.process_time() - t0)
        return min(times)

    loop(True)
    return (best(True) - best(False)) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otlp", default="127.0.0.1:4317", help="OTLP/gRPC host:port to export to")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--api-base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    endpoint = "http://" + args.otlp.removeprefix("http://")

    if args.worker:
        result = worker(args.worker, args.api_base, endpoint, args.calls, args.warmup, args.repeat)
        print(json.dumps(result), flush=True)
        return 0

    from mock_llm_provider import MockProviderProcess

    host, _, port = args.otlp.removeprefix("http://").rpartition(":")
    sink = None
    if not _listening(host, int(port)):
        from telemetron_instrumentation.testing import OtlpSink

        sink = OtlpSink(host, int(port), keep=False).start()
        print(f"nothing listened on {args.otlp}: started a local OTLP sink there", file=sys.stderr)
    configs = args.configs.split(",")
    rounds: dict[str, list[dict]] = {c: [] for c in configs}
    try:
        with MockProviderProcess() as provider:
            # Configurations take turns, round after round, so drifting machine load hits all alike.
            for _ in range(args.repeat):
                for config in configs:
                    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
                    out = subprocess.run(
                        [sys.executable, __file__, "--worker", config, "--api-base", provider.api_base,
                         "--otlp", args.otlp, "--calls", str(args.calls), "--warmup", str(args.warmup),
                         "--repeat", "1"],
                        env=env, capture_output=True, text=True, timeout=900,
                    )
                    if out.returncode != 0:
                        print(f"{config} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                        continue
                    rounds[config].append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        if sink is not None:
            print(f"sink received {sink.span_count} spans", file=sys.stderr)
            sink.stop()

    def median(config: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[config])

    done = [c for c in configs if rounds[c]]
    base = median("none", "cpu_us") if rounds.get("none") else None
    print(f"{args.calls} calls x {args.repeat} rounds per configuration; medians over rounds")
    print(f"{'configuration':<52} {'CPU µs/call':>11} {'added µs':>9} {'wall µs/call':>12}  CPU per round")
    for config in done:
        cpu = median(config, "cpu_us")
        added = "" if base is None or config == "none" else f"{cpu - base:+.0f}"
        per_round = " ".join(f"{r['cpu_us']:.0f}" for r in rounds[config])
        print(f"{CONFIGS.get(config, config):<52} {cpu:>11.0f} {added:>9} {median(config, 'wall_us'):>12.0f}  {per_round}")
    if rounds.get("telemetron"):
        hooks, export = median("telemetron", "hook_us"), median("telemetron", "export_us")
        replay = median("telemetron", "replay_us")
        print(f"Telemetron's own CPU per call, measured per thread during the run: hooks {hooks:.0f} µs + "
              f"export threads {export:.0f} µs = {hooks + export:.0f} µs")
        print(f"Telemetron's own CPU per call, hooks replayed on one thread with OTLP export: {replay:.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
