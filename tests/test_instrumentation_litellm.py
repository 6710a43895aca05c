"""The LiteLLM callback: real LiteLLM calls against the mock provider over real HTTP."""

import json
import os
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
import pytest
from mock_llm_provider import MockProviderProcess
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from telemetron_instrumentation import conversation, semconv
from telemetron_instrumentation._ratelimit import _openai_layout, rate_limit_attributes
from telemetron_instrumentation.litellm_callback import parse_reset_seconds
from telemetron_instrumentation.metrics import DURATION_BUCKETS, TOKEN_BUCKETS
from telemetron_instrumentation.testing import capture_globally

SECRET = "sk-telemetron-test-secret-0123456789"
PROMPT = "Summarise the quarterly llama migration plan"
MODEL = "mock-gpt-4o-mini"
PRICE_IN, PRICE_OUT = 1e-06, 2e-06


@pytest.fixture(scope="module")
def provider():
    litellm.suppress_debug_info = True
    litellm.register_model(
        {
            MODEL: {
                "input_cost_per_token": PRICE_IN,
                "output_cost_per_token": PRICE_OUT,
                "litellm_provider": "openai",
                "mode": "chat",
            }
        }
    )
    with MockProviderProcess() as p:
        yield p


@pytest.fixture
def cap(provider):
    capture = capture_globally()
    capture.clear()
    provider.control("/control/reset", {})
    yield capture
    capture.callback.capture_content = False


def args(provider, model=MODEL, prompt=PROMPT, **extra):
    return {
        "model": f"openai/{model}",
        "api_base": provider.api_base,
        "api_key": SECRET,
        "messages": [{"role": "user", "content": prompt}],
        "max_retries": 0,
        **extra,
    }


def only(spans, name):
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def llm_span(cap, name=f"chat {MODEL}"):
    return only(cap.wait_for(lambda spans: any(s.name == name for s in spans)), name)


async def allm_span(cap, name=f"chat {MODEL}"):
    return only(await cap.await_for(lambda spans: any(s.name == name for s in spans)), name)


tracer = trace.get_tracer("tests")


