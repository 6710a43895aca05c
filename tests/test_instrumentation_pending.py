"""Pending spans: a start record for running work, and heartbeats while it stays open."""

import os
import threading
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # capture_globally() registers the LiteLLM callback

from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from polling import wait_until
from telemetron_instrumentation import execute_tool, invoke_agent, semconv
from telemetron_instrumentation.pending import PendingSpanProcessor
from telemetron_instrumentation.testing import capture_globally


def fresh_capture():
    capture = capture_globally()
    capture.clear()
    return capture


def pending_for(capture, span_id):
    return [p for p in capture.pending_records() if p.parent.span_id == span_id]


def wait_pending(capture, span_id, count=1, timeout=2.0):
    return wait_until(
        lambda: len(records := pending_for(capture, span_id)) >= count and records,
        timeout,
        f"{count} pending records",
    )


def test_pending_span_is_emitted_at_start_as_a_zero_length_child_copy():
    capture = fresh_capture()
    with invoke_agent("orchestrator") as root:
        with execute_tool("search", call_id="c1") as tool:
            tool_id = tool.get_span_context().span_id
            [pending] = wait_pending(capture, tool_id)  # exported while the real span is open
            assert capture.finished() == []
    real = next(s for s in capture.finished() if s.name == "execute_tool search")
    assert pending.name == real.name
    assert pending.context.trace_id == real.context.trace_id
    assert pending.context.span_id not in (real.context.span_id, real.parent.span_id)
    assert pending.parent.span_id == real.context.span_id
    assert pending.kind is SpanKind.INTERNAL
    assert pending.start_time == real.start_time <= pending.end_time <= real.end_time
    attributes = dict(pending.attributes)
    assert attributes.pop(semconv.SPAN_TYPE) == semconv.SPAN_TYPE_PENDING
    assert attributes.pop(semconv.PENDING_PARENT_ID) == format(root.get_span_context().span_id, "016x")
    # Not an operation: the operation name moves to our namespace, so GenAI consumers do not count it.
    assert attributes.pop(semconv.PENDING_OPERATION_NAME) == real.attributes[semconv.GEN_AI_OPERATION_NAME]
    assert attributes == {k: v for k, v in real.attributes.items() if k != semconv.GEN_AI_OPERATION_NAME}
    [root_pending] = wait_pending(capture, root.get_span_context().span_id)
    assert root_pending.attributes[semconv.PENDING_PARENT_ID] == ""


def test_heartbeats_repeat_while_the_span_is_open_and_stop_after():
    capture = fresh_capture()
    interval = capture.pending.heartbeat_seconds
    with invoke_agent("slow") as span:
        wait_pending(capture, span.get_span_context().span_id, count=4, timeout=interval * 40)
    capture.pending.force_flush()  # waits for a heartbeat being built right now
    records = pending_for(capture, span.get_span_context().span_id)
    assert 4 <= len(records) <= 6  # a start record, then one per interval (loose: CI machines stall)
    ends = [r.end_time for r in records]
    assert ends == sorted(ends) and len({r.context.span_id for r in records}) == len(records)
    gaps = [(b - a) / 1e9 for a, b in zip(ends, ends[1:])]
    assert all(interval * 0.5 <= g <= interval * 4 for g in gaps), gaps
    assert capture.pending.open_spans == 0  # nothing left to beat for
    capture.pending.force_flush()
    assert len(pending_for(capture, span.get_span_context().span_id)) == len(records)


def test_plain_spans_get_no_pending_record():
    capture = fresh_capture()
    with capture.tracer_provider.get_tracer("tests").start_as_current_span("plain"):
        assert capture.pending.open_spans == 0  # not tracked, so no start record can ever come
        capture.pending.force_flush()
    assert capture.pending_records() == []


def test_spans_younger_than_the_export_delay_get_no_start_record_even_when_a_tick_falls_inside_them():
    exporter = InMemorySpanExporter()
    processor = PendingSpanProcessor(exporter, heartbeat_seconds=30, export_delay_ms=300)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("tests")
    quick = tracer.start_span("chat quick", attributes={semconv.GEN_AI_OPERATION_NAME: "chat"})
    slow = tracer.start_span("chat slow", attributes={semconv.GEN_AI_OPERATION_NAME: "chat"})
    processor.force_flush()  # a tick while both are younger than 300 ms
    quick.end()
    assert exporter.get_finished_spans() == ()
    # A tick once the slow one is older than the delay (the background tick may come first).
    [record] = wait_until(lambda: processor.force_flush() and exporter.get_finished_spans(), 10, "a start record")
    assert record.parent.span_id == slow.get_span_context().span_id
    slow.end()
    provider.shutdown()


