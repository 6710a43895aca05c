"""The OTLP gRPC receiver: what it stores, what it rejects and how, and that it stays up."""

from __future__ import annotations

import sqlite3
import threading

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from oracle_fixtures import start_oracle
from otlp_builders import LOGS_EXPORT, METRICS_EXPORT, TRACE_EXPORT, kv
from telemetron_oracle_api.store import span_documents

T0 = 1_700_000_000_000_000_000


def make_span(n: int, trace: int = 1, **overrides) -> Span:
    span = Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=(n + 1).to_bytes(8, "big"),
        name=f"span-{n}",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=T0 + n,
        end_time_unix_nano=T0 + n + 1_000_000,
        attributes=[kv("gen_ai.request.model", "gpt-4o"), kv("n", n)],
    )
    for key, value in overrides.items():
        if key == "status":
            span.status.CopyFrom(value)
        elif key == "attributes":
            del span.attributes[:]
            span.attributes.extend(value)
        else:
            setattr(span, key, value)
    return span


def request_of(*spans: Span, service: str = "svc") -> ExportTraceServiceRequest:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    rs.resource.attributes.append(kv("service.name", service))
    return ExportTraceServiceRequest(resource_spans=[rs])


@pytest.fixture
def export(oracle_server):
    channel = grpc.insecure_channel(oracle_server.grpc_endpoint)
    call = channel.unary_unary(
        TRACE_EXPORT,
        request_serializer=None,
        response_deserializer=ExportTraceServiceResponse.FromString,
    )
    yield lambda raw: call(raw if isinstance(raw, bytes) else raw.SerializeToString(), timeout=30)
    channel.close()


def stored(oracle_server, sql: str, *params):
    with sqlite3.connect(oracle_server.oracle.settings.db_path) as conn:
        span_documents.register(conn)  # telemetron_json(column): a stored document as JSON text
        return conn.execute(sql, params).fetchall()


def span_names(oracle_server) -> list[str]:
    return [r[0] for r in stored(oracle_server, "SELECT name FROM spans ORDER BY name")]


def test_acknowledged_spans_are_stored_with_promoted_columns(oracle_server, export):
    response = export(request_of(make_span(0), make_span(1, parent_span_id=(1).to_bytes(8, "big"))))
    assert not response.HasField("partial_success")
    rows = stored(
        oracle_server,
        "SELECT span_id, parent_span_id, service_name, request_model, json_extract(telemetron_json(attributes), '$.n') "
        "FROM spans ORDER BY span_id",
    )
    assert rows == [
        ("0000000000000001", None, "svc", "gpt-4o", 0),
        ("0000000000000002", "0000000000000001", "svc", "gpt-4o", 1),
    ]
    assert stored(oracle_server, "SELECT span_count, root_name FROM traces") == [(2, "span-0")]


def test_malformed_request_is_invalid_argument_and_server_stays_up(oracle_server, export):
    with pytest.raises(grpc.RpcError) as err:
        export(b"\x0a\xff\xff\xff\xff\x0fnot-protobuf")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed OTLP request" in err.value.details()
    export(request_of(make_span(0)))
    assert span_names(oracle_server) == ["span-0"]
    health = oracle_server.client().get("/health").json()
    assert health["receiver"]["traces"]["malformed_requests"] == 1


@pytest.mark.parametrize(
    "bad, reason",
    [
        ({"trace_id": bytes(16)}, "invalid trace_id"),
        ({"span_id": b"\x01\x02"}, "invalid span_id"),
        ({"parent_span_id": b"\x01\x02\x03"}, "invalid parent_span_id"),
        ({"start_time_unix_nano": T0 + 10, "end_time_unix_nano": T0 + 5}, "end_time_unix_nano is before"),
        ({"start_time_unix_nano": 0}, "missing start_time_unix_nano"),
    ],
)
def test_invalid_span_is_rejected_and_counted_while_good_spans_are_kept(oracle_server, export, bad, reason):
    response = export(request_of(make_span(0), make_span(1, **bad), make_span(2)))
    assert response.partial_success.rejected_spans == 1
    assert reason in response.partial_success.error_message
    assert span_names(oracle_server) == ["span-0", "span-2"]
    health = oracle_server.client().get("/health").json()
    assert health["receiver"]["traces"]["rejected"] == 1
    assert reason in health["receiver"]["traces"]["last_error"]


