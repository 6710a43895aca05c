"""The local stack's real components: a Kafka broker and the Collector fanning spans out to topics."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import stack
from confluent_kafka import Message, Producer
from numbered_load import process_environ
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from polling import wait_until

if TYPE_CHECKING:
    from conftest import OraclePorts

pytestmark = pytest.mark.pipeline


def _send_span(collector: stack.Collector, name: str, *, error: bool = False, attributes: dict | None = None) -> str:
    """Exports one span through the Collector's OTLP gRPC port; returns its hex trace id."""
    provider = TracerProvider(resource=Resource.create({"service.name": "telemetron-stack-test"}))
    exporter = OTLPSpanExporter(endpoint=f"{collector.config.host}:{collector.config.grpc_port}", insecure=True)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.test_stack")
    with tracer.start_as_current_span(name, kind=SpanKind.INTERNAL, attributes=attributes or {}) as span:
        if error:
            span.set_status(Status(StatusCode.ERROR, "boom"))
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def _spans(message: Message) -> list:
    data = TracesData()
    data.ParseFromString(message.value())
    return [s for rs in data.resource_spans for ss in rs.scope_spans for s in ss.spans]


def test_broker_returns_a_produced_message(kafka_broker: stack.KafkaBroker, consume_topic: Callable) -> None:
    key = uuid.uuid4().hex.encode()
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    producer.produce(stack.METRICS_TOPIC, key=key, value=b"hello")
    assert producer.flush(10) == 0

    assert consume_topic(stack.METRICS_TOPIC, key).value() == b"hello"


def test_broker_has_every_topic_with_three_partitions(kafka_broker: stack.KafkaBroker) -> None:
    topics = kafka_broker.admin().list_topics(timeout=10).topics
    assert {t: len(topics[t].partitions) for t in stack.TOPICS} == {t: 3 for t in stack.TOPICS}


def test_exported_span_lands_on_spans_topic_keyed_by_trace_id(
    collector: stack.Collector, consume_topic: Callable
) -> None:
    trace_id = _send_span(collector, "invoke_agent planner")

    message = consume_topic(stack.SPANS_TOPIC, trace_id.encode())

    spans = _spans(message)
    assert [s.name for s in spans] == ["invoke_agent planner"]
    assert spans[0].trace_id.hex() == trace_id


def test_error_span_also_lands_on_errors_topic(collector: stack.Collector, consume_topic: Callable) -> None:
    trace_id = _send_span(collector, "execute_tool search", error=True)

    errors = _spans(consume_topic(stack.ERRORS_TOPIC, trace_id.encode()))

    assert [s.name for s in errors] == ["execute_tool search"]
    assert _spans(consume_topic(stack.SPANS_TOPIC, trace_id.encode()))[0].name == "execute_tool search"


def test_ok_span_stays_off_errors_and_handoffs_topics(collector: stack.Collector, consume_topic: Callable) -> None:
    ok_trace = _send_span(collector, "chat mock-gpt-4o-mini")
    marker = _send_span(collector, "execute_tool transfer_to_marker", error=True)
    # The marker went out after the OK span, so once it is on both topics the OK span had its chance.
    consume_topic(stack.ERRORS_TOPIC, marker.encode())
    consume_topic(stack.HANDOFFS_TOPIC, marker.encode())

    for topic in (stack.ERRORS_TOPIC, stack.HANDOFFS_TOPIC):
        with pytest.raises(AssertionError, match="no message"):
            consume_topic(topic, ok_trace.encode(), timeout=3)


def test_handoff_span_by_name_lands_on_handoffs_topic(collector: stack.Collector, consume_topic: Callable) -> None:
    trace_id = _send_span(collector, "execute_tool transfer_to_writer")

    spans = _spans(consume_topic(stack.HANDOFFS_TOPIC, trace_id.encode()))

    assert [s.name for s in spans] == ["execute_tool transfer_to_writer"]


