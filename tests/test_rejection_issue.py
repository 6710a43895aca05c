"""Refused telemetry is shown where a user looks: the Oracle's issues, ``telemetron issues`` and
``telemetron diagnose``, with each reason, its count and an example, per sending service."""

from __future__ import annotations

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from oracle_fixtures import start_oracle
from otlp_builders import TRACE_EXPORT
from test_cli import run
from test_receiver import T0, make_span, request_of


def send_bad_spans(oracle_server) -> ExportTraceServiceResponse:
    channel = grpc.insecure_channel(oracle_server.grpc_endpoint)
    call = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
    request = request_of(
        make_span(0),
        make_span(1, start_time_unix_nano=T0 + 10, end_time_unix_nano=T0 + 5, name="backwards"),
        make_span(2, start_time_unix_nano=T0 + 10, end_time_unix_nano=T0 + 5, name="backwards-too"),
        make_span(3, trace_id=bytes(16), name="no-trace"),
        service="checkout-agent",
    )
    response = call(request.SerializeToString(), timeout=30)
    channel.close()
    return response


def test_rejected_spans_become_a_telemetry_rejected_issue_with_reasons_counts_and_examples(oracle_server):
    assert send_bad_spans(oracle_server).partial_success.rejected_spans == 3
    [issue] = (
        oracle_server.client().get("/api/v1/oracle/issues", params={"kind": "telemetry_rejected"}).json()["issues"]
    )
    assert (issue["severity"], issue["entity"]) == ("warning", {"type": "service", "name": "checkout-agent"})
    assert issue["evidence"]["numbers"] == {"rejected_records": 3, "dropped_parts": 0}
    by_reason = {r["reason"]: r for r in issue["evidence"]["reasons"]}
    backwards = by_reason["end_time_unix_nano is before start_time_unix_nano"]
    assert backwards["count"] == 2 and backwards["what"] == "span"
    assert backwards["example"] == {
        "trace_id": (1).to_bytes(16, "big").hex(),
        "span_id": "0000000000000002",
        "name": "backwards",
        "service": "checkout-agent",
    }
    assert by_reason["invalid trace_id (must be 16 bytes, not all zero)"]["example"]["name"] == "no-trace"
    assert backwards["first_seen"] and backwards["last_seen"]
    health = oracle_server.client().get("/health").json()["receiver"]["traces"]["by_reason"]
    assert health["span: end_time_unix_nano is before start_time_unix_nano"] == 2


def test_the_cli_shows_the_rejections_in_issues_and_diagnose(oracle_server):
    send_bad_spans(oracle_server)
    issues = run("--url", oracle_server.http_url, "issues")
    assert issues.returncode == 0, issues.stderr  # a warning, not an error
    assert "WARNING  telemetry_rejected  service=checkout-agent" in issues.stdout
    assert (
        "- 2 span(s): end_time_unix_nano is before start_time_unix_nano  e.g. trace_id="
        f"{(1).to_bytes(16, 'big').hex()} span_id=0000000000000002 name=backwards service=checkout-agent"
        in issues.stdout
    )
    diagnose = run("--url", oracle_server.http_url, "diagnose")
    assert "telemetry_rejected  service=checkout-agent" in diagnose.stdout
    assert "invalid trace_id (must be 16 bytes, not all zero)" in diagnose.stdout


def test_the_rejection_issue_survives_a_restart(tmp_path):
    first = start_oracle(tmp_path / "t.db")
    try:
        send_bad_spans(first)
    finally:
        first.stop()  # the final snapshot holds the open issues
    second = start_oracle(tmp_path / "t.db")
    try:
        [issue] = second.client().get("/api/v1/oracle/issues", params={"kind": "telemetry_rejected"}).json()["issues"]
        assert issue["entity"]["name"] == "checkout-agent"
        assert issue["evidence"]["numbers"]["rejected_records"] == 3
        send_bad_spans(second)
        [issue] = second.client().get("/api/v1/oracle/issues", params={"kind": "telemetry_rejected"}).json()["issues"]
        assert issue["evidence"]["numbers"]["rejected_records"] == 6
    finally:
        second.stop()
