"""configure()/shutdown() and the instrumentor's install/uninstall, each in a fresh interpreter (global providers)."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import litellm
    from opentelemetry import trace
    from telemetron_instrumentation import configure, shutdown
    from telemetron_instrumentation.instrumentor import TelemetronLiteLLMInstrumentor
    from telemetron_instrumentation.litellm_callback import TelemetronLiteLLMCallback

    def ours():
        return [c for c in litellm.callbacks if isinstance(c, TelemetronLiteLLMCallback)]

    first = configure(service_name="configure-test")
    assert configure() is first, "configure() is idempotent"
    assert trace.get_tracer_provider() is first.tracer_provider
    assert first.tracer_provider.resource.attributes["service.name"] == "configure-test"
    assert first.pending is not None and first.pending.heartbeat_seconds == 2.5
    assert ours() == [first.callback] and first.callback.capture_content is True
    assert hasattr(litellm.completion, "__telemetron_wrapped__")

    instrumentor = TelemetronLiteLLMInstrumentor()
    instrumentor.instrument()
    assert ours() == [first.callback], "the instrumentor reuses the registered callback"
    instrumentor.uninstrument()
    assert ours() == [] and first.callback not in litellm.success_callback
    assert not hasattr(litellm.completion, "__telemetron_wrapped__")

    shutdown()
    shutdown()
    print("ok")
    """
)


def test_configure_is_idempotent_and_the_instrumentor_installs_and_uninstalls_cleanly():
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "TELEMETRON_HEARTBEAT_SECONDS": "2.5",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
    }
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_package_imports_without_server_side_dependencies():
    code = (
        "import sys, telemetron_instrumentation, telemetron_instrumentation.configure, "
        "telemetron_instrumentation.pending, telemetron_instrumentation.instrumentor; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'confluent_kafka', 'grpc') if m in sys.modules))"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
