"""Our OTLP span encoder produces the very message the SDK's encoder builds, and its exporter is the SDK's."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
from telemetron_instrumentation import _exporters
from telemetron_instrumentation._grpc_span_exporter import OTLPSpanExporter, fast_encoder_supported
from telemetron_instrumentation._otlp_encoder import encode_spans
from telemetron_instrumentation.testing import OtlpSink

EVERY_VALUE_TYPE: dict[str, Any] = {
    "str": "chat gpt-4o",
    "str.empty": "",
    "str.unicode": "naïve ☃ 日本",
    "str.long": "x" * 300,
    "bool.true": True,
    "bool.false": False,
    "int.zero": 0,
    "int": 42,
    "int.negative": -7,
    "int.max": 2**63 - 1,
    "int.min": -(2**63),
    "float": 0.25,
    "float.zero": 0.0,
    "float.negative_zero": -0.0,
    "float.negative": -1e300,
    "str.array": ["stop", "length"],
    "bool.array": [True, False],
    "int.array": [1, -2, 3],
    "float.array": [0.5, 1.5],
    "array.empty": [],
}

# The byte-for-byte comparisons hold for the SDKs the encoder is used with; other SDKs get their own.
verified_sdk = pytest.mark.skipif(not fast_encoder_supported(), reason="the fast encoder is not used with this SDK")

ROOT = SpanContext(
    0x0AF7651916CD43DD8448EB211C80319C,
    0x00F067AA0BA902B7,
    is_remote=False,
    trace_flags=TraceFlags(1),
    trace_state=TraceState([("vendor", "a=1"), ("other", "b")]),
)
REMOTE_PARENT = SpanContext(ROOT.trace_id, 0x1111111111111111, is_remote=True, trace_flags=TraceFlags(1))


def _spans() -> list[ReadableSpan]:
    """Spans from a real SDK TracerProvider, plus hand-built ones for what a tracer cannot make."""
    exporter = InMemorySpanExporter()
    resource = Resource.create(
        {"service.name": "encoder-test", "k8s.pod.name": "pod-1", "replicas": 3}, "https://schema/1"
    )
    provider = TracerProvider(
        resource=resource, span_limits=SpanLimits(max_attributes=40, max_events=2, max_links=2, max_event_attributes=2)
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(
        "telemetron.test", "1.2.3", schema_url="https://schema/scope", attributes={"scope.attr": "x", "scope.n": 1}
    )
    other = provider.get_tracer("other.scope")
    link = Link(REMOTE_PARENT, {"link.attr": "v", "link.n": 2})
    from opentelemetry import trace

    with tracer.start_as_current_span(
        "invoke_agent planner", kind=SpanKind.INTERNAL, attributes=EVERY_VALUE_TYPE, links=[link, Link(ROOT)]
    ) as parent:
        parent.add_event(
            "gen_ai.choice",
            {"index": 0, "finish_reason": "stop", "dropped.by.limit": 1},
            timestamp=1_700_000_000_000_000_001,
        )
        parent.add_event("no attributes")
        parent.add_event("third")  # over max_events: counted as dropped
        for extra in range(3):
            parent.add_link(ROOT, {"extra": extra})  # over max_links
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as child:
            child.set_attributes({f"attr.{i}": i for i in range(45)})  # over max_attributes
            child.set_status(Status(StatusCode.ERROR, "provider said 500"))
        with other.start_as_current_span("server work", kind=SpanKind.SERVER) as server:
            server.set_status(Status(StatusCode.OK))
    remote_ctx = trace.set_span_in_context(trace.NonRecordingSpan(REMOTE_PARENT))
    for kind in (SpanKind.PRODUCER, SpanKind.CONSUMER):
        tracer.start_span(f"queue {kind.name}", context=remote_ctx, kind=kind).end()
    spans = list(exporter.get_finished_spans())
    other_resource = Resource({"service.name": "second"})
    spans.append(
        ReadableSpan(
            name="",
            context=ROOT,
            parent=None,
            resource=other_resource,
            attributes={"only": "one"},
            events=(Event("e", {"nested.none": None}, timestamp=5),),
            kind=SpanKind.INTERNAL,
            status=Status(StatusCode.UNSET),
            start_time=1,
            end_time=2,
            instrumentation_scope=None,
        )
    )
    # An equal but distinct Resource object groups with the first, as the SDK's dict does.
    spans.append(
        ReadableSpan(
            name="same resource, other object",
            context=ROOT,
            resource=Resource(dict(resource.attributes), resource.schema_url),
            instrumentation_scope=InstrumentationScope(
                "telemetron.test", "1.2.3", "https://schema/scope", {"scope.attr": "x", "scope.n": 1}
            ),
            start_time=3,
            end_time=4,
        )
    )
    return spans


@verified_sdk
def test_encoded_request_parses_to_exactly_the_sdk_encoders_message():
    spans = _spans()
    assert any(s.dropped_attributes for s in spans) and any(s.dropped_events for s in spans)
    assert any(s.dropped_links for s in spans) and any(s.parent and s.parent.is_remote for s in spans)
    expected = sdk_encode_spans(spans)
    ours = ExportTraceServiceRequest.FromString(encode_spans(spans))
    assert ours == expected
    assert len(ours.resource_spans) == 2 and len(ours.resource_spans[0].scope_spans) == 2


@verified_sdk
def test_mappings_and_values_the_sdk_cannot_encode_match_too():
    span = ReadableSpan(
        name="odd values",
        context=ROOT,
        resource=Resource({}),
        start_time=1,
        end_time=2,
        attributes={
            "map": {"a": 1, "b": [True, "x"], 3: {"deep": 0.5}},
            "bytes": b"\x00\xff",
            "too.big": 2**64,
            "after.too.big": "kept",
            "none": None,
        },
    )
    assert ExportTraceServiceRequest.FromString(encode_spans([span])) == sdk_encode_spans([span])


@verified_sdk
def test_repeated_attributes_come_from_the_cache_unchanged():
    spans = _spans()
    first, second = encode_spans(spans), encode_spans(spans)
    assert first == second
    assert ExportTraceServiceRequest.FromString(second) == sdk_encode_spans(spans)


def test_exporter_sends_the_same_request_over_grpc_and_reads_otel_env(monkeypatch):
    with OtlpSink() as sink:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", sink.endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=acme")
        monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
        (exporter,) = _exporters.make_exporters("traces")
        assert isinstance(exporter, OTLPSpanExporter) == fast_encoder_supported()  # else the SDK's own
        assert ("x-tenant", "acme") in tuple(exporter._headers)
        spans = _spans()
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
        assert sink.trace_requests == [sdk_encode_spans(spans)]


def test_an_sdk_the_encoder_was_not_verified_against_gets_the_sdks_own_exporter(monkeypatch):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as SDKExporter
    from telemetron_instrumentation import _grpc_span_exporter

    monkeypatch.setattr(_grpc_span_exporter, "sdk_version", "1.99.0")
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    (exporter,) = _exporters.make_exporters("traces", "http://127.0.0.1:4317", "grpc")
    assert type(exporter) is SDKExporter
    exporter.shutdown()


def test_a_first_request_that_differs_from_the_sdks_switches_to_the_sdks_encoder(monkeypatch):
    from telemetron_instrumentation import _grpc_span_exporter

    monkeypatch.setattr(_grpc_span_exporter, "encode_spans", lambda spans: encode_spans(spans[:-1]))  # a broken encoder
    with OtlpSink() as sink:
        exporter = OTLPSpanExporter(endpoint=sink.endpoint, insecure=True)
        spans = _spans()
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        assert exporter.export(spans[:2]) == SpanExportResult.SUCCESS
        exporter.shutdown()
        assert not exporter.fast
        assert sink.trace_requests == [sdk_encode_spans(spans), sdk_encode_spans(spans[:2])]