def test_one_mebibyte_attribute_is_stored_losslessly(oracle_server, export):
    big = "x" * (1024 * 1024)
    response = export(request_of(make_span(0, attributes=[kv("gen_ai.output.messages", big)])))
    assert not response.HasField("partial_success")
    [(length,)] = stored(
        oracle_server,
        "SELECT length(json_extract(telemetron_json(attributes), '$.\"gen_ai.output.messages\"')) FROM spans",
    )
    assert length == len(big)


def test_non_utf8_string_rejects_only_that_span(oracle_server, export):
    raw = request_of(make_span(0), make_span(1, name="BAD!"), make_span(2)).SerializeToString()
    raw = raw.replace(b"BAD!", b"\xff\xfe\xfd\xfc")  # same length: valid wire format, invalid UTF-8
    response = export(raw)
    assert response.partial_success.rejected_spans == 1
    assert "UTF-8" in response.partial_success.error_message
    assert span_names(oracle_server) == ["span-0", "span-2"]


def test_every_attribute_value_type_round_trips(oracle_server, export):
    values = {"s": "text", "b": True, "i": -7, "d": 1.5, "raw": b"\x00\x01", "arr": [1, "two"], "map": {"inner": 2.0}}
    span = make_span(0, attributes=[kv(k, v) for k, v in values.items()])
    export(request_of(span))
    trace = oracle_server.client().get(f"/api/v1/traces/{(1).to_bytes(16, 'big').hex()}").json()
    assert trace["spans"][0]["attributes"] == {
        "s": "text",
        "b": True,
        "i": -7,
        "d": 1.5,
        "raw": {"$bytes": "AAE="},
        "arr": [1, "two"],
        "map": {"inner": 2.0},
    }


def scoped_request(*spans: Span, scope_attributes: dict) -> ExportTraceServiceRequest:
    request = request_of(*spans)
    scope = InstrumentationScope(name="lib", version="2.0", attributes=[kv(k, v) for k, v in scope_attributes.items()])
    request.resource_spans[0].scope_spans[0].scope.CopyFrom(scope)
    return request


def test_scope_attributes_are_stored_with_every_span_of_the_scope(oracle_server, export):
    values = {"team": "search", "shard": 3, "ratio": 0.5, "on": True, "raw": b"\x00\x01", "tags": ["a", 1]}
    response = export(scoped_request(make_span(0), make_span(1), scope_attributes=values))
    assert not response.HasField("partial_success")
    trace = oracle_server.client().get(f"/api/v1/traces/{(1).to_bytes(16, 'big').hex()}").json()
    expected = {"team": "search", "shard": 3, "ratio": 0.5, "on": True, "raw": {"$bytes": "AAE="}, "tags": ["a", 1]}
    assert [s["scope"] for s in trace["spans"]] == [{"name": "lib", "version": "2.0", "attributes": expected}] * 2


def test_non_utf8_scope_attribute_drops_only_that_attribute(oracle_server, export):
    request = scoped_request(make_span(0), make_span(1), scope_attributes={"good": "yes", "bad": "BAD!"})
    raw = request.SerializeToString().replace(b"BAD!", b"\xff\xfe\xfd\xfc")
    response = export(raw)
    assert response.partial_success.rejected_spans == 0
    assert "attribute(s) dropped: a string is not valid UTF-8" in response.partial_success.error_message
    assert span_names(oracle_server) == ["span-0", "span-1"]
    scopes = stored(
        oracle_server,
        "SELECT DISTINCT coalesce(src.scope_name, s.scope_name), telemetron_json(s.scope_attributes)"
        " FROM spans s LEFT JOIN span_sources src USING (source_id)",  # the scope's name, numbered once
    )
    assert scopes == [("lib", '{"good":"yes"}')]


def test_duplicate_delivery_stores_each_span_once(oracle_server, export):
    request = request_of(make_span(0), make_span(1))
    export(request)
    export(request)
    assert stored(oracle_server, "SELECT count(*) FROM spans") == [(2,)]
    assert stored(oracle_server, "SELECT span_count FROM traces") == [(2,)]


