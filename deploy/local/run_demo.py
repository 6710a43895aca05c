"""The local demo: start Kafka, the Collector, oracle_api and the mock LLM provider, run
examples/multi_agent_demo.py through them, wait until its trace is served by oracle_api, print
where everything is, and keep running until Ctrl-C (or exit at once with ``--once``).

    python deploy/local/run_demo.py [--once] [--free-ports]

Every port is a flag with a TELEMETRON_* variable as its default (see ``--help``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from stack import REPO, TOPICS, Stack, StackConfig, StackError

VAR = REPO / "var"

# (flag, environment variable, StackConfig field, default from ARCHITECTURE.md)
_PORTS = [
    ("--kafka-port", "TELEMETRON_KAFKA_PORT", "kafka_port", 9092),
    ("--kafka-controller-port", "TELEMETRON_KAFKA_CONTROLLER_PORT", "kafka_controller_port", 9093),
    ("--otlp-grpc-port", "TELEMETRON_OTLP_GRPC_PORT", "otlp_grpc_port", 4317),
    ("--otlp-http-port", "TELEMETRON_OTLP_HTTP_PORT", "otlp_http_port", 4318),
    ("--collector-health-port", "TELEMETRON_COLLECTOR_HEALTH_PORT", "collector_health_port", 13133),
    ("--collector-metrics-port", "TELEMETRON_COLLECTOR_METRICS_PORT", "collector_metrics_port", 8888),
    ("--http-port", "TELEMETRON_HTTP_PORT", "oracle_http_port", 8080),
    ("--grpc-port", "TELEMETRON_GRPC_PORT", "oracle_grpc_port", 4319),
    ("--mock-port", "MOCK_LLM_PORT", "mock_provider_port", 8089),
]


def _parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--once", action="store_true", help="stop everything and exit after printing the summary")
    p.add_argument(
        "--free-ports", action="store_true", help="use free ports and a throwaway run dir (to run beside another stack)"
    )
    p.add_argument(
        "--run-dir",
        type=Path,
        default=os.environ.get("TELEMETRON_RUN_DIR"),
        help="logs, Kafka data and Collector queues (default <repo>/var/run)",
    )
    p.add_argument(
        "--db-path",
        type=Path,
        default=os.environ.get("TELEMETRON_DB_PATH"),
        help="oracle_api's SQLite file (default <repo>/var/telemetron.db)",
    )
    p.add_argument(
        "--service-name",
        default=os.environ.get("OTEL_SERVICE_NAME", "multi-agent-demo"),
        help="OTEL_SERVICE_NAME of the demo agents",
    )
    p.add_argument(
        "--trace-timeout", type=float, default=90.0, help="seconds to wait for the demo's trace to reach oracle_api"
    )
    for flag, env, _, default in _PORTS:
        p.add_argument(flag, type=int, default=int(os.environ.get(env, default)), help=f"${env}, default {default}")
    return p.parse_args(argv)


def _stack_config(args: argparse.Namespace) -> tuple[StackConfig, Path | None]:
    """The config, and a throwaway run dir to delete afterwards (with --free-ports)."""
    throwaway = None
    if args.free_ports:
        VAR.mkdir(exist_ok=True)
        run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="run-", dir=VAR))
        throwaway = None if args.run_dir else run_dir
        config = StackConfig.on_free_ports(run_dir, db_path=args.db_path or run_dir / "telemetron.db")
    else:
        run_dir = args.run_dir or VAR / "run"
        ports = {field: getattr(args, flag[2:].replace("-", "_")) for flag, _, field, _ in _PORTS}
        config = StackConfig(run_dir=run_dir, db_path=args.db_path or VAR / "telemetron.db", **ports)
    return config, throwaway


class _DemoRun:
    """examples/multi_agent_demo.py as a child process; its stdout is logged and scanned for trace ids."""

    def __init__(self, stack: Stack, service_name: str) -> None:
        self.log_path = stack.config.logs_dir / "multi_agent_demo.log"
        env = dict(os.environ)
        env.update(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": stack.collector.config.otlp_grpc_endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_SERVICE_NAME": service_name,
                "TELEMETRON_DEMO_API_BASE": stack.mock_provider.config.api_base,
                "PYTHONUNBUFFERED": "1",
            }
        )
        self._log = open(self.log_path, "a", buffering=1)
        self.proc = subprocess.Popen(
            [stack.config.python, str(REPO / "examples" / "multi_agent_demo.py"), "--service-name", service_name],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        self.trace_ids: list[str] = []
        self._new_trace = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("trace_id"), str):
                self.trace_ids.append(record["trace_id"])
                self._new_trace.set()

    def first_trace_id(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while not self.trace_ids:
            if self.proc.poll() is not None:
                self._reader.join(2)
                if self.trace_ids:
                    break
                raise StackError(
                    f"multi_agent_demo.py exited (code {self.proc.returncode}) without printing a trace_id; "
                    f"see {self.log_path}\n{_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                raise StackError(f"multi_agent_demo.py printed no trace_id within {timeout:.0f}s; see {self.log_path}")
            self._new_trace.wait(0.5)
        return self.trace_ids[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(2)
        self._log.close()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_for_trace(stack: Stack, trace_id: str, timeout: float) -> str:
    url = f"{stack.oracle_api.config.base_url}/api/v1/traces/{trace_id}"
    token = stack.oracle_api.config.settings().api_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, headers=headers, timeout=5)
            if response.status_code == 200:
                return url
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise StackError(
        f"trace {trace_id} not served by {url} within {timeout:.0f}s (last: {last})\n"
        f"{stack.oracle_api.process.log_tail() if stack.oracle_api.process else ''}"
    )


def _summary(stack: Stack, trace_id: str, trace_url: str, seconds: float) -> str:
    urls = stack.urls()
    config = stack.config
    rows = [
        ("trace id", trace_id),
        ("trace (REST)", trace_url),
        ("trace (Jaeger API)", f"{urls['jaeger_api']}/{trace_id}"),
        ("Oracle state", urls["oracle_state"]),
        ("dashboard", urls["dashboard"]),
        ("OpenAPI docs", urls["oracle_api"] + "/docs"),
        (
            "OTLP in (Collector)",
            f"gRPC {urls['otlp_grpc']}  HTTP {urls['otlp_http']}  health {urls['collector_health']}",
        ),
        ("oracle_api OTLP gRPC", urls["oracle_api_otlp_grpc"]),
        ("Kafka bootstrap", f"{urls['kafka']}  (controller {config.host}:{config.kafka_controller_port})"),
        ("Kafka topics", ", ".join(TOPICS)),
        ("mock LLM provider", urls["mock_provider"]),
        ("database", str(stack.oracle_api.config.db_path)),
        ("logs", urls["logs"]),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"Telemetron demo is up ({seconds:.1f}s); the demo trace reached oracle_api.", ""]
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM takes the same clean path as Ctrl-C


def _run(stack: Stack, args: argparse.Namespace, started: float) -> None:
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in stack.timings.items())
    print(f"stack healthy ({timings}); running examples/multi_agent_demo.py", flush=True)
    demo = _DemoRun(stack, args.service_name)
    try:
        trace_id = demo.first_trace_id(args.trace_timeout)
        trace_url = _wait_for_trace(stack, trace_id, args.trace_timeout)
        print(_summary(stack, trace_id, trace_url, time.monotonic() - started), flush=True)
        if not args.once:
            print("\nRunning until Ctrl-C.", flush=True)
            while True:
                time.sleep(3600)
    finally:
        demo.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    config, throwaway = _stack_config(args)
    # The demo keeps its Kafka log in the run dir: if the store file is deleted, oracle_api
    # rebuilds traces and state from the spans topic.
    os.environ.setdefault("TELEMETRON_ORACLE_KAFKA_REBUILD", "if_store_missing")
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    code = 0
    try:
        with Stack(config) as stack:
            _run(stack, args, started)
    except KeyboardInterrupt:
        pass
    except StackError as exc:
        print(f"demo failed: {exc}", file=sys.stderr, flush=True)
        code = 1
    if throwaway is not None and code == 0:
        shutil.rmtree(throwaway, ignore_errors=True)
    print("stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
