"""Session fixtures for tests that need real processes: the Collector binary, a Kafka broker and a
running Collector, all on free loopback ports so they never collide with a running demo.

A component that cannot be built or started makes the tests that use it fail, never skip.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import stack  # deploy/local/stack.py (pytest's pythonpath includes deploy/local)
from confluent_kafka import Consumer, Message, TopicPartition
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from telemetron_oracle_api.receiver.decode import ResourceCache, decode_traces


@dataclass(frozen=True)
class OraclePorts:
    """Loopback ports reserved for an oracle_api started by a test; the session Collector exports to ``grpc``."""

    http: int
    grpc: int
    host: str = stack.LOOPBACK

    @property
    def grpc_endpoint(self) -> str:
        return f"{self.host}:{self.grpc}"


@pytest.fixture(scope="session")
def free_ports() -> Callable[[int], list[int]]:
    """``free_ports(n)``: n distinct loopback ports free right now."""
    return stack.free_ports


@pytest.fixture(scope="session")
def collector_binary() -> Path:
    """The Collector binary, built by deploy/local/build_collector.sh (cached by the manifest's hash)."""
    return stack.build_collector()


@pytest.fixture(scope="session")
def kafka_libs() -> Path:
    """The Kafka broker's jars, fetched by deploy/local/fetch_kafka.sh (cached by the POM's hash)."""
    return stack.fetch_kafka()


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's directory for broker data, Collector storage and process logs."""
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def kafka_broker(kafka_libs: Path, stack_dir: Path) -> Iterator[stack.KafkaBroker]:
    """A single-node KRaft broker on free ports with the five agent-telemetry topics created."""
    port, controller_port = stack.free_ports(2)
    broker = stack.KafkaBroker(
        stack.KafkaConfig(
            data_dir=stack_dir / "kafka", libs_dir=kafka_libs, port=port, controller_port=controller_port
        ),
        log_path=stack_dir / "logs" / "kafka.log",
    )
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[stack.PostgresServer]:
    """A throwaway PostgreSQL cluster (Debian's binaries, initdb) on a free port; each test module makes its databases."""
    root = Path(tempfile.mkdtemp(prefix="telemetron-pg-"))
    root.chmod(0o755)  # as root the server runs as the postgres user, which must reach its data directory
    (port,) = stack.free_ports(1)
    server = stack.PostgresServer(
        stack.PostgresConfig(data_dir=root / "data", port=port), log_path=root / "postgres.log"
    )
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def _store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return ""  # the default: SQLite at the test's db_path
    server: stack.PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_store_url(request: pytest.FixtureRequest) -> str:
    """TELEMETRON_STORE_URL for a module's server: the API suite runs once on each backend."""
    return _store_url(request)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """TELEMETRON_STORE_URL for one test, on a fresh PostgreSQL database or the test's own SQLite file."""
    return _store_url(request)


@pytest.fixture(scope="session")
def oracle_ports() -> OraclePorts:
    """Ports for an oracle_api under test; nothing listens there unless a test starts one."""
    http, grpc = stack.free_ports(2)
    return OraclePorts(http=http, grpc=grpc)


@pytest.fixture(scope="session")
def collector(
    collector_binary: Path, kafka_broker: stack.KafkaBroker, oracle_ports: OraclePorts, stack_dir: Path
) -> Iterator[stack.Collector]:
    """The Collector on free ports, exporting to ``kafka_broker`` and to ``oracle_ports.grpc``.

    While nothing listens on ``oracle_ports.grpc`` its gRPC connect backoff grows (up to 120s), so a
    test that starts a receiver there late in the session should call ``collector.restart()`` first.
    """
    grpc, http, health, metrics = stack.free_ports(4)
    collector = stack.Collector(
        stack.CollectorConfig(
            binary=collector_binary,
            storage_dir=stack_dir / "collector-storage",
            grpc_port=grpc,
            http_port=http,
            health_port=health,
            metrics_port=metrics,
            kafka_brokers=kafka_broker.bootstrap,
            oracle_endpoint=oracle_ports.grpc_endpoint,
        ),
        log_path=stack_dir / "logs" / "collector.log",
    )
    collector.start()
    yield collector
    collector.stop()


@pytest.fixture
def consume_topic(kafka_broker: stack.KafkaBroker) -> Callable[..., Message]:
    """``consume_topic(topic, key=b"...", timeout=30)``: the first message on ``topic`` with that key, from offset 0."""

    def consume(topic: str, key: bytes, timeout: float = 30.0) -> Message:
        consumer = Consumer(
            {
                "bootstrap.servers": kafka_broker.bootstrap,
                "group.id": f"test-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "logger": logging.getLogger("telemetron.tests.kafka"),
            }
        )
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                if message.key() == key:
                    return message
            raise AssertionError(f"no message with key {key!r} on {topic} within {timeout:.0f}s")
        finally:
            consumer.close()

    return consume


class OtlpTraceSink:
    """A bare OTLP gRPC trace receiver that remembers the trace ids it was sent.

    It decodes with oracle_api's lenient decoder: the session's Kafka topics also carry the hostile
    corpus (tests/test_hostile_input.py), and a Collector replaying them may batch such a trace with
    the one a test waits for; a strict parser would refuse the whole request.
    """

    def __init__(self, port: int, host: str = stack.LOOPBACK) -> None:
        self.trace_ids: set[str] = set()
        self._changed = threading.Condition()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.unary_unary_rpc_method_handler(
            self._export, request_deserializer=None, response_serializer=lambda message: message.SerializeToString()
        )
        self._server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}
                ),
            )
        )
        if self._server.add_insecure_port(f"{host}:{port}") != port:
            raise RuntimeError(f"OTLP sink cannot listen on {host}:{port}")
        self._server.start()

    def _export(self, raw: bytes, context: grpc.ServicerContext) -> trace_service_pb2.ExportTraceServiceResponse:
        try:
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(raw)
            ids = {span.trace_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans}
        except DecodeError:  # the lenient decoder keeps every span it can read (and only valid ones)
            ids = {span.trace_id for span in decode_traces(raw, ResourceCache()).spans}
        with self._changed:
            self.trace_ids |= ids
            self._changed.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()

    def wait_for(self, trace_id: str, timeout: float = 30.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: trace_id in self.trace_ids, timeout)

    def stop(self) -> None:
        self._server.stop(grace=None).wait()


@pytest.fixture
def otlp_sink() -> Iterator[Callable[[int], OtlpTraceSink]]:
    """``otlp_sink(port)``: an OTLP gRPC trace receiver on that loopback port, stopped after the test."""
    sinks: list[OtlpTraceSink] = []

    def start(port: int) -> OtlpTraceSink:
        sinks.append(OtlpTraceSink(port))
        return sinks[-1]

    yield start
    for sink in sinks:
        sink.stop()
