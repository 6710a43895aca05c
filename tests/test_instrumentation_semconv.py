"""The GenAI semantic conventions as a consumer reads them: names, when attributes appear, metrics, counting."""

import importlib
import os
import pkgutil

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
import pytest
from mock_llm_provider import MockProviderProcess
from opentelemetry.semconv import _incubating
from opentelemetry.semconv import attributes as stable_attributes
from opentelemetry.semconv import metrics as stable_metrics
from polling import wait_until
from telemetron_instrumentation import execute_tool, handoff, invoke_agent, invoke_workflow, semconv
from telemetron_instrumentation.testing import capture_globally

MODEL = "mock-gpt-4o-mini"


@pytest.fixture(scope="module")
def provider():
    litellm.suppress_debug_info = True
    with MockProviderProcess() as p:
        yield p


@pytest.fixture
def cap(provider):
    capture = capture_globally()
    capture.clear()
    provider.control("/control/reset", {})
    yield capture
    capture.callback.capture_content = False


def args(provider, model=MODEL, **extra):
    return {
        "model": f"openai/{model}",
        "api_base": provider.api_base,
        "api_key": "sk-semconv-test",
        "messages": [{"role": "user", "content": "search_web for llamas"}],
        "max_retries": 0,
        **extra,
    }


def llm_spans(cap, count):
    spans = cap.wait_for(lambda s: sum(semconv.GEN_AI_PROVIDER_NAME in x.attributes for x in s) >= count)
    return [s for s in spans if s.kind.name == "CLIENT"]


def defined_names() -> set[str]:
    """Every attribute and metric name the installed opentelemetry-semantic-conventions defines."""
    names: set[str] = set()
    for package in (_incubating.attributes, _incubating.metrics, stable_attributes, stable_metrics):
        for module in pkgutil.iter_modules(package.__path__):
            found = importlib.import_module(f"{package.__name__}.{module.name}")
            names.update(v for k, v in vars(found).items() if k.isupper() and isinstance(v, str))
    return names


