"""Pending records as the agent side now sends them (the operation under our namespace) still make running work visible."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from oracle_feed import agent_of, get_state
from telemetron_instrumentation import semconv
from telemetron_instrumentation.pending import PendingSpanProcessor


def test_an_agent_reported_only_by_the_pending_processor_is_running_in_the_oracle(oracle_server):
    pending = PendingSpanProcessor(
        OTLPSpanExporter(endpoint=oracle_server.grpc_endpoint, insecure=True), export_delay_ms=20
    )
    provider = TracerProvider(resource=Resource({"service.name": "writer-svc"}))
    provider.add_span_processor(pending)  # no exporter for real spans: only the records reach the Oracle
    tracer = provider.get_tracer("tests")
    attributes = {
        semconv.GEN_AI_OPERATION_NAME: semconv.OP_INVOKE_AGENT,
        semconv.GEN_AI_AGENT_NAME: "writer",
        semconv.TASK_ID: "task-7",
    }
    try:
        with tracer.start_as_current_span("invoke_agent writer", attributes=attributes) as span:
            state = oracle_server.wait_for(lambda: (s := get_state(oracle_server)) and s["agents"] and s)
            [task] = agent_of(state, "writer")["activity"]["active_task_ids"]
            assert task["id"] == "task-7" and task["status"] == "running"
            assert task["trace_id"] == format(span.get_span_context().trace_id, "032x")
    finally:
        provider.shutdown()
