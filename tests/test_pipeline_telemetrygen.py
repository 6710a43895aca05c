"""telemetrygen's GenAI spans through a whole stack (Kafka, the Collector, oracle_api on free ports):
every span the Collector accepted is stored once and on Kafka, with its attributes.

The short version of bench/bench_pipeline.py; telemetrygen is built from the Go module proxy once
and cached outside the clone (bench/telemetrygen.py).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stack
from numbered_load import collector_metric, kafka_spans, wait_for
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from telemetrygen import ATTRIBUTES_PER_SPAN, GENAI_ATTRIBUTES, SERVICE, Telemetrygen  # noqa: E402

pytestmark = pytest.mark.pipeline

SPANS_PER_TRACE = 10


@pytest.fixture(scope="module")
def genai_stack(
    tmp_path_factory: pytest.TempPathFactory, collector_binary: Path, kafka_libs: Path
) -> Iterator[stack.Stack]:
    """A stack of its own, so the Collector's counters, the store and the topic hold this load alone."""
    config = stack.StackConfig.on_free_ports(tmp_path_factory.mktemp("telemetrygen"), with_mock_provider=False)
    with stack.Stack(config, collector_binary=collector_binary, kafka_libs=kafka_libs) as running:
        yield running


@pytest.fixture(scope="module")
def sent(genai_stack: stack.Stack, tmp_path_factory: pytest.TempPathFactory) -> int:
    """Spans telemetrygen generated: about 3,000 in 3 s, all of which the Collector accepted."""
    endpoint = genai_stack.collector.config.otlp_grpc_endpoint.removeprefix("http://")
    logs = tmp_path_factory.mktemp("telemetrygen-logs")
    sender = Telemetrygen(endpoint, logs, rate=1000, seconds=3, spans_per_trace=SPANS_PER_TRACE).start()
    try:
        generated = sender.wait(timeout=120)
    finally:
        sender.kill()
    assert generated >= 1000, sender.log_paths[0].read_text()
    accepted = collector_metric(
        genai_stack.collector.config.metrics_url, "otelcol_receiver_accepted_spans", receiver="otlp"
    )
    assert accepted == generated, f"the Collector accepted {accepted:.0f} of {generated} spans"
    return generated


def _stored_rows(db_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT trace_id, span_id FROM spans").fetchall()


@pytest.fixture(scope="module")
def stored(genai_stack: stack.Stack, sent: int) -> list[tuple[str, str]]:
    """(trace id, span id) of every stored span, once the store holds at least what was sent."""
    db = genai_stack.oracle_api.config.db_path

    def complete() -> list[tuple[str, str]] | None:
        rows = _stored_rows(db)
        return rows if len(rows) >= sent else None

    return wait_for(complete, 120, f"{sent} spans stored")


def test_every_accepted_span_is_stored_once(sent: int, stored: list[tuple[str, str]]) -> None:
    assert len(stored) == len(set(stored)) == sent


def test_every_accepted_span_is_on_the_kafka_spans_topic_with_its_attributes(
    genai_stack: stack.Stack, sent: int
) -> None:
    spans = list(kafka_spans(genai_stack.kafka.bootstrap, stack.SPANS_TOPIC))
    assert len({span.trace_id + span.span_id for span in spans}) == sent
    for span in spans:
        attributes = {attr.key: attr.value for attr in span.attributes}
        assert len(attributes) == ATTRIBUTES_PER_SPAN
        assert attributes["gen_ai.request.model"] == AnyValue(string_value="gpt-4o")
        assert attributes["gen_ai.usage.input_tokens"] == AnyValue(int_value=1200)


def test_a_stored_trace_has_its_spans_and_genai_attributes(
    genai_stack: stack.Stack, stored: list[tuple[str, str]]
) -> None:
    trace_id = stored[0][0]
    response = httpx.get(f"{genai_stack.oracle_api.config.base_url}/api/v1/traces/{trace_id}", timeout=10)
    response.raise_for_status()
    spans = response.json()["spans"]
    assert len(spans) == SPANS_PER_TRACE
    for span in spans:
        assert span["service_name"] == SERVICE
        for key, value in GENAI_ATTRIBUTES.items():
            assert span["attributes"][key] == value, key