def test_pending_spans_are_exported_within_two_seconds_through_their_own_batch_exporter():
    exporter = InMemorySpanExporter()
    processor = PendingSpanProcessor(exporter, heartbeat_seconds=30)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("tests")
    span = tracer.start_span("invoke_agent worker", attributes={semconv.GEN_AI_OPERATION_NAME: "invoke_agent"})
    [pending] = wait_until(exporter.get_finished_spans, 2.0, "the pending span's export")
    assert pending.attributes[semconv.SPAN_TYPE] == semconv.SPAN_TYPE_PENDING
    span.end()
    provider.shutdown()


def test_one_heartbeat_thread_for_all_open_spans_stopped_by_shutdown():
    provider = TracerProvider()
    processor = PendingSpanProcessor(InMemorySpanExporter(), heartbeat_seconds=0.1)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("tests")
    spans = [
        tracer.start_span(f"invoke_agent a{i}", attributes={semconv.GEN_AI_OPERATION_NAME: "invoke_agent"})
        for i in range(5)
    ]
    heartbeat_threads = [t for t in threading.enumerate() if t.name == "telemetron-pending"]
    assert processor.open_spans == 5 and processor._thread in heartbeat_threads
    for span in spans:
        span.end()
    assert processor.open_spans == 0
    provider.shutdown()
    assert not processor._thread.is_alive()


class _BlockingExporter(InMemorySpanExporter):
    """Holds every export until ``release`` is set, noting when each one starts and returns."""

    def __init__(self, events: list) -> None:
        super().__init__()
        self.events, self.started, self.release = events, threading.Event(), threading.Event()

    def export(self, spans):
        self.events.append("record export starts")
        self.started.set()
        self.release.wait(30)
        result = super().export(spans)
        self.events.append("record export returned")
        return result


class _Arrivals(SpanProcessor):
    def __init__(self, events: list) -> None:
        self.events = events

    def on_end(self, span) -> None:
        self.events.append("real span handed on")


def test_a_span_ending_while_its_record_is_exported_is_handed_on_only_after_that_export():
    events: list = []
    exporter = _BlockingExporter(events)
    processor = PendingSpanProcessor(exporter, heartbeat_seconds=30, export_delay_ms=10)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    provider.add_span_processor(_Arrivals(events))
    tracer = provider.get_tracer("tests")
    old = time.time_ns() - 10**9  # open for a second already: its start record is due at once
    span = tracer.start_span(
        "invoke_agent slow", attributes={semconv.GEN_AI_OPERATION_NAME: "invoke_agent"}, start_time=old
    )
    assert exporter.started.wait(10), "no start record was exported"
    ender = threading.Thread(target=span.end)
    ender.start()
    ender.join(timeout=1.0)  # bounded: the span must be waiting for the record's export, not gone on
    assert ender.is_alive() and events == ["record export starts"], events
    exporter.release.set()
    ender.join(timeout=10)
    assert events == ["record export starts", "record export returned", "real span handed on"]
    processor.force_flush()
    assert len(exporter.get_finished_spans()) == 1  # an ended span never gets another record
    provider.shutdown()


def test_a_span_ended_before_a_tick_gets_no_record_even_when_it_was_due():
    exporter = InMemorySpanExporter()
    processor = PendingSpanProcessor(exporter, heartbeat_seconds=30, export_delay_ms=10_000)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    old = time.time_ns() - 60 * 10**9  # older than the delay: due at the next tick
    span = provider.get_tracer("tests").start_span(
        "chat old", attributes={semconv.GEN_AI_OPERATION_NAME: "chat"}, start_time=old
    )
    span.end()
    processor._open[span.get_span_context().span_id] = span  # as in a tick's snapshot taken just before the end
    processor.force_flush()
    assert exporter.get_finished_spans() == ()
    provider.shutdown()
