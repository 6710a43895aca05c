"""The local stack's real components: a Kafka broker and the Collector fanning spans out to topics."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Message, Producer
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

import stack

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
