"""CPU cost per LLM call of each way to instrument LiteLLM, against the mock provider over real HTTP.

Each configuration runs in its own long-lived worker process (OpenTelemetry's global providers are
set once per process): no instrumentation, an empty LiteLLM callback, LiteLLM's built-in ``otel``
callback, OpenLLMetry's LiteLLM instrumentor, and Telemetron's callback (``configure()``, pending
spans and metrics included, httpx spans off as in the others). A reference configuration shows the
floor any SDK-based callback stands on: an empty callback that starts one OpenTelemetry SDK span
with 6 fixed attributes before the call and sets 11 more and ends it after (the attributes
Telemetron writes for these calls, with fixed values; no LiteLLM data read, no metrics), exported
by the same OTLP/gRPC exporter as Telemetron's. All export OTLP/gRPC to ``--otlp``
(default 127.0.0.1:4317, e.g. a running Collector); if nothing listens there, a local sink is
started on that address in the parent process.

Two measurements, because a shared machine's load makes CPU time noisy:

- CPU time (``time.process_time()``, all threads of the worker, export threads included) over
  ``--calls`` sequential calls with the exporters flushed inside the window, in ``--rounds`` rounds.
  Configurations take turns within each round (order rotated every round), so drifting load hits
  all alike; "added" is the median over rounds of (configuration - no instrumentation) in the same
  round, and the spread is the 25th-75th percentile of those per-round values.
- Instructions executed (valgrind's callgrind, counted only inside the measured window through a
  client request, all threads), which the machine's load cannot disturb. Needs valgrind and a C
  compiler; ``--instr-calls 0`` skips it.

Telemetron's own cost and the reference's are also measured without LiteLLM around them: one real
call's hook arguments replayed on one thread (spans, pending spans, metrics, OTLP export all
included), minus the loop, interleaved with the other rows. The ratio rows divide Telemetron's added
cost by the reference's, per round (CPU) or per run (instructions). ``--replay-only`` measures just
the replayed hooks: LiteLLM's own work and the HTTP round trip are not in it, so it decides the
ratio far more precisely than the full calls. Both sides are charged alike: the replayed window's
process CPU holds the hooks on the calling thread, the batch exports the span processor's thread
makes meanwhile and the final flush (which exports the rest on the calling thread; ours also
exports its metrics there, which the loop-only window pays too and so cancels). The calling
thread's own CPU over the hooks alone (``time.thread_time()``, no flush) is shown beneath, since
the export side costs the same for both.

    python bench/bench_callback_overhead.py --calls 200 --rounds 15 --instr-calls 100
    python bench/bench_callback_overhead.py --configs sdk_span,telemetron --replay-only --rounds 15
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "examples"), str(ROOT / "instrumentation")]

CONFIGS = {
    "none": "no instrumentation",
    "noop_callback": "an empty LiteLLM CustomLogger (LiteLLM's own cost)",
    "sdk_span": "reference: one bare SDK span, 17 fixed attributes",
    "litellm_otel": "LiteLLM built-in otel callback",
    "openllmetry": "OpenLLMetry LiteLLMInstrumentor",
    "telemetron": "Telemetron callback (spans, pending, metrics)",
}
REPLAYED = ("sdk_span", "telemetron")  # configurations whose hooks are also replayed without LiteLLM
CALLGRIND_SLOWDOWN = 100.0  # a generous upper bound of how much slower code runs under callgrind


def _listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


# --- worker side ------------------------------------------------------------------------------------


def _setup(config: str, endpoint: str, slowdown: float = 1.0) -> tuple[Callable[[], object], Any]:
    """Instrument this worker process; returns (flush function, Telemetron callback or None)."""
    from opentelemetry import metrics, trace

    if config == "none":
        return (lambda: None), None
    if config == "noop_callback":
        import litellm
        from litellm.integrations.custom_logger import CustomLogger

        litellm.callbacks = [CustomLogger()]
        return (lambda: None), None
    if config == "sdk_span":
        return _bare_sdk_span(endpoint)
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
        metrics.set_meter_provider(
            MeterProvider(metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint))])
        )
        LiteLLMInstrumentor().instrument()
    elif config == "telemetron":
        from telemetron_instrumentation import configure

        telemetry = configure(service_name="bench", endpoint=endpoint, protocol="grpc", instrument_httpx=False)
        if slowdown > 1 and telemetry.pending is not None:
            # Under callgrind a 5 ms call lasts long enough to get a pending-span record it never gets
            # natively; stretch the pending delay by the same factor so the work counted is the same.
            telemetry.pending.export_delay_s *= slowdown
        return telemetry.force_flush, telemetry.callback

    def flush() -> None:
        for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
            if hasattr(provider, "force_flush"):
                provider.force_flush()

    return flush, None


def _bare_sdk_span(endpoint: str):
    """Register the reference callback (see the module docstring); returns its flush function and itself."""
    import litellm
    from litellm.integrations.custom_logger import CustomLogger
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from telemetron_instrumentation._grpc_span_exporter import OTLPSpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    tracer = provider.get_tracer("bench.reference")
    at_start = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "mock-gpt-4o-mini",
        "server.address": "127.0.0.1",
        "server.port": 8089,
        "gen_ai.request.stream": False,
    }
    at_end = {
        "gen_ai.response.id": "chatcmpl-0123456789abcdef0123456789abc",
        "gen_ai.response.model": "mock-gpt-4o-mini",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 8,
        "gen_ai.usage.output_tokens": 36,
        "telemetron.llm.ratelimit.requests.limit": 10000,
        "telemetron.llm.ratelimit.requests.remaining": 9999,
        "telemetron.llm.ratelimit.requests.reset": 25.0,
        "telemetron.llm.ratelimit.tokens.limit": 2000000,
        "telemetron.llm.ratelimit.tokens.remaining": 1999928,
        "telemetron.llm.ratelimit.tokens.reset": 25.0,
    }
    spans: dict = {}

    class BareSpan(CustomLogger):
        def log_pre_api_call(self, model, messages, kwargs):
            spans[kwargs["litellm_call_id"]] = tracer.start_span("chat mock-gpt-4o-mini", attributes=at_start)

        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            span = spans.pop(kwargs["litellm_call_id"])
            span.set_attributes(at_end)
            span.end()

    callback = BareSpan()
    litellm.callbacks = [callback]
    return provider.force_flush, callback


class _Callgrind:
    """Callgrind client requests (valgrind/callgrind.h macros) from a tiny library built on the fly."""

    SOURCE = r"""
    #include <valgrind/callgrind.h>
    void bench_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
    void bench_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
    void bench_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
    """

    @classmethod
    def build(cls, directory: Path) -> Path:
        source, library = directory / "bench_callgrind.c", directory / "bench_callgrind.so"
        source.write_text(cls.SOURCE)
        subprocess.run(
            ["cc", "-shared", "-fPIC", "-O1", "-o", str(library), str(source)], check=True, capture_output=True
        )
        return library

    def __init__(self, library: str) -> None:
        self._lib = ctypes.CDLL(library)

    def window(self, name: str, fn) -> None:
        """Count the instructions of ``fn()`` (all threads) into a dump named ``name``."""
        self._lib.bench_start()
        fn()
        self._lib.bench_dump(name.encode())
        self._lib.bench_stop()


def _capture_hook_arguments(litellm: Any, args: dict) -> tuple:
    """One real call's arguments to the pre-call and success hooks, as LiteLLM passes them."""
    from litellm.integrations.custom_logger import CustomLogger

    seen: dict = {}

    class _Recorder(CustomLogger):
        def log_pre_api_call(self, model, messages, kwargs):
            seen["pre"] = (model, messages, dict(kwargs))

        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            seen["success"] = (dict(kwargs), response_obj, start_time, end_time)

    recorder = _Recorder()
    litellm.callbacks.append(recorder)
    litellm.completion(**args)
    deadline = time.monotonic() + 30
    while "success" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    litellm.callbacks.remove(recorder)
    return (*seen["pre"], *seen["success"][1:], seen["success"][0])


