"""Pytest fixtures that run a real oracle_api (real gRPC, real HTTP, a real SQLite file) in-process.

Loaded for every test through ``-p oracle_fixtures`` in pyproject.toml.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from telemetron_oracle_api.server import OracleApi
from telemetron_oracle_api.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningOracle:
    """A started oracle_api: its URLs, its objects, and helpers to feed it and wait on it."""

    oracle: OracleApi
    http_url: str
    grpc_endpoint: str
    _server: uvicorn.Server
    _thread: threading.Thread

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.http_url, timeout=10, **kwargs)

    def tracer_provider(self, service_name: str = "test-agents", **resource) -> TracerProvider:
        """An SDK TracerProvider exporting synchronously over OTLP gRPC to this receiver."""
        provider = TracerProvider(resource=Resource.create({"service.name": service_name, **resource}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=self.grpc_endpoint, insecure=True)))
        return provider

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0) -> object:
        """Poll until predicate returns something truthy; fail the test with a clear message otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {timeout}s: {predicate}")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.oracle.stop()


def start_oracle(db_path: Path, **overrides) -> RunningOracle:
    """Start oracle_api on free loopback ports; raise if it does not come up."""
    settings = Settings(http_port=free_port(), grpc_port=free_port(), db_path=db_path, **overrides)
    oracle = OracleApi(settings)
    oracle.start()
    config = uvicorn.Config(oracle.app, host="127.0.0.1", port=settings.http_port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            oracle.stop()
            raise RuntimeError("oracle_api HTTP server did not start")
        time.sleep(0.02)
    return RunningOracle(
        oracle=oracle,
        http_url=f"http://127.0.0.1:{settings.http_port}",
        grpc_endpoint=f"127.0.0.1:{oracle.receiver.port}",
        _server=server,
        _thread=thread,
    )


@pytest.fixture
def oracle_server(tmp_path: Path) -> Iterator[RunningOracle]:
    """A fresh oracle_api with its own SQLite file, stopped after the test."""
    running = start_oracle(tmp_path / "telemetron.db")
    yield running
    running.stop()


@pytest.fixture
def make_oracle(tmp_path: Path) -> Iterator[Callable[..., RunningOracle]]:
    """``make_oracle(**settings)``: oracle_api instances with changed settings, all stopped after the test."""
    started: list[RunningOracle] = []

    def make(**overrides) -> RunningOracle:
        running = start_oracle(tmp_path / f"oracle-{len(started)}.db", **overrides)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()
