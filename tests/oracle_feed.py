"""Feeding a running oracle_api the way real agents and Collector receivers do, for the Oracle tests.

Spans go through the OpenTelemetry SDK over OTLP gRPC; work in progress is announced with
pending-span records (a zero-length span whose parent is the running span, carrying its
attributes); metrics are ExportMetricsServiceRequests shaped like the k8s_cluster and
kubeletstats receivers' output, sent to MetricsService/Export.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AnyValue
from otlp_builders import METRICS_EXPORT, kv
from telemetron_instrumentation import semconv as sc


class _Retargetable(SpanExporter):
    """OTLP gRPC export to an endpoint that can change (the same agents outliving an oracle_api restart)."""

    def __init__(self, endpoint: str) -> None:
        self.exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)

    def export(self, spans):
        return self.exporter.export(spans)

    def shutdown(self) -> None:
        self.exporter.shutdown()


class Agents:
    """A process running agents: emits invoke_agent, tool, handoff, queue and LLM spans over OTLP gRPC."""

    def __init__(self, oracle_server, service: str = "agents", **resource) -> None:
        self._exporter = _Retargetable(oracle_server.grpc_endpoint)
        self.provider = TracerProvider(resource=Resource.create({"service.name": service, **resource}))
        self.provider.add_span_processor(SimpleSpanProcessor(self._exporter))
        self.tracer = self.provider.get_tracer("telemetron.tests")

    def retarget(self, oracle_server) -> None:
        self._exporter.exporter = OTLPSpanExporter(endpoint=oracle_server.grpc_endpoint, insecure=True)

    def close(self) -> None:
        self.provider.shutdown()

    # --- work in progress -------------------------------------------------------------------------

    def heartbeat(self, span, at_ns: int | None = None) -> None:
        """A pending-span record for ``span`` (sent at start and then periodically while it runs)."""
        attrs = dict(span.attributes)
        attrs[sc.SPAN_TYPE] = sc.SPAN_TYPE_PENDING
        if span.parent is not None:
            attrs[sc.PENDING_PARENT_ID] = format(span.parent.span_id, "016x")
        record = self.tracer.start_span(
            span.name, context=trace.set_span_in_context(span), attributes=attrs, start_time=span.start_time
        )
        record.end(end_time=max(at_ns or time.time_ns(), span.start_time))

    def start(self, name: str, attributes: dict, *, parent=None, kind=SpanKind.INTERNAL, links=None, pending=True):
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(name, context=context, kind=kind, attributes=attributes, links=links)
        if pending:
            self.heartbeat(span)
        return span

    # --- agents -----------------------------------------------------------------------------------

    def start_agent(
        self,
        agent: str,
        task_id: str | None = None,
        *,
        parent=None,
        max_parallel: int | None = None,
        models: list[str] | None = None,
        description: str | None = None,
        blocked_by: str | None = None,
        deployment: str | None = None,
        pending: bool = True,
    ):
        attrs: dict[str, AnyValue] = {sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT, sc.GEN_AI_AGENT_NAME: agent}
        if task_id:
            attrs[sc.TASK_ID] = task_id
        if max_parallel is not None:
            attrs[sc.AGENT_MAX_PARALLEL] = max_parallel
        if models:
            attrs[sc.AGENT_MODELS] = models
        if description:
            attrs[sc.GEN_AI_AGENT_DESCRIPTION] = description
        if blocked_by:
            attrs[sc.TASK_BLOCKED_BY] = blocked_by
        if deployment:
            attrs[sc.AGENT_DEPLOYMENT] = deployment
        return self.start(f"invoke_agent {agent}", attrs, parent=parent, pending=pending)

    @contextmanager
    def agent(self, agent: str, task_id: str | None = None, *, error: str | None = None, **kwargs) -> Iterator:
        span = self.start_agent(agent, task_id, **kwargs)
        try:
            yield span
        finally:
            end(span, error)

    def tool(self, tool: str, *, parent, error: str | None = None) -> None:
        span = self.start(
            f"execute_tool {tool}",
            {sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: tool},
            parent=parent,
            pending=False,
        )
        end(span, error)

    def handoff(self, source: str, target: str, task_id: str, *, parent) -> None:
        span = self.start(
            f"execute_tool transfer_to_{target}",
            {
                sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
                sc.GEN_AI_TOOL_NAME: f"transfer_to_{target}",
                sc.GEN_AI_HANDOFF_SOURCE: source,
                sc.GEN_AI_HANDOFF_TARGET: target,
                sc.TASK_ID: task_id,
            },
            parent=parent,
            pending=False,
        )
        end(span)

    def llm(
        self,
        model: str,
        *,
        parent=None,
        provider: str = "openai",
        input_tokens: int | None = 100,
        output_tokens: int | None = 50,
        cost: float | None = None,
        error: str | None = None,
        ratelimit: dict | None = None,
        duration_s: float = 0.0,
    ) -> None:
        attrs: dict[str, AnyValue] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
            sc.GEN_AI_PROVIDER_NAME: provider,
            sc.GEN_AI_REQUEST_MODEL: model,
            sc.GEN_AI_RESPONSE_MODEL: model,
        }
        if input_tokens is not None:  # None: the call reported no usage
            attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
        if output_tokens is not None:
            attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
        if cost is not None:
            attrs[sc.LLM_COST_USD] = cost
        if error:
            attrs[sc.ERROR_TYPE] = error
        for key, value in (ratelimit or {}).items():
            attrs[f"telemetron.llm.ratelimit.{key}"] = value
        start_ns = time.time_ns() - int(duration_s * 1e9)
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(
            f"chat {model}", context=context, kind=SpanKind.CLIENT, attributes=attrs, start_time=start_ns
        )
        end(span, error)

    # --- queues -----------------------------------------------------------------------------------

    def send(
        self,
        queue: str,
        task_id: str,
        *,
        parent=None,
        priority: str = "normal",
        blocked_by: str | None = None,
        submitted_by: str | None = None,
        prompt: str | None = None,
    ):
        attrs = {
            sc.MESSAGING_OPERATION_TYPE: "send",
            sc.MESSAGING_DESTINATION_NAME: queue,
            sc.MESSAGING_MESSAGE_ID: task_id,
            sc.TASK_PRIORITY: priority,
        }
        if blocked_by:
            attrs[sc.TASK_BLOCKED_BY] = blocked_by
        if submitted_by:
            attrs[sc.TASK_SUBMITTED_BY] = submitted_by
        if prompt:
            attrs[sc.TASK_PROMPT] = prompt
        span = self.start(f"send {queue}", attrs, parent=parent, kind=SpanKind.PRODUCER, pending=False)
        end(span)
        return span

    def process(self, queue: str, task_id: str, send_span, *, error: str | None = None) -> None:
        attrs = {
            sc.MESSAGING_OPERATION_TYPE: "process",
            sc.MESSAGING_DESTINATION_NAME: queue,
            sc.MESSAGING_MESSAGE_ID: task_id,
        }
        link = trace.Link(send_span.get_span_context())
        span = self.start(f"process {queue}", attrs, kind=SpanKind.CONSUMER, links=[link], pending=False)
        end(span, error)


def end(span, error: str | None = None) -> None:
    if error:
        span.set_attribute(sc.ERROR_TYPE, error)
        span.set_status(Status(StatusCode.ERROR, error))
    span.end()


# --- metrics ----------------------------------------------------------------------------------------


def send_metrics(endpoint: str, resource: dict, metrics: list[tuple], time_ns: int | None = None) -> None:
    """Export ``(name, value[, point attributes[, "gauge"|"sum"]])`` data points for one resource."""
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.extend(kv(k, v) for k, v in resource.items())
    scope = rm.scope_metrics.add()
    scope.scope.name = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/k8sclusterreceiver"
    now = time_ns or time.time_ns()
    for entry in metrics:
        name, value, attrs, kind = (*entry, {}, "gauge")[:4] if len(entry) == 2 else (*entry, "gauge")[:4]
        metric = scope.metrics.add(name=name)
        if kind == "sum":
            metric.sum.aggregation_temporality = 2
            metric.sum.is_monotonic = True
            point = metric.sum.data_points.add(time_unix_nano=now, start_time_unix_nano=now - 10**9)
        else:
            point = metric.gauge.data_points.add(time_unix_nano=now)
        if isinstance(value, int):
            point.as_int = value
        else:
            point.as_double = value
        point.attributes.extend(kv(k, v) for k, v in (attrs or {}).items())
    with grpc.insecure_channel(endpoint) as channel:
        response = channel.unary_unary(METRICS_EXPORT, response_deserializer=ExportMetricsServiceResponse.FromString)(
            request.SerializeToString(), timeout=10
        )
    assert not response.partial_success.rejected_data_points, response.partial_success.error_message


def pod_resource(deployment: str, pod: str, container: str | None = None, **extra) -> dict:
    resource = {
        "k8s.namespace.name": "agents",
        "k8s.deployment.name": deployment,
        "k8s.pod.name": pod,
        "k8s.pod.uid": f"uid-{pod}",
        "k8s.node.name": "node-1",
    }
    if container:
        resource["k8s.container.name"] = container
    resource.update(extra)
    return resource


# --- reading the state ------------------------------------------------------------------------------


def assert_valid(state: dict) -> dict:
    """The document obeys oracle-state.schema.json (structure by jsonschema, and date-time formats)."""
    import jsonschema
    from telemetron_oracle_api.oracle import validation_errors
    from telemetron_oracle_api.oracle.schema import schema

    jsonschema.validate(state, schema())
    assert validation_errors(state) == []
    return state


def get_state(oracle_server, **params) -> dict:
    response = oracle_server.client().get("/api/v1/oracle/state", params=params)
    assert response.status_code == 200, response.text
    return assert_valid(response.json())


def agent_of(state: dict, name: str) -> dict | None:
    return next((a for a in state["agents"] if a["name"] == name), None)


def issues_of(oracle_server, kind: str | None = None) -> list[dict]:
    payload = oracle_server.client().get("/api/v1/oracle/issues").json()
    return [i for i in payload["issues"] if kind is None or i["kind"] == kind]