def test_sync_chat_span_is_a_client_child_of_the_callers_span_with_request_and_response_attributes(cap, provider):
    before = time.time_ns()
    with tracer.start_as_current_span("caller") as caller:
        response = litellm.completion(**args(provider, max_tokens=64, temperature=0.3, top_p=0.9, stop=["END"], seed=7))
    after = time.time_ns()
    span = llm_span(cap)
    a = span.attributes
    assert span.kind is SpanKind.CLIENT
    assert span.parent.span_id == caller.get_span_context().span_id
    assert before <= span.start_time <= span.end_time <= after
    assert a[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert a[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[semconv.GEN_AI_REQUEST_MODEL] == MODEL
    assert (a[semconv.GEN_AI_REQUEST_MAX_TOKENS], a[semconv.GEN_AI_REQUEST_TEMPERATURE]) == (64, 0.3)
    assert (a[semconv.GEN_AI_REQUEST_TOP_P], a[semconv.GEN_AI_REQUEST_SEED]) == (0.9, 7)
    assert a[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert semconv.GEN_AI_REQUEST_STREAM not in a  # set only when streaming
    assert a[semconv.GEN_AI_RESPONSE_ID] == response.id
    assert a[semconv.GEN_AI_RESPONSE_MODEL] == MODEL
    assert a[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == response.usage.prompt_tokens > 0
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == response.usage.completion_tokens > 0
    assert semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS not in a  # the provider reported 0 cached tokens
    assert (a[semconv.SERVER_ADDRESS], a[semconv.SERVER_PORT]) == ("127.0.0.1", provider.port)
    expected_cost = response.usage.prompt_tokens * PRICE_IN + response.usage.completion_tokens * PRICE_OUT
    assert a[semconv.LLM_COST_USD] == pytest.approx(expected_cost)
    assert span.status.status_code is StatusCode.UNSET


def test_rate_limit_state_comes_from_the_response_headers(cap, provider):
    litellm.completion(**args(provider))
    litellm.completion(**args(provider))
    first, second = sorted(cap.wait_for(lambda s: len(s) == 2), key=lambda s: s.start_time)
    assert first.attributes[semconv.LLM_RATELIMIT_REQUESTS_LIMIT] == 10000
    assert first.attributes[semconv.LLM_RATELIMIT_REQUESTS_REMAINING] == 9999
    assert second.attributes[semconv.LLM_RATELIMIT_REQUESTS_REMAINING] == 9998
    assert second.attributes[semconv.LLM_RATELIMIT_TOKENS_LIMIT] == 2_000_000
    assert 0 < second.attributes[semconv.LLM_RATELIMIT_TOKENS_REMAINING] < 2_000_000
    assert 0 <= second.attributes[semconv.LLM_RATELIMIT_REQUESTS_RESET] <= 60
    assert 0 <= second.attributes[semconv.LLM_RATELIMIT_TOKENS_RESET] <= 60


async def test_async_chat_span_is_parented_to_the_callers_span(cap, provider):
    with tracer.start_as_current_span("caller") as caller:
        await litellm.acompletion(**args(provider))
        assert trace.get_current_span() is caller  # the caller's context is back
    span = await allm_span(cap)
    assert span.parent.span_id == caller.get_span_context().span_id
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0


def test_streaming_call_ends_when_the_stream_is_consumed(cap, provider):
    with tracer.start_as_current_span("caller") as caller:
        stream = litellm.completion(**args(provider, stream=True, stream_options={"include_usage": True}))
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    span = llm_span(cap)
    a = span.attributes
    assert span.parent.span_id == caller.get_span_context().span_id
    assert text and a[semconv.GEN_AI_REQUEST_STREAM] is True
    assert a[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert 0 <= a[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] <= (span.end_time - span.start_time) / 1e9


async def test_async_streaming_call(cap, provider):
    stream = await litellm.acompletion(**args(provider, stream=True, stream_options={"include_usage": True}))
    async for _ in stream:
        pass
    span = await allm_span(cap)
    assert span.attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 0


def test_embedding_span(cap, provider):
    with tracer.start_as_current_span("caller") as caller:
        litellm.embedding(
            model="openai/mock-embed-small",
            api_base=provider.api_base,
            api_key=SECRET,
            input=["alpha", "beta"],
            encoding_format="float",
        )
    span = llm_span(cap, "embeddings mock-embed-small")
    a = span.attributes
    assert span.kind is SpanKind.CLIENT and span.parent.span_id == caller.get_span_context().span_id
    assert a[semconv.GEN_AI_OPERATION_NAME] == "embeddings"
    assert a[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] == ("float",)
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in a


def test_rate_limited_call_is_an_error_span_with_the_status_and_limits(cap, provider):
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(**args(provider, model="mock-429"))
    span = llm_span(cap, "chat mock-429")
    a = span.attributes
    assert span.status.status_code is StatusCode.ERROR
    assert a[semconv.ERROR_TYPE] == "RateLimitError"
    assert a[semconv.HTTP_RESPONSE_STATUS_CODE] == 429
    assert a[semconv.LLM_RATELIMIT_REQUESTS_LIMIT] == 10000
    assert semconv.LLM_COST_USD not in a
    event = only(span.events, "exception")
    assert event.attributes["exception.type"].endswith("RateLimitError")
    durations = cap.metric_points(semconv.METRIC_OPERATION_DURATION)
    assert any(p.attributes.get(semconv.ERROR_TYPE) == "RateLimitError" for p in durations)


async def test_server_error_is_an_error_span(cap, provider):
    with pytest.raises(litellm.InternalServerError):
        await litellm.acompletion(**args(provider, model="mock-500"))
    span = await allm_span(cap, "chat mock-500")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "InternalServerError"
    assert span.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 500


def test_metrics_use_the_conventions_names_units_and_buckets(cap, provider):
    response = litellm.completion(**args(provider))
    llm_span(cap)
    data = cap.metric_reader.get_metrics_data()
    found = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    tokens, duration = found[semconv.METRIC_TOKEN_USAGE], found[semconv.METRIC_OPERATION_DURATION]
    assert (tokens.unit, duration.unit) == ("{token}", "s")
    points = [p for p in tokens.data.data_points if p.attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL]
    by_type = {p.attributes[semconv.GEN_AI_TOKEN_TYPE]: p for p in points}
    assert tuple(by_type["input"].explicit_bounds) == TOKEN_BUCKETS
    assert by_type["output"].max >= response.usage.completion_tokens
    assert by_type["input"].attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert by_type["input"].attributes[semconv.SERVER_PORT] == provider.port
    assert tuple(duration.data.data_points[0].explicit_bounds) == DURATION_BUCKETS


def test_conversation_id_from_the_callers_context(cap, provider):
    with conversation("conv-123"):
        litellm.completion(**args(provider))
    assert llm_span(cap).attributes[semconv.GEN_AI_CONVERSATION_ID] == "conv-123"


def test_content_is_not_captured_by_default(cap, provider):
    litellm.completion(**args(provider))
    litellm.embedding(model="openai/mock-embed-small", api_base=provider.api_base, api_key=SECRET, input=[PROMPT])
    cap.wait_for(lambda spans: len(spans) == 2)
    exported = cap.serialized()
    assert "llama migration" not in exported
    assert semconv.GEN_AI_INPUT_MESSAGES not in exported and semconv.GEN_AI_OUTPUT_MESSAGES not in exported


def test_content_is_captured_in_the_conventions_shape_when_opted_in(cap, provider):
    cap.callback.capture_content = True
    tool = {
        "type": "function",
        "function": {
            "name": "search_web",
            "description": "Search",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "search_web for llamas"}]
    response = litellm.completion(**{**args(provider), "messages": messages}, tools=[tool])
    a = llm_span(cap).attributes
    inputs = json.loads(a[semconv.GEN_AI_INPUT_MESSAGES])
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "search_web for llamas"}]},
    ]
    outputs = json.loads(a[semconv.GEN_AI_OUTPUT_MESSAGES])
    call = response.choices[0].message.tool_calls[0]
    assert outputs == [
        {
            "role": "assistant",
            "finish_reason": "tool_call",
            "parts": [
                {
                    "type": "tool_call",
                    "id": call.id,
                    "name": "search_web",
                    "arguments": json.loads(call.function.arguments),
                }
            ],
        }
    ]
    assert json.loads(a[semconv.GEN_AI_TOOL_DEFINITIONS])[0]["name"] == "search_web"


def test_api_key_never_reaches_exported_telemetry(cap, provider):
    cap.callback.capture_content = True
    litellm.completion(**args(provider))
    with pytest.raises(litellm.InternalServerError):
        litellm.completion(**args(provider, model="mock-500"))
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(**args(provider, model="mock-429"))
    cap.wait_for(lambda spans: len(spans) == 3)
    exported = cap.serialized()
    assert "llama migration" in exported  # content capture is on, so the search is meaningful
    assert SECRET not in exported and SECRET[3:] not in exported


def test_callback_leaves_the_callers_span_alone(cap, provider):
    with tracer.start_as_current_span("caller", attributes={"mine": 1}) as caller:
        litellm.completion(**args(provider))
        with pytest.raises(litellm.RateLimitError):
            litellm.completion(**args(provider, model="mock-429"))
        assert caller.is_recording() and trace.get_current_span() is caller
    spans = cap.wait_for(lambda s: len(s) == 3)
    caller_span = only(spans, "caller")
    assert dict(caller_span.attributes) == {"mine": 1}
    assert caller_span.status.status_code is StatusCode.UNSET and not caller_span.events


def test_reset_header_formats():
    assert parse_reset_seconds("6m0s") == 360.0
    assert parse_reset_seconds("20ms") == pytest.approx(0.02)
    assert parse_reset_seconds("1.5") == 1.5
    assert parse_reset_seconds("1h2m3s") == 3723.0
    assert parse_reset_seconds("not a time") is None


def test_openai_style_rate_limit_headers_give_the_counts_and_the_parsed_resets_in_order():
    headers = {
        "x_ratelimit_limit_requests": 10000,
        "x_ratelimit_remaining_requests": 9998,
        "x_ratelimit_limit_tokens": 2_000_000,
        "x_ratelimit_remaining_tokens": 1_999_950,
        "llm_provider-x-ratelimit-reset-requests": "17ms",
        "llm_provider-x-ratelimit-reset-tokens": "6m0s",
        "llm_provider-x-ratelimit-limit-requests": "10000",
    }
    attributes: dict = {}
    rate_limit_attributes(headers, attributes)
    assert list(attributes.items()) == [
        (semconv.LLM_RATELIMIT_REQUESTS_LIMIT, 10000),
        (semconv.LLM_RATELIMIT_REQUESTS_REMAINING, 9998),
        (semconv.LLM_RATELIMIT_REQUESTS_RESET, pytest.approx(0.017)),
        (semconv.LLM_RATELIMIT_TOKENS_LIMIT, 2_000_000),
        (semconv.LLM_RATELIMIT_TOKENS_REMAINING, 1_999_950),
        (semconv.LLM_RATELIMIT_TOKENS_RESET, 360.0),
    ]


def model_response(choices=("stop",), response_id="chatcmpl-1", **usage):
    from litellm.types.utils import Choices, Message, ModelResponse, Usage

    return ModelResponse(
        id=response_id,
        model=MODEL,
        choices=[Choices(finish_reason=r, index=i, message=Message(content="hi")) for i, r in enumerate(choices)],
        usage=Usage(**{"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, **usage}),
    )


def response_shapes():
    from litellm.types.utils import CompletionTokensDetailsWrapper, PromptTokensDetailsWrapper

    return {
        "plain": model_response(),
        "zero-details": model_response(
            prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=0),
            completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=0),
        ),
        "cached": model_response(prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=2)),
        "reasoning": model_response(completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=5)),
        "cache-extras": model_response(cache_read_input_tokens=2, cache_creation_input_tokens=1),
        "two-choices": model_response(choices=("stop", "length")),
        "no-id": model_response(response_id=""),
    }


