"""A small multi-agent app instrumented with Telemetron: an orchestrator hands tasks to a researcher,
a writer and a coder, through a task queue, with LLM calls through LiteLLM.

By default it talks to the local mock provider (``python examples/mock_llm_provider.py``); set
``TELEMETRON_DEMO_API_BASE``, ``TELEMETRON_DEMO_MODEL`` and ``TELEMETRON_DEMO_API_KEY`` to run it
against a real OpenAI-compatible provider (a model with a ``provider/`` prefix is passed to LiteLLM
as is). Telemetry goes to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default ``localhost:4317``).

    python examples/multi_agent_demo.py --runs 3

Prints one JSON line per run to stdout: ``{"trace_id": ..., "conversation_id": ...}``.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download at import

import argparse
import asyncio
import contextlib
import json
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import litellm
from telemetron_instrumentation import (
    configure,
    conversation,
    enqueue,
    execute_tool,
    handoff,
    invoke_agent,
    invoke_workflow,
    process_task,
    shutdown,
)

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_web",
        "description": "Search the web and return the top results.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to search for."}},
            "required": ["query"],
        },
    },
}
RUN_PYTHON_TOOL = {
    "type": "function",
    "function": {
        "name": "run_python",
        "description": "Run a short Python expression and return its value.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    },
}


@dataclass(frozen=True)
class DemoSettings:
    api_base: str | None
    model: str
    embedding_model: str
    api_key: str

    @classmethod
    def from_env(cls) -> DemoSettings:
        model = os.environ.get("TELEMETRON_DEMO_MODEL", "mock-gpt-4o-mini")
        embedding = os.environ.get("TELEMETRON_DEMO_EMBEDDING_MODEL", "mock-embed-small")
        return cls(
            api_base=os.environ.get("TELEMETRON_DEMO_API_BASE", "http://127.0.0.1:8089/v1") or None,
            model=model if "/" in model else f"openai/{model}",
            embedding_model=embedding if "/" in embedding else f"openai/{embedding}",
            api_key=os.environ.get("TELEMETRON_DEMO_API_KEY", "sk-local-demo"),
        )

    def llm_args(self, **extra: Any) -> dict[str, Any]:
        args: dict[str, Any] = {"model": self.model, "api_key": self.api_key, "max_retries": 1, **extra}
        if self.api_base:
            args["api_base"] = self.api_base
        return args


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _register_mock_prices(settings: DemoSettings) -> None:
    """Give the mock models a price so LiteLLM computes a cost for them, like for real ones."""
    if settings.model.startswith("openai/mock-"):
        litellm.register_model(
            {
                settings.model.removeprefix("openai/"): {
                    "input_cost_per_token": 1.5e-07,
                    "output_cost_per_token": 6e-07,
                    "litellm_provider": "openai",
                    "mode": "chat",
                    "max_tokens": 16384,
                }
            }
        )


# --- tools ----------------------------------------------------------------------------------------


def search_web(query: str) -> str:
    return json.dumps([{"title": f"Result {i} for {query}", "url": f"https://example.org/{i}"} for i in range(3)])


def run_python(expression: str) -> str:
    # The demo's "sandbox": only digits and arithmetic are evaluated.
    if expression and set(expression) <= set("0123456789+-*/(). "):
        return str(eval(expression, {"__builtins__": {}}))  # noqa: S307 - filtered above
    return "42"


# --- agents ---------------------------------------------------------------------------------------


def _tool_calls(response: Any) -> list[Any]:
    return list(getattr(response.choices[0].message, "tool_calls", None) or [])


def researcher(settings: DemoSettings, topic: str, task_id: str) -> str:
    with invoke_agent(
        "researcher",
        id="agent-researcher",
        description="Finds sources on a topic",
        models=[settings.model],
        max_parallel_invocations=2,
        deployment="researcher-agent",
        task_id=task_id,
    ):
        messages = [
            {"role": "system", "content": "You are a research agent."},
            {"role": "user", "content": f"Use search_web to research: {topic}"},
        ]
        response = litellm.completion(**settings.llm_args(messages=messages, tools=[SEARCH_TOOL]))
        calls = _tool_calls(response)
        if calls:
            messages.append(response.choices[0].message.model_dump(exclude_none=True))
            for call in calls:
                with execute_tool("search_web", call_id=call.id, description="Search the web"):
                    result = search_web(json.loads(call.function.arguments or "{}").get("query", topic))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
            response = litellm.completion(**settings.llm_args(messages=messages, tools=[SEARCH_TOOL]))
        notes = response.choices[0].message.content or ""
        litellm.embedding(**{**settings.llm_args(input=[notes or topic]), "model": settings.embedding_model})
        return notes


async def writer(settings: DemoSettings, notes: str, task_id: str) -> str:
    async with invoke_agent(
        "writer",
        id="agent-writer",
        description="Drafts the report",
        models=[settings.model],
        max_parallel_invocations=4,
        deployment="writer-agent",
        task_id=task_id,
    ):
        stream = await litellm.acompletion(
            **settings.llm_args(
                messages=[{"role": "user", "content": f"Write a short report from these notes: {notes[:500]}"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        parts = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
        return "".join(parts)


def coder(settings: DemoSettings, report: str, task_id: str) -> str:
    with invoke_agent(
        "coder",
        id="agent-coder",
        description="Writes and runs code",
        models=[settings.model],
        max_parallel_invocations=1,
        deployment="coder-agent",
        task_id=task_id,
    ):
        response = litellm.completion(
            **settings.llm_args(
                messages=[{"role": "user", "content": f"Use run_python to count the words. Report: {report[:300]}"}],
                tools=[RUN_PYTHON_TOOL],
            )
        )
        for call in _tool_calls(response):
            with execute_tool("run_python", call_id=call.id, description="Run Python"):
                return run_python(json.loads(call.function.arguments or "{}").get("expression", ""))
        return response.choices[0].message.content or ""


async def orchestrate(settings: DemoSettings, run: int, topic: str) -> dict[str, str]:
    conversation_id = f"conv-{uuid.uuid4().hex[:12]}"
    with conversation(conversation_id):
        async with invoke_workflow("research-report") as workflow:
            trace_id = format(workflow.get_span_context().trace_id, "032x")
            async with invoke_agent(
                "orchestrator",
                id="agent-orchestrator",
                description="Plans and delegates",
                models=[settings.model],
                max_parallel_invocations=1,
                deployment="orchestrator-agent",
            ):
                plan = await litellm.acompletion(
                    **settings.llm_args(
                        messages=[{"role": "user", "content": f"Plan a report on {topic}."}],
                        max_tokens=120,
                        temperature=0.2,
                    )
                )
                _say(f"run {run}: plan: {(plan.choices[0].message.content or '')[:60]}")
                research = enqueue(
                    "research",
                    f"r{run}-research",
                    priority="high",
                    submitted_by="orchestrator",
                    prompt=f"Research {topic}",
                )
                write = enqueue(
                    "writing",
                    f"r{run}-write",
                    priority="normal",
                    submitted_by="orchestrator",
                    blocked_by=research.task_id,
                    prompt="Write the report",
                )
                code = enqueue(
                    "coding", f"r{run}-code", priority="low", submitted_by="orchestrator", prompt="Count the words"
                )

                async with handoff("orchestrator", "researcher", task_id=research.task_id, reason="needs sources"):
                    async with process_task(research, agent="researcher"):
                        if run % 2:  # odd runs do the research in a worker thread, like a sync agent pool
                            notes = await asyncio.to_thread(researcher, settings, topic, research.task_id)
                        else:
                            notes = researcher(settings, topic, research.task_id)
                async with handoff("orchestrator", "writer", task_id=write.task_id, reason="research done"):
                    async with process_task(write, agent="writer"):
                        report = await writer(settings, notes, write.task_id)
                async with handoff("orchestrator", "coder", task_id=code.task_id, reason="word count"):
                    async with process_task(code, agent="coder"):
                        result = coder(settings, report, code.task_id)
                _say(f"run {run}: report of {len(report.split())} words, coder said {result!r}")
    return {"trace_id": trace_id, "conversation_id": conversation_id}


async def main_async(settings: DemoSettings, runs: int) -> list[dict[str, str]]:
    topics = ["agent observability", "rate limits", "task queues", "LLM costs"]
    results = []
    for run in range(runs):
        results.append(await orchestrate(settings, run, topics[run % len(topics)]))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Telemetron multi-agent demo")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--service-name", default="multi-agent-demo")
    args = parser.parse_args(argv)

    settings = DemoSettings.from_env()
    litellm.suppress_debug_info = True
    # stdout carries only the JSON result lines; libraries' prints go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        _register_mock_prices(settings)
        configure(service_name=args.service_name)
        results = asyncio.run(main_async(settings, args.runs))
        shutdown()
    for result in results:
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
