"""The same app, instrumented by ours, LiteLLM's ``otel`` callback, OpenLLMetry or OpenInference, gives the same Oracle.

Each instrumentation runs for real in a subprocess against the local provider, exporting OTLP straight
to oracle_api: a chat call, an embedding, a streamed chat whose provider sends no usage, a 429 and a
500. OpenInference's LiteLLM instrumentor is not a dependency of this project: its three packages are
installed at exact versions into a cached folder (``_OPENINFERENCE``) put on the subprocess's path.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mock_llm_provider import MockProviderProcess
from opentelemetry.trace import SpanKind

CHAT, STREAM, EMBED = "mock-gpt-4o-mini", "mock-gpt-4o", "mock-embed-small"
LIMITED, FAILING = "mock-429", "mock-500"

_OPENINFERENCE = (
    "openinference-instrumentation-litellm==0.1.51",
    "openinference-instrumentation==0.1.72",
    "openinference-semantic-conventions==0.1.42",
)

_SDK = """
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT, insecure=True)))
    trace.set_tracer_provider(provider)
    flush = provider.force_flush
"""

_SETUP = {
    "telemetron": """
        from telemetron_instrumentation import configure, shutdown
        configure(service_name=SERVICE)
        import litellm
        flush = shutdown
    """,
    "litellm_otel": """
        import litellm
        litellm.callbacks = ["otel"]
        flush = lambda: litellm.callbacks[0].tracer.provider.force_flush() if hasattr(litellm.callbacks[0], "tracer") else None
    """,
    "openllmetry": _SDK
    + """
    from opentelemetry.instrumentation.litellm import LiteLLMInstrumentor
    LiteLLMInstrumentor().instrument()
    import litellm
""",
    "openinference": _SDK
    + """
    from openinference.instrumentation.litellm import LiteLLMInstrumentor
    LiteLLMInstrumentor().instrument(tracer_provider=provider)
    import litellm
""",
}

_CALLS = f"""
    kw = dict(api_base=API_BASE, api_key="sk-test", max_retries=0)
    hello = [{{"role": "user", "content": "hello there"}}]
    litellm.completion(model="openai/{CHAT}", messages=hello, **kw)
    litellm.embedding(model="openai/{EMBED}", input=["hello there"], **kw)
    for _ in litellm.completion(model="openai/{STREAM}", messages=hello, stream=True, **kw):
        pass
    for model in ("openai/{LIMITED}", "openai/{FAILING}"):
        try:
            litellm.completion(model=model, messages=hello, num_retries=0, **kw)
        except Exception as exc:
            print("raised", type(exc).__name__)
    # LiteLLM logs success on its worker pool: wait for that work, then flush.
    from litellm.utils import executor
    executor.shutdown(wait=True)
    import time; time.sleep(0.2)  # LiteLLM's failure logging runs on its own thread
    flush()
"""


def _openinference_path() -> Path:
    """A folder holding OpenInference's LiteLLM instrumentor, installed once (cached by its pins)."""
    cache = Path(os.environ.get("TELEMETRON_CACHE_DIR", Path.home() / ".cache" / "telemetron"))
    target = cache / "openinference" / "-".join(p.split("==")[1] for p in _OPENINFERENCE)
    if not (target / ".ready").exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
            + ["--target", str(target), *_OPENINFERENCE],
            check=True,
            timeout=600,
        )
        (target / ".ready").touch()
    return target


def run_instrumented_app(kind: str, endpoint: str, api_base: str) -> str:
    script = (
        textwrap.dedent(f"""
        import os
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        SERVICE, ENDPOINT, API_BASE = {kind!r}, {endpoint!r}, {api_base!r}
    """)
        + textwrap.dedent(_SETUP[kind])
        + textwrap.dedent(_CALLS)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    # LiteLLM appends /v1/traces to its endpoint even for gRPC; with a scheme the gRPC exporter ignores the path.
    env.update({"OTEL_EXPORTER": "otlp_grpc", "OTEL_ENDPOINT": "http://" + endpoint, "OTEL_SERVICE_NAME": kind})
    env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    if kind == "openinference":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_openinference_path()), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def promoted(oracle_server, service: str):
    with sqlite3.connect(oracle_server.oracle.settings.db_path) as conn:
        return conn.execute(
            "SELECT operation, provider, request_model, input_tokens, output_tokens FROM spans "
            "WHERE service_name = ? AND request_model IS NOT NULL",
            (service,),
        ).fetchall()


