"""A dead Collector does not hold the app's exit: shutdown waits at most TELEMETRON_SHUTDOWN_TIMEOUT_SECONDS."""

import os
import subprocess
import sys
import textwrap

from mock_llm_provider import free_port

APP = textwrap.dedent(
    """
    from opentelemetry import trace
    from telemetron_instrumentation import configure, invoke_agent

    telemetry = configure(service_name="dead-collector-app", instrument_litellm=False)
    print("shutdown timeout", telemetry.settings.shutdown_timeout_seconds, flush=True)
    for n in range(20):
        with invoke_agent(f"agent-{n}"):
            pass
    """
)


def test_exit_with_nothing_listening_gives_up_on_the_export_after_the_configured_timeout():
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "TELEMETRON_SHUTDOWN_TIMEOUT_SECONDS": "1",
    }
    # The subprocess timeout only stops a hung test; the timings are in the README, not asserted.
    result = subprocess.run([sys.executable, "-c", APP], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "shutdown timeout 1.0" in result.stdout
    assert "telemetry not flushed within 1.0s" in result.stderr


def test_shutdown_timeout_defaults_to_five_seconds_and_ignores_nonsense(monkeypatch):
    from telemetron_instrumentation.configure import Settings

    monkeypatch.delenv("TELEMETRON_SHUTDOWN_TIMEOUT_SECONDS", raising=False)
    assert Settings.from_env().shutdown_timeout_seconds == 5.0
    monkeypatch.setenv("TELEMETRON_SHUTDOWN_TIMEOUT_SECONDS", "soon")
    assert Settings.from_env().shutdown_timeout_seconds == 5.0