def test_metrics_and_logs_are_stored(oracle_server):
    channel = grpc.insecure_channel(oracle_server.grpc_endpoint)
    metrics = ExportMetricsServiceRequest()
    rm = metrics.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", "agents"))
    metric = rm.scope_metrics.add().metrics.add(name="k8s.pod.phase", unit="")
    point = metric.gauge.data_points.add(time_unix_nano=T0, as_int=2)
    point.attributes.append(kv("k8s.pod.name", "writer-0"))
    logs = ExportLogsServiceRequest()
    rl = logs.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", "agents"))
    rl.scope_logs.add().log_records.add(time_unix_nano=T0, severity_text="WARN", body=AnyValue(string_value="slow"))
    channel.unary_unary(METRICS_EXPORT)(metrics.SerializeToString(), timeout=10)
    channel.unary_unary(LOGS_EXPORT)(logs.SerializeToString(), timeout=10)
    channel.close()
    assert stored(oracle_server, "SELECT service_name, name, kind, value FROM metric_points") == [
        ("agents", "k8s.pod.phase", "gauge", 2.0)
    ]
    assert stored(oracle_server, "SELECT severity_text, body, body_type FROM log_records") == [
        ("WARN", "slow", "string")
    ]


def test_full_write_queue_answers_unavailable_and_recovers(tmp_path):
    running = start_oracle(tmp_path / "t.db", write_queue_spans=3)
    try:
        channel = grpc.insecure_channel(running.grpc_endpoint)
        call = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
        blocker = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # the writer now waits, so the queue fills
        first = threading.Thread(
            target=lambda: call(request_of(make_span(0), make_span(1), make_span(2)).SerializeToString(), timeout=30)
        )
        first.start()
        running.wait_for(lambda: running.oracle.store._queued >= 3)
        with pytest.raises(grpc.RpcError) as err:
            call(request_of(make_span(3)).SerializeToString(), timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        blocker.execute("ROLLBACK")
        first.join(timeout=30)
        call(request_of(make_span(3)).SerializeToString(), timeout=30)  # a retry now succeeds
        with sqlite3.connect(tmp_path / "t.db") as conn:
            assert conn.execute("SELECT count(*) FROM spans").fetchone() == (4,)
        channel.close()
    finally:
        running.stop()


def test_request_bytes_in_flight_are_bounded_and_a_refused_request_is_stored_on_retry(tmp_path):
    running = start_oracle(tmp_path / "t.db")
    receiver = running.oracle.receiver
    first, second = request_of(make_span(0)).SerializeToString(), request_of(make_span(1)).SerializeToString()
    receiver.max_in_flight_bytes = len(first) + len(second) - 1  # the two cannot be in flight together
    try:
        channel = grpc.insecure_channel(running.grpc_endpoint)
        call = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
        blocker = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # the first request's commit waits: its bytes stay in flight
        waiting = threading.Thread(target=lambda: call(first, timeout=30))
        waiting.start()
        running.wait_for(lambda: running.oracle.store._queued >= 1)
        with pytest.raises(grpc.RpcError) as err:
            call(second, timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert receiver.stats.traces.busy == 1
        blocker.execute("ROLLBACK")
        waiting.join(timeout=30)
        call(second, timeout=30)  # the sender's retry, once the first is committed
        assert span_names(running) == ["span-0", "span-1"]
        channel.close()
    finally:
        running.stop()


def test_error_status_is_promoted(oracle_server, export):
    export(request_of(make_span(0, status=Status(code=Status.STATUS_CODE_ERROR, message="boom"))))
    assert stored(oracle_server, "SELECT status_code, status_message, error_type FROM spans") == [(2, "boom", "_OTHER")]
    assert stored(oracle_server, "SELECT error_count FROM traces") == [(1,)]


def test_a_failing_live_consumer_is_counted_and_ingestion_goes_on(oracle_server, export):
    def broken(batch):
        raise RuntimeError("consumer bug")

    seen_after: list[int] = []
    oracle_server.oracle.hub.subscribe(broken)
    oracle_server.oracle.hub.subscribe(lambda batch: seen_after.append(len(batch.spans)))
    export(request_of(make_span(0)))
    export(request_of(make_span(1)))
    assert span_names(oracle_server) == ["span-0", "span-1"]
    oracle_server.wait_for(lambda: len(seen_after) == 2)  # consumers after the broken one still get every batch
    assert seen_after == [1, 1]
    assert oracle_server.client().get("/health").json()["subscriber_errors"] == 2
