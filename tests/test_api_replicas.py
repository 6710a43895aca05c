"""Any API replica answers with the view of the whole system: two replicas, one ingest worker,
PostgreSQL and Kafka between them, and the same Oracle issues on both for the same faults.

Each replica reads the whole stream from Kafka under its own group id (its Oracle and live
stream) and traces from the shared store, which the worker group fills.
"""

from __future__ import annotations

import subprocess
import uuid
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import stack
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from oracle_feed import Agents, issues_of
from oracle_fixtures import start_oracle
from polling import wait_until

REPO = Path(__file__).resolve().parents[1]


class KafkaExporter(SpanExporter):
    """What the Collector's kafka exporter writes: one TracesData per trace, keyed by trace id."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap})
        self.topic = topic

    def export(self, spans):
        by_trace = defaultdict(list)
        for span in spans:
            by_trace[span.context.trace_id].append(span)
        for trace_id, group in by_trace.items():
            self.producer.produce(self.topic, encode_spans(group).SerializeToString(), key=format(trace_id, "032x"))
        self.producer.flush(30)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.producer.flush(30)


@pytest.fixture
def topics(kafka_broker: stack.KafkaBroker) -> dict[str, str]:
    prefix = f"replicas-{uuid.uuid4().hex[:8]}"
    names = {"spans": f"{prefix}-spans", "metrics": f"{prefix}-metrics", "logs": f"{prefix}-events"}
    admin = kafka_broker.admin()  # kept until the topics exist: the futures die with it
    for future in admin.create_topics([NewTopic(t, num_partitions=4) for t in names.values()]).values():
        future.result(timeout=30)
    return names


def kafka_settings(kafka_broker, topics) -> dict:
    return {
        "kafka_bootstrap": kafka_broker.bootstrap,
        "kafka_spans_topic": topics["spans"],
        "kafka_metrics_topic": topics["metrics"],
        "kafka_logs_topic": topics["logs"],
    }


def test_two_replicas_serve_the_same_issues_for_the_same_faults(kafka_broker, postgres_server, topics, tmp_path):
    url = postgres_server.create_database(f"r_{uuid.uuid4().hex[:12]}")
    kafka = kafka_settings(kafka_broker, topics)
    worker = stack.OracleWorker(
        stack.OracleApiConfig(ingest="kafka", store_url=url, kafka_group_id=f"g-{topics['spans']}", **kafka),
        tmp_path / "worker.log",
    )
    worker.start()
    replicas = [
        start_oracle(tmp_path / f"unused-{n}.db", ingest="none", live_feed="kafka", store_url=url, **kafka)
        for n in range(2)
    ]
    try:
        for replica in replicas:
            assert replica.oracle.feed is not None
            wait_until(replica.oracle.feed.assigned.is_set, 30, "the replica's feed assigned every partition")
        agents = Agents(SimpleNamespace(grpc_endpoint="127.0.0.1:1"))  # its spans go to Kafka instead
        agents.provider = TracerProvider(resource=Resource.create({"service.name": "replicated-agents"}))
        agents.provider.add_span_processor(SimpleSpanProcessor(KafkaExporter(kafka_broker.bootstrap, topics["spans"])))
        agents.tracer = agents.provider.get_tracer("tests.replicas")
        with agents.agent("fetcher", "t-1") as run:
            for _ in range(3):
                agents.tool("http_get", parent=run, error="timeout")
        trace_id = format(run.context.trace_id, "032x")

        def failing_tools(replica) -> list[tuple[str, int, tuple[str, ...]]]:
            return sorted(
                (i["id"], i["evidence"]["numbers"]["failures"], tuple(i["evidence"]["trace_ids"]))
                for i in issues_of(replica, "tool_failing")
            )

        first, second = (
            wait_until(lambda r=r: failing_tools(r), 30, f"replica {n} seeing the failing tool")
            for n, r in enumerate(replicas)
        )
        assert first == second == [("tool_failing:tool:http_get", 3, (trace_id,))]
        # Traces come from the shared store, written by the worker, not by either replica.
        for replica in replicas:
            spans = wait_until(
                lambda r=replica: r.client().get(f"/api/v1/traces/{trace_id}").json().get("spans"), 30, "the trace"
            )
            assert len(spans) == 4
        agents.close()
    finally:
        for replica in replicas:
            replica.stop()
        worker.stop()


def test_the_kafka_only_collector_overlay_drops_the_direct_fan_out(collector_binary, tmp_path):
    config = REPO / "collector-config" / "otelcol.yaml"
    overlay = REPO / "collector-config" / "overlays" / "kafka-only.yaml"
    pipelines = yaml.safe_load(overlay.read_text())["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}  # every pipeline the base sends to oracle_api
    assert all("kafka" in p["exporters"] and "otlp_grpc/oracle_api" not in p["exporters"] for p in pipelines.values())
    checked = subprocess.run(
        [str(collector_binary), "validate", "--config", str(config), "--config", str(overlay)],
        capture_output=True,
        text=True,
        env={"TELEMETRON_COLLECTOR_STORAGE_DIR": str(tmp_path)},
    )
    assert checked.returncode == 0, checked.stderr
