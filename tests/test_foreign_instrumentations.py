"""LLM spans written by other instrumentations land in the same promoted columns and the same Oracle.

LiteLLM's built-in ``otel`` callback and OpenLLMetry's LiteLLM instrumentor run for real (a
subprocess each, against the local provider, exporting OTLP straight to oracle_api). OpenInference
is not installed here, so its span is built from its published attribute names.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from mock_llm_provider import MockProviderProcess
from opentelemetry.trace import SpanKind

MODEL = "mock-gpt-4o-mini"

_SETUP = {
    "litellm_otel": """
        import litellm
        litellm.callbacks = ["otel"]
        flush = lambda: litellm.callbacks[0].tracer.provider.force_flush() if hasattr(litellm.callbacks[0], "tracer") else None
    """,
    "openllmetry": """
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.litellm import LiteLLMInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT, insecure=True)))
        trace.set_tracer_provider(provider)
        LiteLLMInstrumentor().instrument()
        import litellm
        flush = provider.force_flush
    """,
}


def run_instrumented_call(kind: str, endpoint: str, api_base: str) -> None:
    script = (
        textwrap.dedent(f"""
        import os
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        SERVICE, ENDPOINT = {kind!r}, {endpoint!r}
    """)
        + textwrap.dedent(_SETUP[kind])
        + textwrap.dedent(f"""
        litellm.completion(model="openai/{MODEL}", api_base={api_base!r}, api_key="sk-test",
                           messages=[{{"role": "user", "content": "hello"}}])
        # LiteLLM logs success on its worker pool: wait for that work, then flush.
        from litellm.utils import executor
        executor.shutdown(wait=True)
        flush()
    """)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    # LiteLLM appends /v1/traces to its endpoint even for gRPC; with a scheme the gRPC exporter ignores the path.
    env.update({"OTEL_EXPORTER": "otlp_grpc", "OTEL_ENDPOINT": "http://" + endpoint, "OTEL_SERVICE_NAME": kind})
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def promoted(oracle_server, service: str):
    with sqlite3.connect(oracle_server.oracle.settings.db_path) as conn:
        return conn.execute(
            "SELECT operation, provider, request_model, input_tokens, output_tokens FROM spans "
            "WHERE service_name = ? AND request_model IS NOT NULL",
            (service,),
        ).fetchall()


@pytest.mark.parametrize("kind", ["litellm_otel", "openllmetry"])
def test_llm_spans_of_other_instrumentations_are_normalized(oracle_server, kind):
    with MockProviderProcess() as provider:
        run_instrumented_call(kind, oracle_server.grpc_endpoint, provider.api_base)
    rows = oracle_server.wait_for(lambda: promoted(oracle_server, kind))
    operation, provider_name, model, input_tokens, output_tokens = rows[0]
    assert (operation, provider_name) == ("chat", "openai")
    assert model.endswith(MODEL)
    assert input_tokens > 0 and output_tokens > 0
    models = oracle_server.wait_for(
        lambda: [
            m
            for m in oracle_server.client().get("/api/v1/oracle/state").json()["litellm"]
            if m["model"].endswith(MODEL) and m["provider"] == "openai"
        ]
    )
    assert models[0]["rpm"] >= 1


def test_openinference_and_deprecated_gen_ai_system_spans_are_normalized(oracle_server):
    tracer = oracle_server.tracer_provider("foreign").get_tracer("foreign")
    with tracer.start_as_current_span(
        "ChatCompletion",
        kind=SpanKind.INTERNAL,
        attributes={
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.provider": "openai",
            "llm.token_count.prompt": 12,
            "llm.token_count.completion": 3,
        },
    ):
        pass
    with tracer.start_as_current_span(
        "chat claude",
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-sonnet-4",
            "gen_ai.usage.prompt_tokens": 7,
            "gen_ai.usage.completion_tokens": 2,
            "llm.request.type": "chat",
        },
    ):
        pass
    rows = oracle_server.wait_for(lambda: len(r := promoted(oracle_server, "foreign")) == 2 and r)
    assert sorted(rows) == [("chat", "anthropic", "claude-sonnet-4", 7, 2), ("chat", "openai", "gpt-4o", 12, 3)]