@pytest.mark.parametrize("shape", list(response_shapes()))
def test_the_straight_read_of_a_usual_response_sets_what_the_general_reader_sets(shape, monkeypatch):
    from telemetron_instrumentation import _litellm_data

    response = response_shapes()[shape]
    for _ in range(2):  # the second time, the detail types are known
        attributes: dict = {}
        found = _litellm_data.response_attributes(response, attributes)
        with monkeypatch.context() as m:
            m.setattr(_litellm_data, "_model_response_attributes", lambda *_: None)
            general: dict = {}
            assert _litellm_data.response_attributes(response, general) == found
        assert list(attributes.items()) == list(general.items())
        assert [type(v) for v in attributes.values()] == [type(v) for v in general.values()]
    straight = _litellm_data._model_response_attributes(response, {}) is not None
    assert straight is (shape in ("plain", "zero-details"))  # only the usual shape is read straight through


OPENAI_LAYOUT = {
    "x_ratelimit_limit_requests": 10000,
    "x_ratelimit_remaining_requests": 9998,
    "x_ratelimit_limit_tokens": 2_000_000,
    "x_ratelimit_remaining_tokens": 1_999_950,
    "llm_provider-x-ratelimit-reset-requests": "41ms",
    "llm_provider-x-ratelimit-reset-tokens": "7m0s",
}