def test_handoff_span_by_target_attribute_lands_on_handoffs_topic(
    collector: stack.Collector, consume_topic: Callable
) -> None:
    trace_id = _send_span(
        collector,
        "handoff",
        attributes={"gen_ai.agent.handoff.source.name": "planner", "gen_ai.agent.handoff.target.name": "writer"},
    )

    spans = _spans(consume_topic(stack.HANDOFFS_TOPIC, trace_id.encode()))

    assert [s.name for s in spans] == ["handoff"]


def test_collector_forwards_spans_to_the_oracle_endpoint(
    collector: stack.Collector, oracle_ports: OraclePorts, otlp_sink: Callable
) -> None:
    collector.restart()  # a fresh gRPC connect backoff towards the oracle port
    sink = otlp_sink(oracle_ports.grpc)

    trace_id = _send_span(collector, "invoke_agent researcher")

    assert sink.wait_for(trace_id, timeout=60), f"{trace_id} never reached {oracle_ports.grpc_endpoint}"


def test_collector_keeps_spans_until_the_oracle_endpoint_is_back(
    collector: stack.Collector, oracle_ports: OraclePorts, otlp_sink: Callable
) -> None:
    collector.restart()  # a fresh gRPC connect backoff towards the oracle port
    log_start = collector.log_path.stat().st_size
    trace_id = _send_span(collector, "invoke_agent coder")

    def failed_exports() -> int:  # what the Collector logs for each attempt towards the closed port
        with collector.log_path.open("rb") as log:
            log.seek(log_start)
            return sum(b"Exporting failed" in line and b"otlp_grpc/oracle_api" in line for line in log)

    wait_until(lambda: failed_exports() >= 2, 60, "two failed export attempts towards oracle_api")

    sink = otlp_sink(oracle_ports.grpc)

    assert sink.wait_for(trace_id, timeout=60), f"{trace_id} was dropped while {oracle_ports.grpc_endpoint} was down"


def test_replay_config_feeds_kafka_spans_to_an_otlp_endpoint(
    collector_binary: Path, kafka_broker: stack.KafkaBroker, otlp_sink: Callable, tmp_path: Path
) -> None:
    sink_port, health_port, metrics_port, grpc_port, http_port = stack.free_ports(5)
    sink = otlp_sink(sink_port)
    trace_id = uuid.uuid4().hex
    data = TracesData()
    span = data.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes.fromhex(trace_id), uuid.uuid4().bytes[:8], "replayed"
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    producer.produce(stack.SPANS_TOPIC, key=trace_id.encode(), value=data.SerializeToString())
    assert producer.flush(10) == 0

    replay = stack.Collector(
        stack.CollectorConfig(
            binary=collector_binary,
            config_file=stack.REPO / "collector-config" / "otelcol-kafka-replay.yaml",
            storage_dir=tmp_path / "storage",
            grpc_port=grpc_port,
            http_port=http_port,
            health_port=health_port,
            metrics_port=metrics_port,
            kafka_brokers=kafka_broker.bootstrap,
            oracle_endpoint=f"{stack.LOOPBACK}:{sink_port}",
        ),
        log_path=tmp_path / "replay.log",
    )
    replay.start()
    try:
        assert sink.wait_for(trace_id, timeout=60), replay.process.log_tail() if replay.process else ""
    finally:
        replay.stop()


def test_the_collector_runs_with_gos_collector_paced_unless_the_environment_says_otherwise(
    collector: stack.Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert collector.pid is not None
    environ = process_environ(collector.pid)
    expected = stack._go_memory_env()
    assert (environ.get("GOGC"), environ.get("GOMEMLIMIT")) == (expected["GOGC"], expected["GOMEMLIMIT"])
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    monkeypatch.setenv("TELEMETRON_COLLECTOR_MEMORY_LIMIT_MIB", "2000")
    assert stack._go_memory_env() == {"GOGC": "200", "GOMEMLIMIT": "1200MiB"}
    assert stack._go_memory_env(300) == {"GOGC": "200", "GOMEMLIMIT": "300MiB"}
    monkeypatch.setenv("GOGC", "100")
    assert stack._go_memory_env()["GOGC"] == "100"