def _models(oracle_server) -> dict[tuple[str, str], dict]:
    state = oracle_server.client().get("/api/v1/oracle/state").json()
    return {(m["provider"], m["model"]): m for m in state["litellm"]}


# A streamed call whose provider sent no usage: ours counts it with LiteLLM's token counter and marks
# it estimated; LiteLLM's otel callback reports LiteLLM's own count of the stream, unmarked; OpenLLMetry
# and OpenInference report no usage, which must not read as 0 tokens.
_STREAM_USAGE = {
    "telemetron": "estimated",
    "litellm_otel": "counted",
    "openllmetry": "unknown",
    "openinference": "unknown",
}


@pytest.mark.parametrize("kind", ["telemetron", "litellm_otel", "openllmetry", "openinference"])
def test_every_instrumentation_gives_the_same_oracle(oracle_server, kind):
    with MockProviderProcess() as provider:
        out = run_instrumented_app(kind, oracle_server.grpc_endpoint, provider.api_base)
    assert out.count("raised") == 2, out
    wanted = {("openai", m) for m in (CHAT, STREAM, EMBED, LIMITED, FAILING)}

    def all_counted() -> dict | None:
        found = _models(oracle_server)
        return found if wanted <= {key for key, m in found.items() if m["requests_total"]} else None

    models = oracle_server.wait_for(all_counted, timeout=20)
    assert all("/" not in model for _, model in models), sorted(models)  # never openai/x beside x
    chat, embed, stream = models[("openai", CHAT)], models[("openai", EMBED)], models[("openai", STREAM)]
    # The provider's usage, whoever reported it: 10 prompt and 24 completion tokens; 3 for the embedding.
    assert (chat["tokens_total"], chat["rpm"], chat["calls_without_usage_total"]) == (34, 1, 0)
    assert (embed["requests_total"], embed["tokens_total"]) == (1, 3)  # embeddings are counted, with their input
    if _STREAM_USAGE[kind] == "unknown":
        assert (stream["tokens_total"], stream["tpm"], stream["calls_without_usage_total"]) == (0, 0, 1)
        assert stream["calls_without_usage"] == 1
    else:
        assert stream["tokens_total"] > 0 and stream["calls_without_usage_total"] == 0
        estimated = 1 if _STREAM_USAGE[kind] == "estimated" else 0
        assert stream["calls_with_estimated_usage_total"] == estimated
        assert (stream["tpm_estimated"] > 0) == bool(estimated)
    limited, failing = models[("openai", LIMITED)], models[("openai", FAILING)]
    assert (limited["rate_limited_total"], limited["server_errors_total"]) == (1, 0)
    assert limited["errors"] == {"RateLimitError": 1}
    assert (failing["rate_limited_total"], failing["server_errors_total"]) == (0, 1)
    assert failing["errors"] == {"InternalServerError": 1}

    def rate_limit_issues() -> list[dict]:
        issues = oracle_server.client().get("/api/v1/oracle/issues").json()["issues"]
        return [i for i in issues if i["kind"] == "llm_rate_limited"]

    issues = oracle_server.wait_for(rate_limit_issues)
    assert [(i["entity"]["type"], i["entity"]["name"]) for i in issues] == [("model", f"openai/{LIMITED}")]
    metrics = oracle_server.client().get("/api/v1/metrics", params={"window": "1h"}).json()
    by_model = {m["name"]: m for m in metrics["models"]}
    assert by_model[STREAM]["calls_without_usage"] == (1 if _STREAM_USAGE[kind] == "unknown" else 0)
    assert by_model[EMBED]["llm_calls"] == 1


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
