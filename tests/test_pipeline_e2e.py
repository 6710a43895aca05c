"""The whole path: demo agents → real Collector → (real Kafka + oracle_api) → REST, including a SIGKILL of oracle_api."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import stack
from confluent_kafka import Consumer, TopicPartition
from google.protobuf.message import DecodeError
from mock_llm_provider import MockProviderProcess
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from polling import wait_until
from telemetron_instrumentation import semconv

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "multi_agent_demo.py"


@dataclass
class Pipeline:
    kafka: stack.KafkaBroker
    collector: stack.Collector
    oracle: stack.OracleApi
    provider: MockProviderProcess

    @property
    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.oracle.config.base_url, timeout=10)

    def demo(self, runs: int) -> subprocess.Popen:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.collector.config.otlp_grpc_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "TELEMETRON_DEMO_API_BASE": self.provider.api_base,
        }
        cmd = [sys.executable, str(DEMO), "--runs", str(runs), "--service-name", f"e2e-{uuid.uuid4().hex[:6]}"]
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stored_span_ids(self, trace_ids: Iterable[str]) -> list[tuple[str, str]]:
        ids = list(trace_ids)
        with sqlite3.connect(self.oracle.config.db_path) as conn:
            return conn.execute(
                f"SELECT trace_id, span_id FROM spans WHERE trace_id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()


@pytest.fixture(scope="module")
def pipeline(collector_binary: Path, kafka_broker: stack.KafkaBroker, tmp_path_factory) -> Iterator[Pipeline]:
    """oracle_api, a Collector exporting to it and to the session's Kafka broker, and the mock provider."""
    run_dir = tmp_path_factory.mktemp("pipeline")
    grpc, http, health, metrics, oracle_http, oracle_grpc = stack.free_ports(6)
    oracle = stack.OracleApi(
        stack.OracleApiConfig(
            db_path=run_dir / "telemetron.db",
            http_port=oracle_http,
            grpc_port=oracle_grpc,
            kafka_bootstrap=kafka_broker.bootstrap,
        ),
        log_path=run_dir / "oracle_api.log",
    )
    collector = stack.Collector(
        stack.CollectorConfig(
            binary=collector_binary,
            storage_dir=run_dir / "collector-storage",
            grpc_port=grpc,
            http_port=http,
            health_port=health,
            metrics_port=metrics,
            kafka_brokers=kafka_broker.bootstrap,
            oracle_endpoint=oracle.config.grpc_endpoint,
        ),
        log_path=run_dir / "collector.log",
    )
    oracle.start()
    collector.start()
    provider = MockProviderProcess().start()
    yield Pipeline(kafka_broker, collector, oracle, provider)
    provider.stop()
    collector.stop()
    oracle.stop()


def finish(proc: subprocess.Popen, timeout: float = 300) -> list[str]:
    """Wait for a demo process and return the trace ids it printed."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return [json.loads(line)["trace_id"] for line in out.splitlines() if line.startswith("{")]


def kafka_spans(bootstrap: str, topic: str, trace_ids: set[str], settle: float = 3.0, timeout: float = 60.0):
    """Every (key, span) on ``topic`` belonging to ``trace_ids``, from offset 0 until each trace has spans and the topic is quiet."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"e2e-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    found: list = []
    seen: set[str] = set()
    deadline, last_new = time.monotonic() + timeout, time.monotonic()
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        while time.monotonic() < deadline and (seen != trace_ids or time.monotonic() - last_new < settle):
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            try:
                data = TracesData.FromString(message.value())
            except DecodeError:
                # Another test's trace: each message holds one trace, and the session's topics also
                # carry the hostile corpus (invalid UTF-8), which Python's parser refuses.
                continue
            for rs in data.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        if span.trace_id.hex() in trace_ids:
                            found.append((message.key(), span))
                            seen.add(span.trace_id.hex())
                            last_new = time.monotonic()
    finally:
        consumer.close()
    return found


def is_pending(span) -> bool:
    return any(
        kv.key == semconv.SPAN_TYPE and kv.value.string_value == semconv.SPAN_TYPE_PENDING for kv in span.attributes
    )


