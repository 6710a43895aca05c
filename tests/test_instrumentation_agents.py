"""Agent, tool, workflow, handoff, queue and conversation spans."""

import json
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
import pytest
from mock_llm_provider import MockProviderProcess
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from telemetron_instrumentation import (
    TaskHandle,
    conversation,
    enqueue,
    execute_tool,
    handoff,
    invoke_agent,
    invoke_workflow,
    process_task,
    semconv,
)
from telemetron_instrumentation.testing import capture_globally


@pytest.fixture
def cap():
    capture = capture_globally()
    capture.clear()
    return capture


@pytest.fixture(scope="module")
def provider():
    litellm.suppress_debug_info = True
    with MockProviderProcess() as p:
        yield p


def only(spans, name):
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def test_invoke_agent_span_carries_the_agent_declaration(cap):
    with invoke_agent(
        "researcher",
        id="agent-1",
        description="Finds sources",
        models=["gpt-4o", "gpt-4o-mini"],
        max_parallel_invocations=3,
        deployment="researcher-deploy",
        task_id="t-1",
    ) as span:
        assert trace.get_current_span() is span
    agent = only(cap.finished(), "invoke_agent researcher")
    assert agent.kind is SpanKind.INTERNAL
    assert dict(agent.attributes) == {
        semconv.GEN_AI_OPERATION_NAME: "invoke_agent",
        semconv.GEN_AI_PROVIDER_NAME: "_OTHER",  # required by the conventions; the models carry no provider prefix
        semconv.GEN_AI_AGENT_NAME: "researcher",
        semconv.GEN_AI_AGENT_ID: "agent-1",
        semconv.GEN_AI_AGENT_DESCRIPTION: "Finds sources",
        semconv.AGENT_MODELS: ("gpt-4o", "gpt-4o-mini"),
        semconv.AGENT_MAX_PARALLEL: 3,
        semconv.AGENT_DEPLOYMENT: "researcher-deploy",
        semconv.TASK_ID: "t-1",
    }


