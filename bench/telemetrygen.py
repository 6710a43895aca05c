"""telemetrygen, the OpenTelemetry Collector contrib load generator, as a GenAI span sender for
benchmarks and tests: a Go process, so the load costs far less CPU than Python sender threads.

The binary is built once from the Go module proxy (``go get -tool`` in a throwaway module, then
``go build``) and cached under ``~/.cache/telemetron/telemetrygen-<version>/``
(``TELEMETRON_CACHE_DIR`` moves it); it is never committed.
"""

from __future__ import annotations

import math
import os
import re
import resource
import subprocess
import time
from pathlib import Path

import go_build

VERSION = "v0.161.0"
MODULE = "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen"
SERVICE = "genai-agents"

# Set on every span, as our LiteLLM callback sets them on an LLM call (bench/bench_ingest.py's
# genai_span). telemetrygen takes strings, ints, bools and lists only, so the float ones are
# strings; it adds network.peer.address and peer.service itself: 20 attributes in all.
GENAI_ATTRIBUTES: dict[str, str | int | list[str]] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.request.temperature": "0.2",
    "gen_ai.request.max_tokens": 512,
    "gen_ai.response.id": "chatcmpl-telemetrygen",
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.agent.name": "researcher",
    "gen_ai.conversation.id": "conv-telemetrygen",
    "server.address": "api.openai.com",
    "server.port": 443,
    "telemetron.llm.cost.usd": "0.0012",
    "telemetron.llm.ratelimit.requests.limit": 10_000,
    "telemetron.llm.ratelimit.requests.remaining": 9_000,
    "telemetron.llm.ratelimit.tokens.remaining": 1_900_000,
}
ATTRIBUTES_PER_SPAN = len(GENAI_ATTRIBUTES) + 2

# Each worker's rate limiter waits before every span and allows no burst, so a worker that wakes
# late loses that time for good: many slow workers keep closer to the asked rate than a few fast ones.
_SPANS_PER_WORKER = 100
# The SDK's batch span processor drops spans once this many wait for the (one-at-a-time) export;
# its default, 2,048, is a fifth of a second at 10k spans/s, so a short stall of the Collector
# would drop spans. The SDK reads it from this variable; telemetrygen has no flag for it.
_QUEUE_ENV = {"OTEL_BSP_MAX_QUEUE_SIZE": "65536"}
_GENERATED = re.compile(r'traces generated.*"traces": (\d+)')


def binary() -> Path:
    """The cached telemetrygen binary, built from the Go module proxy the first time (about a minute)."""
    return go_build.cached_binary("telemetrygen", MODULE, VERSION)


def _flag_value(value: str | int | list[str]) -> str:
    """One attribute value in telemetrygen's ``key=value`` syntax: strings quoted, lists bracketed."""
    if isinstance(value, list):
        return "[" + ", ".join(f'"{item}"' for item in value) + "]"
    return str(value) if isinstance(value, int) else f'"{value}"'


class Telemetrygen:
    """``rate`` GenAI spans/s in total for ``seconds`` to an OTLP gRPC endpoint, from ``processes``
    telemetrygen processes: traces of ``spans_per_trace`` spans (a parent and its children) in
    requests of ``per_request``.

    One process exports one request at a time (the SDK's batch span processor), as one agent
    does; several export side by side, as several agents do. Each process logs to ``log_dir``.
    """

    def __init__(
        self,
        endpoint: str,
        log_dir: Path,
        *,
        rate: float,
        seconds: float,
        processes: int = 1,
        spans_per_trace: int = 10,
        per_request: int = 512,
    ) -> None:
        per_process = rate / processes
        workers = max(1, math.ceil(per_process / _SPANS_PER_WORKER))
        self.spans_per_trace = spans_per_trace
        self.log_paths = [log_dir / f"telemetrygen-{i}.log" for i in range(processes)]
        self.argv = [
            str(binary()),
            "traces",
            "--otlp-endpoint",
            endpoint,
            "--otlp-insecure",
            "--service",
            SERVICE,
            "--workers",
            str(workers),
            "--rate",
            str(per_process / workers),  # per worker, counting every span (the limiter waits before each)
            "--duration",
            f"{seconds}s",
            "--child-spans",
            str(spans_per_trace - 1),
            "--batch-size",
            str(per_request),
        ]
        for key, value in GENAI_ATTRIBUTES.items():
            self.argv += ["--telemetry-attributes", f"{key}={_flag_value(value)}"]
        self.cpu_seconds = 0.0  # user + system of every process, known once wait() returns
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> Telemetrygen:
        env = {**os.environ, **_QUEUE_ENV}
        for path in self.log_paths:
            with path.open("wb") as log:
                self._processes.append(subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env))
        return self

    def wait(self, timeout: float) -> int:
        """Waits for the run to end and returns the spans generated (telemetrygen's own counts, from its logs).

        Also sets ``cpu_seconds``: the children's rusage grows by the reaped processes' alone.
        """
        assert self._processes, "start() first"
        deadline = time.monotonic() + timeout
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        codes = [process.wait(max(0.0, deadline - time.monotonic())) for process in self._processes]
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_seconds = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        traces = 0
        for code, path in zip(codes, self.log_paths, strict=True):
            log = path.read_text(errors="replace")
            if code != 0:
                raise RuntimeError(f"telemetrygen exited with {code}:\n{log[-3000:]}")
            traces += sum(int(found) for found in _GENERATED.findall(log))
        return traces * self.spans_per_trace

    def kill(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.kill()
                process.wait()
