"""Trace requests decoded in a decoder process (receiver/decode_process.py) come back as decode.py makes
them in-process: the same records, rejections and refusals; a decoder that dies is replaced."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from numbered_load import ended
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from polling import wait_until
from telemetron_instrumentation import semconv
from telemetron_oracle_api.receiver.decode import ResourceCache, decode_traces
from telemetron_oracle_api.receiver.decode_process import DecoderProcesses
from telemetron_oracle_api.receiver.wire import MAX_NESTING, MalformedRequest
from test_receiver import make_span, request_of
from test_receiver_span_attributes import nested, request_with


@pytest.fixture(scope="module")
def decoders():
    pool = DecoderProcesses(1)
    yield pool
    pool.close()


def pending_record(n: int):
    span = make_span(n, parent_span_id=(n + 100).to_bytes(8, "big"))
    span.attributes.append(KeyValue(key=semconv.SPAN_TYPE, value=AnyValue(string_value=semconv.SPAN_TYPE_PENDING)))
    return span


def mixed_request() -> bytes:
    """Good spans, a pending record, a span refused (bad trace id) and one whose too-deep attribute is dropped."""
    spans = [make_span(0), make_span(1, trace_id=b"\x00" * 16), pending_record(2), make_span(3)]
    one_deep = request_with([nested(MAX_NESTING + 1)])  # a second resource group: two requests' bytes merge
    return request_of(*spans).SerializeToString() + one_deep


def test_a_decoder_process_answers_what_decode_makes_in_process(decoders) -> None:
    raw = mixed_request()
    here = decode_traces(raw, ResourceCache())
    there = decoders.decode_traces(raw)
    key = lambda s: s.span_id  # noqa: E731  # the decoder sends pending records after the others
    assert sorted(there.spans, key=key) == sorted(here.spans, key=key)
    assert [s.pending for s in sorted(there.spans, key=key)] == [
        False,
        True,
        False,
        False,
    ]  # span-0, the pending record, span-3, the deep one
    assert there.rejections == here.rejections and there.rejected == 1
    assert {r.what for r in there.rejections} == {"span", "attribute"}
    assert there.packed is not None and here.packed is None


def test_a_malformed_request_is_refused_with_the_same_reason(decoders) -> None:
    raw = b"\x0a\xff\xff\xff"  # a length past the end
    with pytest.raises(MalformedRequest) as in_process:
        decode_traces(raw, ResourceCache())
    with pytest.raises(MalformedRequest) as in_decoder:
        decoders.decode_traces(raw)
    assert str(in_decoder.value) == str(in_process.value)


def test_a_decoder_process_that_died_is_replaced_on_the_next_request(decoders) -> None:
    open_files = len(os.listdir("/proc/self/fd"))
    for n in range(3):
        [before] = decoders.pids
        os.kill(before, signal.SIGKILL)
        wait_until(partial(ended, before), what="the decoder process ending")
        decoded = decoders.decode_traces(request_of(make_span(n)).SerializeToString())
        assert [s.name for s in decoded.spans] == [f"span-{n}"]
        assert decoders.pids not in ([], [before])
    assert len(os.listdir("/proc/self/fd")) == open_files  # each ended decoder's socket was closed


def test_requests_from_many_threads_are_spread_over_the_decoders_and_each_gets_its_own_answer() -> None:
    pool = DecoderProcesses(2)
    try:
        requests = {n: request_of(make_span(n, trace=n + 1)).SerializeToString() for n in range(40)}
        with ThreadPoolExecutor(8) as threads:
            answers = dict(zip(requests, threads.map(pool.decode_traces, requests.values()), strict=True))
        assert {n: [s.name for s in d.spans] for n, d in answers.items()} == {n: [f"span-{n}"] for n in requests}
        assert len(set(pool.pids)) == 2
    finally:
        pool.close()
    assert pool.pids == []