def test_invoke_agent_provider_comes_from_the_argument_or_the_models_litellm_prefix(cap):
    with invoke_agent("writer", models=["anthropic/claude-sonnet", "openai/gpt-4o"]):
        pass
    with invoke_agent("editor", provider="aws.bedrock", models=["openai/gpt-4o"]):
        pass
    spans = cap.finished()
    assert only(spans, "invoke_agent writer").attributes[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert only(spans, "invoke_agent editor").attributes[semconv.GEN_AI_PROVIDER_NAME] == "aws.bedrock"


def test_decorators_open_one_span_per_call_sync_and_async(cap):
    @invoke_agent("writer")
    def write(x):
        return x * 2

    @execute_tool("lookup", description="Look things up")
    async def lookup(x):
        return x + 1

    import asyncio

    assert write(2) == 4 and write(3) == 6
    assert asyncio.run(lookup(1)) == 2
    names = [s.name for s in cap.finished()]
    assert names.count("invoke_agent writer") == 2
    tool = only(cap.finished(), "execute_tool lookup")
    assert tool.attributes[semconv.GEN_AI_TOOL_NAME] == "lookup"
    assert tool.attributes[semconv.GEN_AI_TOOL_DESCRIPTION] == "Look things up"


async def test_async_context_managers_nest(cap):
    async with invoke_workflow("report") as workflow:
        async with invoke_agent("planner") as agent:
            async with execute_tool("search", call_id="call_9"):
                pass
    spans = cap.finished()
    tool, planner, flow = (
        only(spans, n) for n in ("execute_tool search", "invoke_agent planner", "invoke_workflow report")
    )
    assert tool.parent.span_id == agent.get_span_context().span_id
    assert planner.parent.span_id == workflow.get_span_context().span_id
    assert flow.attributes[semconv.GEN_AI_WORKFLOW_NAME] == "report"
    assert tool.attributes[semconv.GEN_AI_TOOL_CALL_ID] == "call_9"


@pytest.mark.parametrize("kind", ["with", "decorator"])
def test_exception_sets_error_status_type_and_event_and_is_reraised(cap, kind):
    class QuotaExceeded(Exception):
        pass

    def fail():
        raise QuotaExceeded("over quota for key sk-abcdefgh12345678")

    with pytest.raises(QuotaExceeded):
        if kind == "with":
            with execute_tool("charge"):
                fail()
        else:
            execute_tool("charge")(fail)()
    span = only(cap.finished(), "execute_tool charge")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "QuotaExceeded"
    event = only(span.events, "exception")
    assert "over quota" in event.attributes["exception.message"]
    assert "sk-abcdefgh12345678" not in span.to_json()


def test_tool_call_inside_an_agent(cap, provider):
    tool = {
        "type": "function",
        "function": {
            "name": "search_web",
            "description": "Search the web",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    }
    common = {"model": "openai/mock-gpt-4o-mini", "api_base": provider.api_base, "api_key": "sk-local", "tools": [tool]}
    messages = [{"role": "user", "content": "Use search_web to find otel docs"}]
    with invoke_agent("researcher") as agent:
        first = litellm.completion(**common, messages=messages)
        call = first.choices[0].message.tool_calls[0]
        with execute_tool(call.function.name, call_id=call.id, description="Search the web"):
            result = json.dumps({"hits": 3})
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": result},
        ]
        final = litellm.completion(**common, messages=messages)
    assert final.choices[0].finish_reason == "stop"
    spans = cap.wait_for(lambda s: sum(x.name == "chat mock-gpt-4o-mini" for x in s) == 2)
    agent_id = agent.get_span_context().span_id
    chats = sorted((s for s in spans if s.name == "chat mock-gpt-4o-mini"), key=lambda s: s.start_time)
    tool_span = only(spans, "execute_tool search_web")
    assert [c.parent.span_id for c in chats] == [agent_id, agent_id]
    assert tool_span.parent.span_id == agent_id
    assert chats[0].attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert tool_span.attributes[semconv.GEN_AI_TOOL_CALL_ID] == call.id
    assert chats[0].end_time <= tool_span.start_time <= tool_span.end_time <= chats[1].start_time


def test_handoff_is_a_transfer_tool_span_with_source_and_target(cap):
    with invoke_agent("orchestrator") as orchestrator:
        with handoff("orchestrator", "writer", task_id="t-7", reason="research done"):
            with invoke_agent("writer"):
                pass
    spans = cap.finished()
    span = only(spans, "execute_tool transfer_to_writer")
    assert span.kind is SpanKind.INTERNAL
    assert span.parent.span_id == orchestrator.get_span_context().span_id
    assert dict(span.attributes) == {
        semconv.GEN_AI_OPERATION_NAME: "execute_tool",
        semconv.GEN_AI_TOOL_NAME: "transfer_to_writer",
        semconv.GEN_AI_TOOL_TYPE: "function",
        semconv.GEN_AI_HANDOFF_SOURCE: "orchestrator",
        semconv.GEN_AI_HANDOFF_TARGET: "writer",
        semconv.TASK_ID: "t-7",
        semconv.HANDOFF_REASON: "research done",
    }
    assert only(spans, "invoke_agent writer").parent.span_id == span.context.span_id


def test_queued_task_send_and_process_spans_are_linked(cap):
    handle = enqueue(
        "research", "task-42", priority="high", blocked_by="task-41", submitted_by="orchestrator", prompt="Find sources"
    )
    with invoke_agent("researcher"):
        with process_task(handle, agent="researcher"):
            pass
    spans = cap.finished()
    send, process = only(spans, "send research"), only(spans, "process research")
    assert send.kind is SpanKind.PRODUCER and process.kind is SpanKind.CONSUMER
    assert send.attributes[semconv.MESSAGING_OPERATION_TYPE] == "send"
    assert process.attributes[semconv.MESSAGING_OPERATION_TYPE] == "process"
    for span in (send, process):
        assert span.attributes[semconv.MESSAGING_DESTINATION_NAME] == "research"
        assert span.attributes[semconv.MESSAGING_MESSAGE_ID] == "task-42"
        assert span.attributes[semconv.TASK_PRIORITY] == "high"
        assert span.attributes[semconv.TASK_BLOCKED_BY] == "task-41"
        assert span.attributes[semconv.TASK_SUBMITTED_BY] == "orchestrator"
    assert send.attributes[semconv.TASK_PROMPT] == "Find sources"
    assert process.attributes[semconv.TASK_PROCESSED_BY] == "researcher"
    assert [link.context.span_id for link in process.links] == [send.context.span_id]
    assert handle.span_context == send.context


def test_task_handle_crosses_a_process_boundary_as_a_carrier(cap):
    handle = enqueue("coding", "task-9", priority="low")
    carrier = json.loads(json.dumps(handle.to_carrier()))
    assert carrier["traceparent"].startswith("00-")
    with process_task(carrier):
        pass
    process = only(cap.finished(), "process coding")
    assert process.links[0].context.span_id == handle.span_context.span_id
    assert process.links[0].context.trace_id == handle.span_context.trace_id
    assert TaskHandle.from_carrier(carrier).priority == "low"


def test_priority_must_be_a_known_level():
    with pytest.raises(ValueError):
        enqueue("q", "t", priority="urgent")


def test_conversation_marks_every_span_started_inside(cap):
    plain = trace.get_tracer("tests")
    with conversation("conv-9"):
        with invoke_agent("a"):
            with plain.start_as_current_span("plain child"):
                pass
        handle = enqueue("q", "t-1")
    with process_task(handle):
        pass
    with invoke_agent("outside"):
        pass
    spans = cap.finished()
    for name in ("invoke_agent a", "plain child", "send q", "process q"):
        assert only(spans, name).attributes[semconv.GEN_AI_CONVERSATION_ID] == "conv-9", name
    assert semconv.GEN_AI_CONVERSATION_ID not in only(spans, "invoke_agent outside").attributes