def test_demo_traces_are_served_with_structure_and_genai_attributes_and_are_on_kafka(pipeline: Pipeline):
    trace_ids = finish(pipeline.demo(runs=2))
    assert len(trace_ids) == 2
    on_kafka = [
        (key, span)
        for key, span in kafka_spans(pipeline.kafka.bootstrap, stack.SPANS_TOPIC, set(trace_ids))
        if not is_pending(span)
    ]
    for trace_id in trace_ids:
        kafka_ids = {span.span_id.hex() for key, span in on_kafka if span.trace_id.hex() == trace_id}
        assert kafka_ids, f"no spans of {trace_id} on {stack.SPANS_TOPIC}"
        assert {key for key, span in on_kafka if span.trace_id.hex() == trace_id} == {trace_id.encode()}

        def complete(trace_id=trace_id, kafka_ids=kafka_ids):
            r = pipeline.http.get(f"/api/v1/traces/{trace_id}")
            return r.status_code == 200 and {s["span_id"] for s in r.json()["spans"]} == kafka_ids and r.json()

        trace = wait_until(complete, 60, f"trace {trace_id} in oracle_api with the spans Kafka has")
        spans = {s["span_id"]: s for s in trace["spans"]}
        roots = [s for s in spans.values() if s["parent_span_id"] is None]
        assert len(roots) == 1 and trace["roots"] == [roots[0]["span_id"]]
        assert all(s["parent_span_id"] in spans for s in spans.values() if s is not roots[0])

        chats = [s for s in spans.values() if s["name"].startswith("chat ")]
        assert chats, "no LLM spans"
        for chat in chats:
            attrs = chat["attributes"]
            assert chat["kind"] == "CLIENT"
            assert chat["name"] == f"chat {attrs[semconv.GEN_AI_REQUEST_MODEL]}"
            assert attrs[semconv.GEN_AI_OPERATION_NAME] == "chat"
            assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "openai"
            assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 0 and attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
            assert chat["gen_ai"]["input_tokens"] == attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS]
            # Each LLM call sits under the agent (or the agent's tool) that made it.
            ancestor = spans[chat["parent_span_id"]]
            while not ancestor["name"].startswith("invoke_agent ") and ancestor["parent_span_id"]:
                ancestor = spans[ancestor["parent_span_id"]]
            assert ancestor["name"].startswith("invoke_agent ")

        handoffs = [s for s in spans.values() if s["name"].startswith("execute_tool transfer_to_")]
        assert handoffs
        for h in handoffs:
            target = h["attributes"][semconv.GEN_AI_HANDOFF_TARGET]
            assert h["name"] == f"execute_tool transfer_to_{target}"
            assert h["attributes"][semconv.GEN_AI_HANDOFF_SOURCE]


def test_sigkill_of_oracle_api_while_the_demo_sends_loses_and_duplicates_nothing(pipeline: Pipeline):
    demo = pipeline.demo(runs=6)
    with sqlite3.connect(pipeline.oracle.config.db_path) as conn:
        before = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        wait_until(
            lambda: conn.execute("SELECT count(*) FROM spans").fetchone()[0] > before,
            120,
            "the demo's first spans to be stored",
        )
    pipeline.oracle.kill()  # down for as long as its restart takes; the demo keeps sending meanwhile
    pipeline.oracle.start()
    trace_ids = finish(demo)
    assert len(trace_ids) == 6

    produced = {
        (span.trace_id.hex(), span.span_id.hex())
        for _, span in kafka_spans(pipeline.kafka.bootstrap, stack.SPANS_TOPIC, set(trace_ids))
        if not is_pending(span)
    }
    assert len(produced) > 6 * 10
    wait_until(
        lambda: set(pipeline.stored_span_ids(trace_ids)) >= produced,
        120,
        "every produced span to be stored after the restart",
    )
    stored = pipeline.stored_span_ids(trace_ids)
    assert len(stored) == len(set(stored)) == len(produced)


def test_readme_main_job_brings_up_the_stack_runs_the_demo_and_serves_its_trace():
    # --free-ports so the test can run beside a developer's own demo on the default ports.
    result = subprocess.run(
        ["bash", str(REPO / "deploy/local/demo.sh"), "--once", "--free-ports"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "the demo trace reached oracle_api" in result.stdout
    [trace_line] = [line for line in result.stdout.splitlines() if line.strip().startswith("trace (REST)")]
    assert "/api/v1/traces/" in trace_line
