"""oracle_api's decoder and writer processes (child.py) live and end with the server: a stop closes them,
and a server killed outright leaves none behind to hold its store."""

from __future__ import annotations

import os
import signal
import sqlite3
from functools import partial
from pathlib import Path

import grpc
from numbered_load import descendants, ended
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from oracle_fixtures import start_oracle
from otlp_builders import TRACE_EXPORT
from polling import wait_until
from stack import OracleApi, OracleApiConfig
from test_receiver import make_span, request_of


def commands(pids: list[int]) -> list[str]:
    found = []
    for pid in pids:
        try:
            found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except FileNotFoundError:
            pass
    return found


def test_the_server_runs_a_decoder_and_a_writer_process_and_a_killed_server_leaves_none(tmp_path: Path) -> None:
    config = OracleApiConfig.on_free_ports(tmp_path / "t.db")
    oracle = OracleApi(config, log_path=tmp_path / "oracle_api.log")
    oracle.start()
    try:
        server = oracle.pid
        assert server is not None
        children = descendants(server)
        running = commands(children)
        assert len(running) == 2, running
        assert any("receiver.decode_process" in c for c in running) and any(
            "store.writer_process" in c for c in running
        )
        channel = grpc.insecure_channel(config.grpc_endpoint)
        call = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
        response = call(request_of(make_span(0), make_span(1)).SerializeToString(), timeout=30)
        assert response.partial_success.rejected_spans == 0
        with sqlite3.connect(tmp_path / "t.db") as conn:  # acknowledged: committed by the writer process
            assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 2
        os.kill(server, signal.SIGKILL)  # the server alone, not its process group
        for child in children:
            wait_until(partial(ended, child), what=f"child {child} ending after the server was killed")
    finally:
        oracle.stop()


def test_with_no_decoder_and_no_writer_process_the_server_ingests_in_its_own_process(tmp_path: Path) -> None:
    running = start_oracle(tmp_path / "t.db", decode_processes=0, sqlite_writer_process=False)
    try:
        assert running.oracle.decoders is None
        ours = [c for c in commands(descendants(os.getpid())) if "telemetron_oracle_api" in c]
        assert ours == []  # other tests' brokers and Collectors may run beside, but no decoder or writer
        channel = grpc.insecure_channel(running.grpc_endpoint)
        call = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
        call(request_of(make_span(0), make_span(1)).SerializeToString(), timeout=30)
        assert [s["name"] for s in running.client().get(f"/api/v1/traces/{1:032x}").json()["spans"]] == [
            "span-0",
            "span-1",
        ]
    finally:
        running.stop()


def test_health_lists_the_processes_and_a_writer_process_that_died_is_started_again(tmp_path: Path) -> None:
    running = start_oracle(tmp_path / "t.db")
    try:
        health = running.client().get("/health").json()
        assert health["store_retention"]["failed_steps"] == 0 and "deleted_by" in health["store_retention"]
        processes = health["processes"]
        assert [(p["what"], p["starts"]) for p in processes] == [
            ("trace decoder process 1", 1),
            ("store's writer process", 1),
        ]
        writer = processes[1]["pid"]
        os.kill(writer, signal.SIGKILL)
        wait_until(partial(ended, writer), what="the writer process ending")
        channel = grpc.insecure_channel(running.grpc_endpoint)
        call = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
        call(request_of(make_span(0)).SerializeToString(), timeout=30)  # the writer that ended is started again
        assert [s["name"] for s in running.client().get(f"/api/v1/traces/{1:032x}").json()["spans"]] == ["span-0"]
        after = running.client().get("/health").json()["processes"][1]
        assert after["starts"] == 2 and after["pid"] not in (None, writer)
    finally:
        running.stop()
