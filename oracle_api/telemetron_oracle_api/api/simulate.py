"""``POST /api/v1/debug/simulate-trace``: a realistic multi-agent run, sent the way real agents send theirs.

The spans are made with the OpenTelemetry SDK and exported over OTLP gRPC to
``settings.simulate_otlp_endpoint`` (the Collector by default), so they travel the same path as
real data and arrive here through the receiver; nothing is written to the store directly.
Two services take part (an orchestrator and a worker pool), so the trace also shows a
service-to-service dependency.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Annotated

import telemetron_semconv as sc
from fastapi import APIRouter, Body, Depends, HTTPException
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel

from .deps import Services, get_services

router = APIRouter(prefix="/api/v1/debug", tags=["debug"])
_MS = 1_000_000


class SimulateRequest(BaseModel):
    """Options of the simulated run; all optional."""

    error: bool = False  # make one tool call fail (error status and an exception event)
    workflow: str = "research_report"
    conversation_id: str | None = None


class _Run:
    """Builds one trace with explicit timestamps (no sleeping) on two tracer providers."""

    def __init__(self, t0: int, conversation_id: str) -> None:
        self.t0 = t0
        self.conversation_id = conversation_id
        self.collected = InMemorySpanExporter()
        self.providers = {}
        for service, role in (("agent-orchestrator", "orchestrator"), ("agent-workers", "workers")):
            provider = TracerProvider(
                resource=Resource.create(
                    {"service.name": service, "service.namespace": "telemetron-simulator", "telemetron.role": role}
                )
            )
            provider.add_span_processor(SimpleSpanProcessor(self.collected))
            self.providers[service] = provider

    def span(self, service: str, parent, name: str, start_ms: float, end_ms: float, *, kind=SpanKind.INTERNAL, **attrs):
        tracer = self.providers[service].get_tracer("telemetron.simulator", "0.1.0")
        context = trace.set_span_in_context(parent) if parent is not None else None
        attributes = {k: v for k, v in attrs.items() if v is not None}
        attributes[sc.GEN_AI_CONVERSATION_ID] = self.conversation_id
        span = tracer.start_span(
            name, context=context, kind=kind, attributes=attributes, start_time=self.t0 + int(start_ms * _MS)
        )
        span._telemetron_end = self.t0 + int(end_ms * _MS)  # type: ignore[attr-defined]
        return span

    @staticmethod
    def end(span, status: Status | None = None) -> None:
        if status is not None:
            span.set_status(status)
        span.end(end_time=span._telemetron_end)

    def agent(self, service: str, parent, name: str, start_ms: float, end_ms: float, **attrs):
        return self.span(
            service,
            parent,
            f"{sc.OP_INVOKE_AGENT} {name}",
            start_ms,
            end_ms,
            **{sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT, sc.GEN_AI_AGENT_NAME: name},
            **attrs,
        )

    def llm(
        self,
        service: str,
        parent,
        provider: str,
        model: str,
        start_ms: float,
        end_ms: float,
        tokens_in: int,
        tokens_out: int,
        cost: float,
        finish: str = "stop",
    ) -> None:
        span = self.span(
            service,
            parent,
            f"{sc.OP_CHAT} {model}",
            start_ms,
            end_ms,
            kind=SpanKind.CLIENT,
            **{
                sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
                sc.GEN_AI_PROVIDER_NAME: provider,
                sc.GEN_AI_REQUEST_MODEL: model,
                sc.GEN_AI_RESPONSE_MODEL: model,
                sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
                sc.GEN_AI_REQUEST_MAX_TOKENS: 1024,
                sc.GEN_AI_USAGE_INPUT_TOKENS: tokens_in,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: tokens_out,
                sc.GEN_AI_RESPONSE_FINISH_REASONS: [finish],
                sc.GEN_AI_RESPONSE_ID: f"resp_{uuid.uuid4().hex[:12]}",
                sc.LLM_COST_USD: cost,
                sc.SERVER_ADDRESS: {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}.get(provider),
            },
        )
        span.add_event(
            "gen_ai.response.first_chunk",
            {sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: round((end_ms - start_ms) / 4000, 3)},
            timestamp=self.t0 + int((start_ms + (end_ms - start_ms) / 4) * _MS),
        )
        self.end(span)

    def tool(
        self,
        service: str,
        parent,
        name: str,
        start_ms: float,
        end_ms: float,
        *,
        fail: bool = False,
        attrs: dict[str, str] | None = None,
    ):
        span = self.span(
            service,
            parent,
            f"{sc.OP_EXECUTE_TOOL} {name}",
            start_ms,
            end_ms,
            **{
                sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
                sc.GEN_AI_TOOL_NAME: name,
                sc.GEN_AI_TOOL_TYPE: "function",
                sc.GEN_AI_TOOL_CALL_ID: f"call_{uuid.uuid4().hex[:8]}",
            },
            **(attrs or {}),
        )
        if fail:
            span.set_attribute(sc.ERROR_TYPE, "TimeoutError")
            span.add_event(
                "exception",
                {"exception.type": "TimeoutError", "exception.message": f"{name} timed out after 30s"},
                timestamp=span._telemetron_end,
            )
            self.end(span, Status(StatusCode.ERROR, f"{name} timed out after 30s"))
        else:
            self.end(span)

    def build(self, workflow: str, fail: bool) -> str:
        rnd = random.Random()
        orch, workers = "agent-orchestrator", "agent-workers"
        root = self.span(
            orch,
            None,
            f"{sc.OP_INVOKE_WORKFLOW} {workflow}",
            0,
            2900,
            **{sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW, sc.GEN_AI_WORKFLOW_NAME: workflow},
        )
        orchestrator = self.agent(orch, root, "orchestrator", 10, 2890, **{sc.TASK_ID: f"task-{uuid.uuid4().hex[:6]}"})
        self.llm(
            orch,
            orchestrator,
            "openai",
            "gpt-4o",
            20,
            420,
            rnd.randint(300, 500),
            rnd.randint(40, 120),
            0.0021,
            "tool_calls",
        )
        handoff = self.span(
            orch,
            orchestrator,
            f"{sc.OP_EXECUTE_TOOL} transfer_to_researcher",
            430,
            1800,
            **{
                sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
                sc.GEN_AI_TOOL_NAME: "transfer_to_researcher",
                sc.GEN_AI_TOOL_TYPE: "function",
                sc.GEN_AI_HANDOFF_SOURCE: "orchestrator",
                sc.GEN_AI_HANDOFF_TARGET: "researcher",
                sc.HANDOFF_REASON: "needs sources",
            },
        )
        researcher = self.agent(workers, handoff, "researcher", 440, 1790, kind=SpanKind.SERVER)
        self.llm(
            workers,
            researcher,
            "anthropic",
            "claude-sonnet-4",
            450,
            900,
            rnd.randint(800, 1200),
            rnd.randint(60, 150),
            0.0048,
            "tool_calls",
        )
        self.tool(workers, researcher, "search_web", 910, 1500, attrs={"search.query": "multi-agent telemetry"})
        self.llm(
            workers,
            researcher,
            "anthropic",
            "claude-sonnet-4",
            1510,
            1780,
            rnd.randint(1500, 2200),
            rnd.randint(200, 400),
            0.0091,
        )
        self.end(researcher)
        self.end(handoff)
        send = self.span(
            orch,
            orchestrator,
            "send telemetron.tasks",
            1810,
            1815,
            kind=SpanKind.PRODUCER,
            **{
                sc.MESSAGING_SYSTEM: "telemetron",
                sc.MESSAGING_OPERATION_TYPE: "send",
                sc.MESSAGING_DESTINATION_NAME: "telemetron.tasks",
                sc.TASK_PRIORITY: "normal",
            },
        )
        self.end(send)
        writer = self.agent(orch, orchestrator, "writer", 1820, 2850)
        self.llm(
            orch, writer, "openai", "gpt-4o-mini", 1830, 2400, rnd.randint(1800, 2500), rnd.randint(400, 700), 0.0009
        )
        self.tool(orch, writer, "format_markdown", 2410, 2840, fail=fail)
        self.end(writer, Status(StatusCode.ERROR, "tool format_markdown failed") if fail else None)
        self.end(orchestrator)
        self.end(root, Status(StatusCode.ERROR, "writer failed") if fail else None)
        return format(root.get_span_context().trace_id, "032x")

    def export(self, endpoint: str, token: str = "") -> int:
        spans = self.collected.get_finished_spans()
        # The token lets the run reach a receiver that requires it (oracle_api's own, with a token set).
        headers = {"authorization": f"Bearer {token}"} if token else None
        exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=5, headers=headers)
        try:
            result = exporter.export(spans)
        finally:
            exporter.shutdown()
            for provider in self.providers.values():
                provider.shutdown()
        if result is not SpanExportResult.SUCCESS:
            raise ConnectionError(f"OTLP export to {endpoint} failed")
        return len(spans)


def simulate(endpoint: str, options: SimulateRequest, token: str = "") -> dict:
    t0 = time.time_ns() - 3_000 * _MS
    run = _Run(t0, options.conversation_id or f"conv-{uuid.uuid4().hex[:10]}")
    trace_id = run.build(options.workflow, options.error)
    count = run.export(endpoint, token)
    return {
        "trace_id": trace_id,
        "spans": count,
        "otlp_endpoint": endpoint,
        "links": {"trace": f"/api/v1/traces/{trace_id}", "jaeger": f"/api/traces/{trace_id}"},
    }


@router.post("/simulate-trace")
def simulate_trace(
    services: Annotated[Services, Depends(get_services)],
    options: Annotated[SimulateRequest | None, Body()] = None,
) -> dict:
    """Generate a multi-agent trace (orchestrator, agents, tools, LLM calls, a handoff) and send it over OTLP."""
    endpoint = services.settings.simulate_otlp_endpoint
    try:
        return simulate(endpoint, options or SimulateRequest(), services.settings.api_token)
    except ConnectionError as exc:
        raise HTTPException(
            502,
            f"{exc}: is the Collector (or an OTLP receiver) listening there? Set TELEMETRON_SIMULATE_OTLP_ENDPOINT.",
        ) from exc