@pytest.mark.parametrize(
    "headers",
    [
        OPENAI_LAYOUT,
        {**OPENAI_LAYOUT, "x_ratelimit_reset_requests": 3},  # a parsed reset comes before the raw one
        {**OPENAI_LAYOUT, "x_ratelimit_limit_tokens": "2000000"},  # a count LiteLLM did not parse
        {k: v for k, v in OPENAI_LAYOUT.items() if k != "x_ratelimit_remaining_tokens"},
        {**OPENAI_LAYOUT, "llm_provider-x-ratelimit-reset-tokens": "soon"},  # an unreadable reset
        {**OPENAI_LAYOUT, "llm_provider-x-ratelimit-reset-tokens": ["7s"]},  # not even a string
        {
            "llm_provider-anthropic-ratelimit-requests-limit": "50",
            "llm_provider-anthropic-ratelimit-tokens-reset": "2026-12-05T00:00:00Z",
        },
    ],
    ids=["openai", "parsed-reset", "unparsed-count", "count-missing", "bad-reset", "list-reset", "anthropic"],
)
def test_the_one_pass_read_of_the_usual_headers_sets_what_the_general_loop_sets(headers):
    from types import MappingProxyType

    for _ in range(2):  # the second time, the reset strings are known
        through_loop: dict = {}
        rate_limit_attributes(MappingProxyType(headers), through_loop)  # not a dict: the general loop
        attributes: dict = {}
        rate_limit_attributes(headers, attributes)
        assert list(attributes.items()) == list(through_loop.items())
    assert attributes
    assert _openai_layout(headers, {}) is (headers is OPENAI_LAYOUT)  # only the usual layout takes one pass


def test_slow_llm_call_has_a_pending_record_at_start_and_heartbeats(cap, provider):
    litellm.completion(**args(provider, model="mock-slow-800"))
    span = llm_span(cap, "chat mock-slow-800")
    exported_ns = time.time_ns()
    records = [p for p in cap.pending_records() if p.parent.span_id == span.context.span_id]
    assert len(records) >= 3  # start + heartbeats every 0.25 s over 0.8 s
    assert records[0].end_time - span.start_time < 500_000_000  # at the start (after LiteLLM's own set-up)
    assert span.end_time - records[0].end_time > 500_000_000  # long before the call ended
    # Heartbeats come only while the call is open. LiteLLM runs a sync call's success hooks on its
    # own thread, after the call returned and after the end time it reports, so the span is open
    # until then: compare with the moment the ended span had been exported.
    assert all(r.start_time == span.start_time and r.end_time < exported_ns for r in records)
    # The span was exported, so it has left the heartbeat set; this tick waits for one in flight.
    cap.pending.force_flush()
    assert len([p for p in cap.pending_records() if p.parent.span_id == span.context.span_id]) == len(records)
    assert records[0].attributes[semconv.SPAN_TYPE] == semconv.SPAN_TYPE_PENDING
    assert records[0].attributes[semconv.GEN_AI_REQUEST_MODEL] == "mock-slow-800"


