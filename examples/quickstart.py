"""The README's instrumentation example, runnable: one orchestrator hands a queued task to a researcher.

python examples/mock_llm_provider.py --port 8089 &      # or any OpenAI-compatible provider
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/quickstart.py
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download at import

import litellm
from telemetron_instrumentation import (
    configure,
    conversation,
    enqueue,
    execute_tool,
    handoff,
    invoke_agent,
    process_task,
    shutdown,
)

MODEL = os.environ.get("TELEMETRON_DEMO_MODEL", "openai/mock-gpt-4o-mini")
API_BASE = os.environ.get("TELEMETRON_DEMO_API_BASE", "http://127.0.0.1:8089/v1")
API_KEY = os.environ.get("TELEMETRON_DEMO_API_KEY", "sk-local-demo")

configure(service_name="quickstart-agents")  # OTLP export from the OTEL_* variables; idempotent


@invoke_agent("researcher", description="finds sources", models=[MODEL], max_parallel_invocations=4)
def research(question: str) -> str:
    with execute_tool("search_web"):
        sources = ["https://opentelemetry.io/docs/specs/semconv/gen-ai/"]
    reply = litellm.completion(
        model=MODEL,
        api_base=API_BASE,
        api_key=API_KEY,
        messages=[{"role": "user", "content": f"{question} Sources: {sources}"}],
    )
    return reply.choices[0].message.content


with conversation("conv-42"), invoke_agent("orchestrator"):
    task = enqueue("research", task_id="t-1", priority="high", submitted_by="orchestrator")
    with handoff("orchestrator", "researcher", task_id="t-1", reason="needs sources"):
        with process_task(task, agent="researcher"):
            print(research("What changed in the GenAI conventions?"))
shutdown()
