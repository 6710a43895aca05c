"""The README's instrumentation example runs as written and its spans reach oracle_api over OTLP."""

import os
import subprocess
import sys
from pathlib import Path

from mock_llm_provider import MockProviderProcess

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"


def test_quickstart_produces_one_trace_with_the_agent_handoff_queue_tool_and_llm_spans(oracle_server):
    with MockProviderProcess() as provider:
        env = {
            **os.environ,
            "TELEMETRON_DEMO_API_BASE": provider.api_base,
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + oracle_server.grpc_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        }
        result = subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "the example prints the researcher's answer"

    client = oracle_server.client()
    [summary] = oracle_server.wait_for(
        lambda: (
            (t := client.get("/api/v1/traces", params={"service": "quickstart-agents"}).json()["traces"])
            and t[0]["span_count"] >= 7
            and t
        )
    )
    trace = client.get(f"/api/v1/traces/{summary['trace_id']}").json()
    names = {s["name"]: s for s in trace["spans"]}
    assert {
        "invoke_agent orchestrator",
        "send research",
        "execute_tool transfer_to_researcher",
        "process research",
        "invoke_agent researcher",
        "execute_tool search_web",
        "chat mock-gpt-4o-mini",
    } <= set(names)
    assert trace["roots"] == [names["invoke_agent orchestrator"]["span_id"]]
    chat = names["chat mock-gpt-4o-mini"]
    assert chat["parent_span_id"] == names["invoke_agent researcher"]["span_id"]
    assert chat["gen_ai"]["conversation_id"] == "conv-42"
    process = names["process research"]
    assert process["links"][0]["span_id"] == names["send research"]["span_id"]
