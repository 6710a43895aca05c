"""Zero-code: ``opentelemetry-instrument`` on an unmodified LiteLLM script, exporting OTLP/gRPC to an in-test collector."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mock_llm_provider import MockProviderProcess
from telemetron_instrumentation import semconv
from telemetron_instrumentation.testing import OtlpSink, span_attributes

APP = textwrap.dedent(
    """
    import asyncio, os
    import litellm

    args = dict(model="openai/mock-gpt-4o-mini", api_base=os.environ["APP_API_BASE"],
                api_key="sk-zero-code-secret-123456", messages=[{"role": "user", "content": "hello"}])
    print(litellm.completion(**args).choices[0].message.content)
    asyncio.run(litellm.acompletion(**args))
    litellm.completion(**{**args, "model": "openai/mock-slow-600"})
    """
)


@pytest.fixture(scope="module")
def run():
    with MockProviderProcess() as provider, OtlpSink() as sink:
        app = Path(os.environ.get("TMPDIR", "/tmp")) / f"telemetron_zero_code_app_{os.getpid()}.py"
        app.write_text(APP)
        env = {
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "APP_API_BASE": provider.api_base,
            "OTEL_SERVICE_NAME": "zero-code-app",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            # OpenLLMetry's LiteLLM instrumentor is installed too (dev extra); this test is about ours.
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "litellm",
        }
        instrument = Path(sys.executable).with_name("opentelemetry-instrument")
        result = subprocess.run(
            [str(instrument), sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=180
        )
        app.unlink()
        assert result.returncode == 0, result.stderr[-3000:]
        yield sink


def test_llm_spans_arrive_with_genai_attributes(run):
    chats = [
        (r, s)
        for r, s in run.spans()
        if s.name == "chat mock-gpt-4o-mini" and span_attributes(s).get(semconv.SPAN_TYPE) is None
    ]
    assert len(chats) == 2
    resource, span = chats[0]
    attributes = span_attributes(span)
    assert resource["service.name"] == "zero-code-app"
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0


def test_sync_and_async_llm_calls_each_have_an_http_child_span_with_the_stable_http_conventions(run):
    spans = [s for _, s in run.spans()]
    chats = [
        s for s in spans if s.name == "chat mock-gpt-4o-mini" and span_attributes(s).get(semconv.SPAN_TYPE) is None
    ]
    children = {
        c.span_id: [
            s
            for s in spans
            if s.parent_span_id == c.span_id
            and s.trace_id == c.trace_id
            and span_attributes(s).get(semconv.SPAN_TYPE) is None
        ]
        for c in chats
    }
    # The sync call goes through httpx, the async one through aiohttp: one HTTP client span under each.
    assert len(chats) == 2 and all(len(found) == 1 for found in children.values()), [s.name for s in spans]
    for [http] in children.values():
        attributes = span_attributes(http)
        assert http.name == "POST"
        assert attributes["http.request.method"] == "POST"
        assert attributes["url.full"].endswith("/chat/completions")
        assert attributes["http.response.status_code"] == 200
        assert not {"http.method", "http.url", "http.status_code"} & attributes.keys()
    durations = run.metrics("http.client.request.duration")
    assert durations and {d.unit for d in durations} == {"s"} and "http.client.duration" not in run.metric_names()


def test_pending_records_arrive(run):
    spans = [s for _, s in run.spans()]
    real = {s.span_id: s for s in spans if span_attributes(s).get(semconv.SPAN_TYPE) is None}
    pending = [s for s in spans if span_attributes(s).get(semconv.SPAN_TYPE) == semconv.SPAN_TYPE_PENDING]
    assert pending and all(p.parent_span_id in real for p in pending)
    assert "chat mock-slow-600" in {real[p.parent_span_id].name for p in pending}


def test_genai_metrics_arrive(run):
    assert {semconv.METRIC_TOKEN_USAGE, semconv.METRIC_OPERATION_DURATION} <= run.metric_names()
    [tokens, *_] = run.metrics(semconv.METRIC_TOKEN_USAGE)
    assert list(tokens.histogram.data_points[0].explicit_bounds)[:3] == [1, 4, 16]


def test_api_key_is_not_exported(run):
    assert b"sk-zero-code-secret" not in b"".join(
        r.SerializeToString() for r in run.trace_requests + run.metric_requests
    )
