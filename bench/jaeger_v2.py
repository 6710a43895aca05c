"""Jaeger v2 with Badger storage beside oracle_api, for side-by-side benchmarks (not part of the product).

The binary is built once from the Go module proxy (``go get -tool`` of ``cmd/jaeger`` in a
throwaway module, then ``go build``) and cached under ``~/.cache/telemetron/jaeger-<version>/``
(``TELEMETRON_CACHE_DIR`` moves it); it is never committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import go_build
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy" / "local"))
import stack  # noqa: E402

VERSION = "v1.75.0"  # the module release that holds Jaeger v2 in cmd/jaeger
MODULE = "github.com/jaegertracing/jaeger"

# Without the batch processor the OTLP receiver answers once the Badger write returns, the nearest
# to oracle_api's acknowledge-after-commit; Jaeger's sample config batches, answering before storage.
_CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [{processors}]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:{health}
  jaeger_query:
    storage:
      traces: main
    http:
      endpoint: 127.0.0.1:{query_http}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      main:
        badger:
          directories:
            keys: {data}/keys
            values: {data}/values
          ephemeral: false
          ttl:
            spans: 168h
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc}
        max_recv_msg_size_mib: 64
      http:
        endpoint: 127.0.0.1:{otlp_http}
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: main
"""


def binary() -> Path:
    """The cached Jaeger v2 binary, built from the Go module proxy the first time (a few minutes)."""
    return go_build.cached_binary("jaeger", f"{MODULE}/cmd/jaeger", VERSION)


class Jaeger:
    """One Jaeger v2 process on free loopback ports, its Badger files under ``workdir``."""

    def __init__(self, workdir: Path, *, batch: bool = False) -> None:
        self.data = workdir / "badger"
        ports = stack.free_ports(5)
        self.otlp_grpc, self.otlp_http, self.health, self.query_http, self.query_grpc = ports
        self.config = workdir / "jaeger.yaml"
        self.config.write_text(
            _CONFIG.format(
                data=self.data,
                otlp_grpc=self.otlp_grpc,
                otlp_http=self.otlp_http,
                health=self.health,
                query_http=self.query_http,
                query_grpc=self.query_grpc,
                processors="batch" if batch else "",
            )
        )
        self.process = stack.ManagedProcess(
            "jaeger", [str(binary()), "--config", str(self.config)], workdir / "jaeger.log", cwd=workdir
        )

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.otlp_grpc}"

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def start(self) -> None:
        self.process.start()
        self.process.wait_until(self._ready, 60, "ready")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.health}/status", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.process.stop()