async def test_every_context_the_call_attached_is_detached_in_the_callers_context(cap, provider, caplog):
    from opentelemetry import context as otel_context

    before = otel_context.get_current()
    litellm.completion(**args(provider))
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(**args(provider, model="mock-429"))
    await litellm.acompletion(**args(provider))
    with pytest.raises(litellm.InternalServerError):
        await litellm.acompletion(**args(provider, model="mock-500"))
    assert otel_context.get_current() is before
    assert "Failed to detach context" not in caplog.text


def test_a_call_reported_twice_is_one_span_across_the_turnover_of_ended_call_ids():
    """LiteLLM may report a call's end from both its sync and async hooks; the ids of ended calls
    are kept in two generations, so a late second report is still recognised after a turnover."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from telemetron_instrumentation.litellm_callback import _MAX_OPEN_CALLS, TelemetronLiteLLMCallback

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    callback = TelemetronLiteLLMCallback(tracer_provider, MeterProvider())
    calls = [
        {"litellm_call_id": f"call-{i}", "call_type": "completion", "model": MODEL, "litellm_params": {}}
        for i in range(_MAX_OPEN_CALLS + 10)
    ]
    for kwargs in calls:
        callback.log_pre_api_call(MODEL, [], kwargs)
        callback.log_success_event(kwargs, None, None, None)
    for kwargs in calls:  # the second reports, the oldest from before the turnover
        callback.log_success_event(kwargs, None, None, None)
    assert len(exporter.get_finished_spans()) == len(calls)
    assert callback.open_calls == 0


def test_a_call_id_reused_after_its_end_gets_a_span_of_its_own():
    """A fallback may reuse the failed call's id: the second call is started and ended again."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from telemetron_instrumentation.litellm_callback import TelemetronLiteLLMCallback

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    callback = TelemetronLiteLLMCallback(tracer_provider, MeterProvider())
    kwargs = {"litellm_call_id": "reused", "call_type": "completion", "model": MODEL, "litellm_params": {}}
    callback.log_pre_api_call(MODEL, [], kwargs)
    callback.log_failure_event({**kwargs, "exception": RuntimeError("first try")}, None, None, None)
    callback.log_pre_api_call(MODEL, [], kwargs)
    callback.log_success_event(kwargs, None, None, None)
    callback.log_success_event(kwargs, None, None, None)  # reported twice: still two spans
    spans = exporter.get_finished_spans()
    assert [s.status.status_code for s in spans] == [StatusCode.ERROR, StatusCode.UNSET]
    assert callback.open_calls == 0


def test_every_value_the_callback_stores_is_what_the_sdks_set_attributes_would_store(cap, provider, monkeypatch):
    """The callback adds its end attributes in one update, bypassing the SDK's checks
    (_span_attributes); across chat, stream, embeddings, errors and captured content, each value
    must already be in the form the SDK stores, or a reader would see other types than the SDK gives."""
    from opentelemetry.sdk.trace import Span, TracerProvider

    through_sdk = []
    original = Span.set_attributes
    monkeypatch.setattr(Span, "set_attributes", lambda span, a: through_sdk.append(set(a)) or original(span, a))
    cap.callback.capture_content = True
    litellm.completion(**args(provider))
    for _ in litellm.completion(**args(provider, stream=True)):
        pass
    litellm.embedding(model="openai/mock-embed-small", api_base=provider.api_base, api_key=SECRET, input=["a"])
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(**args(provider, model="mock-429"))
    spans = cap.wait_for(lambda s: len(s) == 4)
    assert all(keys == {semconv.ERROR_TYPE} for keys in through_sdk)  # only record_error's (1.42's set_attribute)
    twin_tracer = TracerProvider().get_tracer("twin")
    for span in spans:
        twin = twin_tracer.start_span(span.name)
        twin.set_attributes(dict(span.attributes))  # what the SDK stores for these values
        ours = [(k, v, type(v)) for k, v in span.attributes.items()]
        assert ours == [(k, v, type(v)) for k, v in twin.attributes.items()], span.name