def test_every_gen_ai_name_we_emit_is_defined_by_the_installed_conventions_or_a_listed_proposal(cap, provider):
    cap.callback.capture_content = True
    tool = {
        "type": "function",
        "function": {"name": "search_web", "description": "Search", "parameters": {"type": "object", "properties": {}}},
    }
    with invoke_workflow("research"), invoke_agent("researcher", models=["openai/mock-gpt-4o-mini"], version="1"):
        litellm.completion(
            **args(
                provider, tools=[tool], max_tokens=32, temperature=0.1, seed=3, response_format={"type": "json_object"}
            )
        )
        stream = litellm.completion(**args(provider, stream=True, stream_options={"include_usage": True}))
        for _ in stream:
            pass
        litellm.embedding(
            model="openai/mock-embed-small",
            api_base=provider.api_base,
            api_key="sk-x",
            input=["alpha"],
            encoding_format="float",
        )
        with pytest.raises(litellm.RateLimitError):
            litellm.completion(**args(provider, model="mock-429"))
        with execute_tool("search_web", call_id="call_1", description="Search"), handoff("researcher", "writer"):
            pass
    llm_spans(cap, 4)
    spans = cap.finished() + cap.pending_records()
    emitted = {k for s in spans for k in s.attributes if k.startswith("gen_ai.")}
    emitted |= {
        m.name
        for rm in cap.metric_reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert {semconv.GEN_AI_OUTPUT_TYPE, semconv.METRIC_TIME_TO_FIRST_CHUNK, semconv.GEN_AI_HANDOFF_SOURCE} <= emitted
    assert emitted - defined_names() <= semconv.PROPOSED_NAMES, sorted(emitted - defined_names())


def test_semconv_module_spells_no_gen_ai_name_the_conventions_do_not_define_except_the_proposals():
    ours = {v for k, v in vars(semconv).items() if k.isupper() and isinstance(v, str) and v.startswith("gen_ai.")}
    assert ours - defined_names() == set(semconv.PROPOSED_NAMES)


def test_a_genai_consumer_counts_each_call_once_despite_pending_records_and_heartbeats(cap, provider):
    with invoke_agent("researcher") as agent:
        agent_id = agent.get_span_context().span_id
        wait_until(lambda: any(p.parent.span_id == agent_id for p in cap.pending_records()))
        litellm.completion(**args(provider, model="mock-slow-800"))
    cap.wait_for(lambda s: {x.name for x in s} >= {"invoke_agent researcher", "chat mock-slow-800"})
    pending = cap.pending_records()
    assert len(pending) >= 4  # start records and heartbeats of both the agent and the LLM call
    # What a GenAI-aware backend does: every span with gen_ai.operation.name is one operation.
    exported = cap.finished() + pending
    operations = [
        s.attributes[semconv.GEN_AI_OPERATION_NAME] for s in exported if semconv.GEN_AI_OPERATION_NAME in s.attributes
    ]
    assert sorted(operations) == ["chat", "invoke_agent"]
    assert {p.attributes[semconv.PENDING_OPERATION_NAME] for p in pending} == {"chat", "invoke_agent"}


def test_stream_attribute_only_on_streamed_calls_and_output_type_for_json_responses(cap, provider):
    litellm.completion(**args(provider, response_format={"type": "json_object"}))
    for _ in litellm.completion(**args(provider, stream=True, stream_options={"include_usage": True})):
        pass
    plain, streamed = sorted(llm_spans(cap, 2), key=lambda s: s.start_time)
    assert semconv.GEN_AI_REQUEST_STREAM not in plain.attributes
    assert plain.attributes[semconv.GEN_AI_OUTPUT_TYPE] == "json"
    assert streamed.attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert semconv.GEN_AI_OUTPUT_TYPE not in streamed.attributes


def test_both_metrics_carry_the_response_model_and_streams_record_time_to_first_chunk(cap, provider):
    litellm.completion(**args(provider))
    for _ in litellm.completion(**args(provider, stream=True, stream_options={"include_usage": True})):
        pass
    llm_spans(cap, 2)
    for name in (semconv.METRIC_OPERATION_DURATION, semconv.METRIC_TOKEN_USAGE):
        points = [p for p in cap.metric_points(name) if p.attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL]
        assert points and all(p.attributes.get(semconv.GEN_AI_RESPONSE_MODEL) == MODEL for p in points)
    first_chunk = [
        p
        for p in cap.metric_points(semconv.METRIC_TIME_TO_FIRST_CHUNK)
        if p.attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL
    ]
    assert first_chunk and all(p.attributes[semconv.GEN_AI_RESPONSE_MODEL] == MODEL for p in first_chunk), [
        p.attributes for p in first_chunk
    ]
    streamed_before = sum(p.count for p in first_chunk)  # the metrics are cumulative over this module's calls
    litellm.completion(**args(provider))
    llm_spans(cap, 3)
    assert (
        sum(
            p.count
            for p in cap.metric_points(semconv.METRIC_TIME_TO_FIRST_CHUNK)
            if p.attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL
        )
        == streamed_before
    )
    assert {p.attributes[semconv.GEN_AI_OPERATION_NAME] for p in first_chunk} == {"chat"}


def test_stream_without_reported_usage_has_estimated_counts_never_a_zero(cap, provider):
    """Spans and token histograms of a stream whose provider sends no usage, and of one that does."""
    unreported_model, reported_model = "mock-stream-unreported", "mock-stream-reported"
    for _ in litellm.completion(**args(provider, model=unreported_model, stream=True)):
        pass
    for _ in litellm.completion(
        **args(provider, model=reported_model, stream=True, stream_options={"include_usage": True})
    ):
        pass
    unreported, reported = sorted(llm_spans(cap, 2), key=lambda s: s.start_time)
    assert unreported.attributes[semconv.LLM_USAGE_ESTIMATED] is True
    assert semconv.LLM_USAGE_ESTIMATED == "telemetron.llm.usage.estimated"  # the name oracle_api reads
    assert unreported.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert unreported.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert semconv.LLM_USAGE_ESTIMATED not in reported.attributes
    assert reported.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    for span, model in ((unreported, unreported_model), (reported, reported_model)):
        tokens = {
            p.attributes[semconv.GEN_AI_TOKEN_TYPE]: p
            for p in cap.metric_points(semconv.METRIC_TOKEN_USAGE)
            if p.attributes[semconv.GEN_AI_REQUEST_MODEL] == model
        }
        assert {kind: (p.count, p.sum) for kind, p in tokens.items()} == {
            "input": (1, span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS]),
            "output": (1, span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS]),
        }


def test_a_stream_whose_tokens_cannot_be_counted_records_no_usage_rather_than_zero():
    from litellm.types.utils import ModelResponse
    from telemetron_instrumentation._usage_estimate import estimate_stream_usage

    attributes = {semconv.GEN_AI_USAGE_INPUT_TOKENS: 0, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 0}
    nothing = ModelResponse(choices=[{"message": {"role": "assistant", "content": None}}])
    assert estimate_stream_usage({"model": MODEL}, nothing, attributes) == (None, None)
    assert attributes == {}  # no 0 passed off as a count, and nothing marked estimated


@pytest.mark.parametrize(
    ("kwargs", "requested"),
    [
        ({"stream_options": {"include_usage": True}}, True),
        ({"optional_params": {"stream_options": {"include_usage": True}}}, True),
        ({"stream_options": {"include_usage": False}, "litellm_params": {"custom_llm_provider": "openai"}}, False),
        # LiteLLM asks OpenAI's own API for a stream's usage when the caller says nothing.
        ({"litellm_params": {"custom_llm_provider": "openai"}}, True),
        ({"litellm_params": {"custom_llm_provider": "openai", "api_base": "https://api.openai.com/v1"}}, True),
        ({"litellm_params": {"custom_llm_provider": "openai", "api_base": "http://127.0.0.1:8089/v1"}}, False),
        ({"litellm_params": {"custom_llm_provider": "anthropic"}}, False),
    ],
)
def test_usage_counts_as_the_providers_when_the_provider_was_asked_for_it(kwargs, requested):
    from telemetron_instrumentation.litellm_callback import _usage_requested

    assert _usage_requested(kwargs) is requested