_REPLAY_IDS = itertools.count()


def _replay_loop(callback: Any, hook_args: tuple, n: int, call_hooks: bool) -> None:
    model, messages, pre, response, start, end, post = hook_args
    for _ in range(n):
        call_id = f"replay-{next(_REPLAY_IDS)}"  # unique per call; uuid4 would add a syscall to the loop's noise
        pre_kwargs, post_kwargs = {**pre, "litellm_call_id": call_id}, {**post, "litellm_call_id": call_id}
        if call_hooks:
            callback.log_pre_api_call(model, messages, pre_kwargs)
            callback.log_post_api_call(pre_kwargs, None, start, None)
            callback.log_success_event(post_kwargs, response, start, end)


def worker(args: argparse.Namespace) -> int:
    """Set up one configuration, warm up, then serve "run", "replay" and "instructions" requests on stdin."""
    config, endpoint = args.worker, args.endpoint
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    if config == "litellm_otel":
        os.environ.update({"OTEL_EXPORTER": "otlp_grpc", "OTEL_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "bench"})
    import litellm

    litellm.suppress_debug_info = True
    flush, callback = _setup(config, endpoint, CALLGRIND_SLOWDOWN if args.instr_library else 1.0)
    call_args = {
        "model": "openai/mock-gpt-4o-mini",
        "api_base": args.api_base,
        "api_key": "sk-bench",
        "messages": [{"role": "user", "content": "Say something about benchmarks."}],
        "max_retries": 0,
    }
    for _ in range(args.warmup):
        litellm.completion(**call_args)
    flush()
    hook_args = _capture_hook_arguments(litellm, call_args) if callback is not None else None
    if hook_args is not None:
        _replay_loop(callback, hook_args, args.warmup, True)
        flush()

    def calls(n: int) -> None:
        for _ in range(n):
            litellm.completion(**call_args)
        flush()

    def replay(n: int, call_hooks: bool) -> None:
        assert hook_args is not None  # asked for only when the hooks were captured
        _replay_loop(callback, hook_args, n, call_hooks)
        flush()

    def cpu_us(fn, n: int) -> float:
        gc.collect()  # every window starts from the same heap state
        t0 = time.process_time()
        fn()
        return (time.process_time() - t0) / n * 1e6

    def caller_and_process_us(call_hooks: bool, n: int) -> tuple[float, float]:
        """CPU of the calling thread over the replayed hooks alone (no flush: the force_flush exports
        on the calling thread) and of the whole process with the flush (every thread, export included)."""
        assert hook_args is not None  # asked for only when the hooks were captured
        gc.collect()
        t0, p0 = time.thread_time(), time.process_time()
        _replay_loop(callback, hook_args, n, call_hooks)
        t1 = time.thread_time()
        flush()
        return (t1 - t0) / n * 1e6, (time.process_time() - p0) / n * 1e6

    if args.instr_library:  # one pass under callgrind, then exit
        gc.collect()
        counter = _Callgrind(args.instr_library)
        if not args.replay_only:
            counter.window("calls", lambda: calls(args.calls))
        if hook_args is not None:
            counter.window("replay_hooks", lambda: replay(args.replay_calls, True))
            counter.window("replay_loop", lambda: replay(args.replay_calls, False))
        print(json.dumps({"config": config}), flush=True)
        return 0

    print(json.dumps({"ready": config}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        result: dict[str, object]
        if command == "run":
            result = {"cpu_us": cpu_us(lambda: calls(args.calls), args.calls)}
        elif command == "replay" and hook_args is not None:
            n = args.replay_calls
            caller, with_hooks = caller_and_process_us(True, n)
            loop_caller, loop = caller_and_process_us(False, n)
            result = {"cpu_us": with_hooks - loop, "caller_us": caller - loop_caller}
        elif command == "quit":
            return 0
        else:
            result = {"error": f"unknown command {command!r}"}
        print(json.dumps(result), flush=True)
    return 0


# --- parent side ------------------------------------------------------------------------------------


class _Worker:
    def __init__(self, config: str, argv: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        self.config = config
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", config, *argv],
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both pipes
        self._stdin, self._stdout = self.proc.stdin, self.proc.stdout

    def read(self) -> dict:
        while True:
            line = self._stdout.readline()
            if not line:
                raise RuntimeError(f"{self.config} worker exited")
            if line.startswith("{"):
                return json.loads(line)

    def ask(self, command: str) -> dict:
        self._stdin.write(command + "\n")
        self._stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._stdin.write("quit\n")
                self._stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def _callgrind_totals(directory: Path) -> dict[str, int]:
    """Instructions per named dump, from callgrind's output files."""
    totals: dict[str, int] = {}
    for path in directory.glob("callgrind.out*"):
        name, total = None, None
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("desc: Trigger: Client Request: "):
                name = line.rsplit(":", 1)[1].strip()
            elif line.startswith(("totals:", "summary:")):
                total = int(line.split()[1])
        if name and total is not None:
            totals[name] = total
    return totals


def _count_instructions(configs: list[str], argv: list[str], library: Path, workdir: Path) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for config in configs:
        out = workdir / config
        out.mkdir()
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}/callgrind.out",
            sys.executable,
            __file__,
            "--worker",
            config,
            *argv,
            "--instr-library",
            str(library),
        ]
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, "PYTHONHASHSEED": "0"}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            print(f"{config} under callgrind failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        results[config] = _callgrind_totals(out)
    return results


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def _ratio_row(label: str, ours: list[float], reference: list[float]) -> str:
    """Telemetron's added cost over the reference's, per round, as median [25th-75th percentile]."""
    ratios = [a / b for a, b in zip(ours, reference, strict=True) if b > 0]
    if not ratios:
        return f"{label:<52} (the reference's added cost was not positive in any round)"
    q1, med, q3 = _quantiles(ratios)
    return f"{label:<52} {med:>5.2f}x {f'[{q1:.2f}-{q3:.2f}]':>13}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otlp", default="127.0.0.1:4317", help="OTLP/gRPC host:port to export to")
    parser.add_argument("--calls", type=int, default=200, help="calls per configuration per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--replay-calls", type=int, default=1000, help="replayed hook calls per round")
    parser.add_argument("--replay-only", action="store_true", help="measure only the replayed hooks (no LiteLLM)")
    parser.add_argument(
        "--instr-calls",
        type=int,
        default=100,
        help="calls counted under callgrind per configuration (0: skip instruction counts)",
    )
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--api-base", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--instr-library", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    from mock_llm_provider import MockProviderProcess

    endpoint = "http://" + args.otlp.removeprefix("http://")
    host, _, port = args.otlp.removeprefix("http://").rpartition(":")
    sink = None
    if not _listening(host, int(port)):
        from telemetron_instrumentation.testing import OtlpSink

        sink = OtlpSink(host, int(port), keep=False).start()
        print(f"nothing listened on {args.otlp}: started a local OTLP sink there", file=sys.stderr)
    configs = args.configs.split(",")
    replayed = [c for c in REPLAYED if c in configs]
    if args.replay_only:
        configs = replayed
    run_slots = [] if args.replay_only else list(configs)
    slots = [*run_slots, *(("replay", c) for c in replayed)]
    cpu: dict = {slot: [] for slot in slots}
    added: dict[Any, list[float]] = {c: [] for c in configs}
    caller_cpu: dict[str, list[float]] = {c: [] for c in replayed}  # replayed hooks, calling thread only
    instructions: dict[str, dict] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench_callback_"))
    try:
        with MockProviderProcess() as provider:
            argv = [
                "--api-base",
                provider.api_base,
                "--endpoint",
                endpoint,
                "--calls",
                str(args.calls),
                "--warmup",
                str(args.warmup),
                "--replay-calls",
                str(args.replay_calls),
            ]
            if args.replay_only:
                argv.append("--replay-only")
            workers = {c: _Worker(c, argv) for c in configs}
            try:
                for w in workers.values():
                    w.read()  # ready
                for round_no in range(args.rounds):
                    shift = round_no % len(slots)
                    results: dict[Any, float] = {}
                    for slot in slots[shift:] + slots[:shift]:
                        if isinstance(slot, tuple):
                            answer = workers[slot[1]].ask("replay")
                            results[slot] = answer["cpu_us"]
                            caller_cpu[slot[1]].append(answer["caller_us"])
                        else:
                            results[slot] = workers[slot].ask("run")["cpu_us"]
                    for slot, value in results.items():
                        cpu[slot].append(value)
                        if slot in added and "none" in results:
                            added[slot].append(value - results["none"])
                    print(
                        f"round {round_no + 1}/{args.rounds}: "
                        + " ".join(f"{_slot_name(s)}={v:.1f}" for s, v in results.items()),
                        file=sys.stderr,
                    )
            finally:
                for w in workers.values():
                    w.close()
            if args.instr_calls > 0:
                if shutil.which("valgrind") and shutil.which("cc"):
                    library = _Callgrind.build(workdir)
                    instr_argv = [
                        *argv[:4],
                        "--calls",
                        str(args.instr_calls),
                        "--warmup",
                        "5",
                        "--replay-calls",
                        str(min(args.replay_calls, 200)),
                        *argv[10:],
                    ]
                    instructions = _count_instructions(configs, instr_argv, library, workdir)
                else:
                    print("valgrind or cc not found: no instruction counts", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if sink is not None:
            print(f"sink received {sink.span_count} spans", file=sys.stderr)
            sink.stop()

    def per_call(config: str, name: str, n: int) -> float | None:
        total = instructions.get(config, {}).get(name)
        return None if total is None else total / n

    n_replay = min(args.replay_calls, 200)
    instr = {c: per_call(c, "calls", args.instr_calls) for c in configs}
    replay_instr = {}
    for config in replayed:
        hooks, loop = per_call(config, "replay_hooks", n_replay), per_call(config, "replay_loop", n_replay)
        if hooks is not None and loop is not None:
            replay_instr[config] = hooks - loop
    base_instr = instr.get("none")
    print(
        f"{args.calls} calls ({args.replay_calls} replayed) x {args.rounds} rounds per row (interleaved); CPU µs per "
        f"call, median [25th-75th percentile]; instructions per call from callgrind over {args.instr_calls} calls "
        f"({n_replay} replayed)"
    )
    print(
        f"{'configuration':<52} {'CPU µs':>6} {'spread':>13} {'added µs':>9} {'spread':>13} "
        f"{'instr/call':>11} {'added instr':>12}"
    )
    for config in run_slots:
        q1, med, q3 = _quantiles(cpu[config])
        row = f"{CONFIGS.get(config, config):<52} {med:>6.0f} {f'[{q1:.0f}-{q3:.0f}]':>13} "
        if config != "none" and added[config]:
            a1, amed, a3 = _quantiles(added[config])
            row += f"{amed:>+9.0f} {f'[{a1:+.0f} {a3:+.0f}]':>13} "
        else:
            row += f"{'':>9} {'':>13} "
        per_call_instr = instr.get(config)
        if per_call_instr is not None:
            row += f"{per_call_instr / 1e3:>10.0f}k"
            if base_instr is not None and config != "none":
                row += f" {(per_call_instr - base_instr) / 1e3:>+10.0f}k"
        print(row)
    for config in replayed:
        q1, med, q3 = _quantiles(cpu[("replay", config)])
        row = f"{_slot_name(('replay', config)):<52} {med:>6.1f} {f'[{q1:.1f}-{q3:.1f}]':>13} {'':>9} {'':>13} "
        if config in replay_instr:
            row += f"{replay_instr[config] / 1e3:>10.1f}k"
        print(row)
        q1, med, q3 = _quantiles(caller_cpu[config])
        print(f"{'  of which the calling thread':<52} {med:>6.1f} {f'[{q1:.1f}-{q3:.1f}]':>13}")
    if len(replayed) == 2:
        if added.get("telemetron") and added.get("sdk_span"):
            print(
                _ratio_row("ratio telemetron / reference, full calls (added)", added["telemetron"], added["sdk_span"])
            )
        print(
            _ratio_row(
                "ratio telemetron / reference, replayed hooks",
                cpu[("replay", "telemetron")],
                cpu[("replay", "sdk_span")],
            )
        )
        print(
            _ratio_row(
                "ratio telemetron / reference, calling thread only", caller_cpu["telemetron"], caller_cpu["sdk_span"]
            )
        )
        if len(replay_instr) == 2:
            print(
                f"{'ratio telemetron / reference, replayed instructions':<52} "
                f"{replay_instr['telemetron'] / replay_instr['sdk_span']:>5.2f}x"
            )
        ours, reference = instr.get("telemetron"), instr.get("sdk_span")
        if base_instr is not None and ours and reference:
            ratio = (ours - base_instr) / (reference - base_instr)
            print(f"{'ratio telemetron / reference, full-call instructions':<52} {ratio:>5.2f}x")
    return 0


def _slot_name(slot: object) -> str:
    return f"{slot[1]} hooks replayed (no LiteLLM)" if isinstance(slot, tuple) else str(slot)


if __name__ == "__main__":
    sys.exit(main())
