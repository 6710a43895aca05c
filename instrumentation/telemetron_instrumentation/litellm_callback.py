"""A LiteLLM callback that turns every LLM call into one GenAI client span plus the GenAI metrics.

The span is started in ``log_pre_api_call``, in the caller's thread, so it is parented to whatever
span is current at call time and starts at LiteLLM's call start; it is ended by the success or
failure hook (sync or async, whichever LiteLLM fires first) at LiteLLM's end time. The callback
only ever touches spans it created itself.

Besides the GenAI conventions it records LiteLLM's cost (``telemetron.llm.cost.usd``) and the
provider's rate-limit state (``telemetron.llm.ratelimit.*``; limits and remaining as ints, resets
as seconds until the window resets). Message content is recorded only when opted in.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as _dt
import functools
import inspect
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from litellm.integrations.custom_logger import CustomLogger
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, TracerProvider
from pydantic import BaseModel

from . import __version__, _content, semconv
from ._errors import record_error
from .conversation import current_conversation_id
from .metrics import BoundMetrics, GenAIMetrics

_log = logging.getLogger(__name__)

_OPERATION_BY_CALL_TYPE = {
    "completion": semconv.OP_CHAT,
    "acompletion": semconv.OP_CHAT,
    "responses": semconv.OP_CHAT,
    "aresponses": semconv.OP_CHAT,
    "anthropic_messages": semconv.OP_CHAT,
    "text_completion": semconv.OP_TEXT_COMPLETION,
    "atext_completion": semconv.OP_TEXT_COMPLETION,
    "embedding": semconv.OP_EMBEDDINGS,
    "aembedding": semconv.OP_EMBEDDINGS,
}

# LiteLLM's custom_llm_provider -> gen_ai.provider.name; anything else is kept as LiteLLM names it.
PROVIDER_NAMES = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "chatgpt": "openai",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "anthropic_text": "anthropic",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "mistral": "mistral_ai",
    "codestral": "mistral_ai",
    "text-completion-codestral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
    "watsonx_text": "ibm.watsonx.ai",
    "moonshot": "moonshot_ai",
    "ollama": "ollama",
    "ollama_chat": "ollama",
}

_DEFAULT_SERVERS = {
    "openai": ("api.openai.com", 443),
    "anthropic": ("api.anthropic.com", 443),
    "gcp.gemini": ("generativelanguage.googleapis.com", 443),
    "mistral_ai": ("api.mistral.ai", 443),
    "groq": ("api.groq.com", 443),
    "deepseek": ("api.deepseek.com", 443),
    "x_ai": ("api.x.ai", 443),
    "cohere": ("api.cohere.com", 443),
    "perplexity": ("api.perplexity.ai", 443),
}

# optional_params key -> (attribute, converter)
_REQUEST_PARAMS = (
    ("max_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS, int),
    ("max_completion_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS, int),
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE, float),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P, float),
    ("top_k", semconv.GEN_AI_REQUEST_TOP_K, float),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY, float),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY, float),
    ("seed", semconv.GEN_AI_REQUEST_SEED, int),
    ("n", semconv.GEN_AI_REQUEST_CHOICE_COUNT, int),
)

# (attribute, keys in LiteLLM's additional_headers: parsed OpenAI-style first, then raw headers)
_RATE_LIMIT_HEADERS = (
    (semconv.LLM_RATELIMIT_REQUESTS_LIMIT, True,
     ("x_ratelimit_limit_requests", "llm_provider-x-ratelimit-limit-requests",
      "llm_provider-anthropic-ratelimit-requests-limit")),
    (semconv.LLM_RATELIMIT_REQUESTS_REMAINING, True,
     ("x_ratelimit_remaining_requests", "llm_provider-x-ratelimit-remaining-requests",
      "llm_provider-anthropic-ratelimit-requests-remaining")),
    (semconv.LLM_RATELIMIT_REQUESTS_RESET, False,
     ("x_ratelimit_reset_requests", "llm_provider-x-ratelimit-reset-requests",
      "llm_provider-anthropic-ratelimit-requests-reset")),
    (semconv.LLM_RATELIMIT_TOKENS_LIMIT, True,
     ("x_ratelimit_limit_tokens", "llm_provider-x-ratelimit-limit-tokens",
      "llm_provider-anthropic-ratelimit-tokens-limit")),
    (semconv.LLM_RATELIMIT_TOKENS_REMAINING, True,
     ("x_ratelimit_remaining_tokens", "llm_provider-x-ratelimit-remaining-tokens",
      "llm_provider-anthropic-ratelimit-tokens-remaining")),
    (semconv.LLM_RATELIMIT_TOKENS_RESET, False,
     ("x_ratelimit_reset_tokens", "llm_provider-x-ratelimit-reset-tokens",
      "llm_provider-anthropic-ratelimit-tokens-reset")),
)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_REQUEST_PARAM_KEYS = frozenset(param for param, _, _ in _REQUEST_PARAMS)
_EMPTY: Mapping = {}
_UNKNOWN = object()
# Distinct (call type, provider, model, api_base) combinations whose shared attributes are kept.
_MAX_SHAPES = 256
# Calls whose end LiteLLM never reports (e.g. an abandoned stream) are dropped past this many.
_MAX_OPEN_CALLS = 4096


class _Shape(NamedTuple):
    """What every call with the same operation, provider, model and server has in common."""

    operation: str
    span_name: str
    span_attributes: dict[str, Any]
    metrics: BoundMetrics


class _Call:
    __slots__ = ("span", "start_ns", "shape", "api_key", "outer_context")

    def __init__(self, span: Span, start_ns: int, shape: _Shape, api_key: str | None) -> None:
        self.span = span
        self.start_ns = start_ns
        self.shape = shape
        self.api_key = api_key
        self.outer_context: otel_context.Context | None = None


class TelemetronLiteLLMCallback(CustomLogger):
    """Register with ``litellm.callbacks.append(TelemetronLiteLLMCallback())`` (``configure()`` does it)."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        capture_content: bool | None = None,
    ) -> None:
        super().__init__(turn_off_message_logging=False)
        self._tracer = trace.get_tracer("telemetron_instrumentation.litellm", __version__, tracer_provider)
        self._metrics = GenAIMetrics(meter_provider)
        self.capture_content = _content.capture_enabled_from_env() if capture_content is None else capture_content
        self._calls: dict[str, _Call] = {}
        # Recently ended call ids, oldest first (an OrderedDict drops its oldest in O(1); a dict's
        # first key is found by skipping every slot deleted before it).
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._servers: dict[str, tuple[str | None, int | None]] = {}
        self._shapes: dict[tuple, _Shape | None] = {}

    # --- LiteLLM hooks (parameter names must match LiteLLM's: it calls them by keyword) -----------

    def log_pre_api_call(self, model, messages, kwargs):
        try:
            call = self._start(model, messages, kwargs)
            if call is not None and _GUARDED.get():
                # Current while LiteLLM talks to the provider, so HTTP client spans nest under it.
                call.outer_context = otel_context.get_current()
                otel_context.attach(trace.set_span_in_context(call.span, call.outer_context))
        except Exception:  # telemetry must never break the call
            _log.debug("telemetron: could not start LLM span", exc_info=True)

    def log_post_api_call(self, kwargs, response_obj, start_time, end_time):
        call = self._calls.get(kwargs.get("litellm_call_id"))
        if call is not None:
            _deactivate(call)

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._finish_safely(kwargs, response_obj, start_time, end_time, None)

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._finish_safely(kwargs, response_obj, start_time, end_time, kwargs.get("exception"))

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._finish_safely(kwargs, response_obj, start_time, end_time, None)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._finish_safely(kwargs, response_obj, start_time, end_time, kwargs.get("exception"))

    # --- public helpers ---------------------------------------------------------------------------

    @property
    def open_calls(self) -> int:
        return len(self._calls)

    def wait_idle(self, timeout: float = 2.0) -> bool:
        """Wait until LiteLLM has reported the end of every started call.

        LiteLLM reports sync calls from a thread pool and async ones from a logging queue that runs
        on the event loop; a loop closed right after a call (``asyncio.run``) leaves that queue
        undrained, so it is drained here on a fresh loop when no loop is running in this thread.
        """
        deadline = time.monotonic() + timeout
        drain_at = time.monotonic() + min(0.2, timeout / 2)
        while self._calls and time.monotonic() < deadline:
            time.sleep(0.01)
            if drain_at and time.monotonic() >= drain_at:
                drain_at = 0.0
                _drain_litellm_logging_queue(max(0.1, deadline - time.monotonic()))
        return not self._calls

    # --- span lifecycle ---------------------------------------------------------------------------

    def _start(self, model: Any, messages: Any, kwargs: dict, start_time: Any = None) -> _Call | None:
        call_id = kwargs.get("litellm_call_id")
        if call_id is None or call_id in self._calls:  # retries call the pre-call hook again
            return None
        litellm_params = kwargs.get("litellm_params") or _EMPTY
        request_model = kwargs.get("model") or model or ""
        key = (
            kwargs.get("call_type") or "",
            litellm_params.get("custom_llm_provider") or kwargs.get("custom_llm_provider") or "",
            request_model if type(request_model) is str else str(request_model),
            litellm_params.get("api_base") or "",
        )
        shape = self._shapes.get(key, _UNKNOWN)
        if shape is _UNKNOWN:
            shape = self._shape(*key)
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            self._shapes[key] = shape
        if shape is None:
            return None
        operation = shape.operation
        attributes = shape.span_attributes.copy()

        optional = kwargs.get("optional_params") or _EMPTY
        if not _REQUEST_PARAM_KEYS.isdisjoint(optional):
            for param, attribute, convert in _REQUEST_PARAMS:
                value = optional.get(param)
                if value is not None:
                    try:
                        attributes[attribute] = convert(value)
                    except (TypeError, ValueError):
                        pass
        stop = optional.get("stop")
        if stop:
            attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop] if isinstance(stop, str) else [str(s) for s in stop]
        if operation == semconv.OP_EMBEDDINGS:
            if optional.get("encoding_format"):
                attributes[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] = [str(optional["encoding_format"])]
        else:
            attributes[semconv.GEN_AI_REQUEST_STREAM] = bool(kwargs.get("stream") or optional.get("stream"))

        conversation_id = current_conversation_id() or _conversation_from_litellm(litellm_params)
        if conversation_id:
            attributes[semconv.GEN_AI_CONVERSATION_ID] = str(conversation_id)

        if self.capture_content:
            self._content_attributes(operation, messages, kwargs, optional, attributes)

        start_ns = _to_ns(start_time or kwargs.get("start_time"))
        span = self._tracer.start_span(shape.span_name, kind=SpanKind.CLIENT, attributes=attributes, start_time=start_ns)
        call = _Call(span, start_ns or time.time_ns(), shape, kwargs.get("api_key"))
        with self._lock:
            self._calls[call_id] = call
            if len(self._calls) > _MAX_OPEN_CALLS:
                stale = self._calls.pop(next(iter(self._calls)))
                stale.span.set_attribute(semconv.ERROR_TYPE, "abandoned")
                stale.span.end()
        return call

    def _shape(self, call_type: str, raw_provider: str, request_model: str, api_base: str) -> _Shape | None:
        operation = _OPERATION_BY_CALL_TYPE.get(call_type)
        if operation is None:
            return None
        provider = PROVIDER_NAMES.get(raw_provider, raw_provider)
        attributes: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: operation,
            semconv.GEN_AI_PROVIDER_NAME: provider,
            semconv.GEN_AI_REQUEST_MODEL: request_model,
        }
        host, port = self._server(api_base, provider)
        if host:
            attributes[semconv.SERVER_ADDRESS] = host
        if port:
            attributes[semconv.SERVER_PORT] = port
        # gen_ai.response.model is only "recommended" on the metrics: left out, so a shape binds its series once.
        return _Shape(operation, f"{operation} {request_model}", attributes, self._metrics.bind(attributes))

    def _content_attributes(self, operation: str, messages: Any, kwargs: dict, optional: dict, attributes: dict) -> None:
        if operation == semconv.OP_EMBEDDINGS:
            attributes[semconv.GEN_AI_INPUT_MESSAGES] = _content.dumps(_content.embedding_inputs(kwargs.get("input")))
            return
        if operation == semconv.OP_TEXT_COMPLETION:
            prompt = kwargs.get("prompt") or kwargs.get("input") or messages
            source = [{"role": "user", "content": prompt if isinstance(prompt, str) else str(prompt)}]
        else:
            source = messages if messages is not None else kwargs.get("messages")
        attributes[semconv.GEN_AI_INPUT_MESSAGES] = _content.dumps(_content.input_messages(source))
        system = optional.get("system") or optional.get("instructions")
        if system:
            attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = _content.dumps(_content.system_instructions(system))
        if optional.get("tools"):
            attributes[semconv.GEN_AI_TOOL_DEFINITIONS] = _content.dumps(_content.tool_definitions(optional["tools"]))

    def _finish_safely(self, kwargs: dict, response: Any, start_time: Any, end_time: Any, error: Any) -> None:
        try:
            self._finish(kwargs, response, start_time, end_time, error)
        except Exception:
            _log.debug("telemetron: could not finish LLM span", exc_info=True)

    def _finish(self, kwargs: dict, response: Any, start_time: Any, end_time: Any, error: Any) -> None:
        call_id = kwargs.get("litellm_call_id")
        with self._lock:
            call = self._calls.pop(call_id, None)
            if call is None and call_id in self._finished:  # LiteLLM may report an async call twice
                return
            if call_id is not None:
                self._finished[call_id] = None
                if len(self._finished) > _MAX_OPEN_CALLS:
                    self._finished.popitem(last=False)
        if call is None:
            if call_id is None:
                return
            # No pre-call hook for this call (e.g. a cache hit): start it now, at LiteLLM's start time.
            call = self._start(kwargs.get("model"), kwargs.get("messages"), kwargs, start_time)
            if call is None:
                return
            with self._lock:
                self._calls.pop(call_id, None)
        _deactivate(call)
        span = call.span
        attributes: dict[str, Any] = {}
        input_tokens = output_tokens = None
        if response is not None and error is None:
            response_id = _get(response, "id")
            if response_id:
                attributes[semconv.GEN_AI_RESPONSE_ID] = str(response_id)
            response_model = _get(response, "model")
            if response_model:
                attributes[semconv.GEN_AI_RESPONSE_MODEL] = str(response_model)
            choices = _get(response, "choices")
            if choices:
                reasons = [str(reason) for reason in (_get(c, "finish_reason") for c in choices) if reason]
                if reasons:
                    attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
            input_tokens, output_tokens = _usage_attributes(_get(response, "usage"), attributes)
            if call.shape.operation == semconv.OP_EMBEDDINGS:
                attributes.pop(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, None)  # embeddings have no output tokens
                output_tokens = None
            if self.capture_content and choices:
                attributes[semconv.GEN_AI_OUTPUT_MESSAGES] = _content.dumps(_content.output_messages(response))
            if kwargs.get("stream"):
                first = _to_ns(kwargs.get("completion_start_time"))
                if first and first >= call.start_ns:
                    attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (first - call.start_ns) / 1e9

        logging_object = kwargs.get("standard_logging_object") or _EMPTY
        cost = logging_object.get("response_cost")
        if cost is None:
            cost = kwargs.get("response_cost")
        if cost is not None and error is None and not logging_object.get("response_cost_failure_debug_info"):
            attributes[semconv.LLM_COST_USD] = float(cost)
        headers = (logging_object.get("hidden_params") or _EMPTY).get("additional_headers")
        if headers:
            _rate_limit_attributes(headers, attributes)

        bound = call.shape.metrics
        if error is not None:
            status = getattr(error, "status_code", None)
            if isinstance(status, int):
                attributes[semconv.HTTP_RESPONSE_STATUS_CODE] = status
            record_error(span, error, (call.api_key or "", kwargs.get("api_key") or ""))
            bound = self._metrics.with_error(bound, type(error).__name__)
        span.set_attributes(attributes)
        end_ns = _to_ns(end_time) or time.time_ns()
        span.end(end_time=end_ns)
        self._metrics.record(bound, max(0, end_ns - call.start_ns) / 1e9, input_tokens, output_tokens)

    def _server(self, api_base: str, provider: str) -> tuple[str | None, int | None]:
        if not api_base:
            return _DEFAULT_SERVERS.get(provider, (None, None))
        cached = self._servers.get(api_base)
        if cached is None:
            try:
                parts = urlsplit(api_base)
                port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None)
                cached = (parts.hostname, port)
            except ValueError:
                cached = (None, None)
            if len(self._servers) < 256:
                self._servers[api_base] = cached
        return cached


# True inside a guarded LiteLLM entry point, which restores the caller's context when it returns.
_GUARDED: contextvars.ContextVar[bool] = contextvars.ContextVar("telemetron_litellm_guarded", default=False)
_GUARDED_FUNCTIONS = (
    "completion", "acompletion", "text_completion", "atext_completion",
    "embedding", "aembedding", "responses", "aresponses",
)


def install_context_guards() -> None:
    """Wrap LiteLLM's entry points so the LLM span can be current during the provider call.

    The pre-call hook makes the LLM span current (HTTP client spans then nest under it); LiteLLM
    has no hook that reliably runs in the caller's context after every async or failed call, so
    the wrapper restores the caller's context on return. Calls through an unwrapped reference
    (``from litellm import acompletion`` before ``configure()``) still get their LLM span, only
    not made current.
    """
    import litellm

    for name in _GUARDED_FUNCTIONS:
        fn = getattr(litellm, name, None)
        if fn is None or getattr(fn, "__telemetron_wrapped__", None) is not None:
            continue
        setattr(litellm, name, _guard(fn))


def uninstall_context_guards() -> None:
    import litellm

    for name in _GUARDED_FUNCTIONS:
        fn = getattr(litellm, name, None)
        original = getattr(fn, "__telemetron_wrapped__", None)
        if original is not None:
            setattr(litellm, name, original)


def _guard(fn: Any) -> Any:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_guarded(*args: Any, **kwargs: Any) -> Any:
            saved = otel_context.get_current()
            token = _GUARDED.set(True)
            try:
                return await fn(*args, **kwargs)
            finally:
                _GUARDED.reset(token)
                if otel_context.get_current() is not saved:
                    otel_context.attach(saved)

        async_guarded.__telemetron_wrapped__ = fn  # type: ignore[attr-defined]
        return async_guarded

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        saved = otel_context.get_current()
        token = _GUARDED.set(True)
        try:
            return fn(*args, **kwargs)
        finally:
            _GUARDED.reset(token)
            if otel_context.get_current() is not saved:
                otel_context.attach(saved)

    guarded.__telemetron_wrapped__ = fn  # type: ignore[attr-defined]
    return guarded


def _deactivate(call: _Call) -> None:
    """Make the caller's context current again, if this thread's context still has the LLM span current.

    Restoring the saved context (instead of detaching a token) is safe from any thread or task:
    LiteLLM runs its hooks on the caller's context, a copy of it, or a pool thread.
    """
    outer = call.outer_context
    if outer is not None and trace.get_current_span() is call.span:
        otel_context.attach(outer)


def _drain_litellm_logging_queue(timeout: float) -> None:
    try:
        asyncio.get_running_loop()
        return  # cannot block a running loop; its own worker drains the queue
    except RuntimeError:
        pass
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

        asyncio.run(asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), timeout))
    except Exception:
        _log.debug("telemetron: could not drain LiteLLM's logging queue", exc_info=True)


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise, None when absent; LiteLLM's pydantic objects fast."""
    if type(obj) is dict:
        return obj.get(key)
    fields = getattr(obj, "__dict__", None)
    if fields is not None:
        value = fields.get(key)
        if value is not None or key in fields:
            return value
        if _plain_pydantic_field(type(obj), key):
            # What pydantic's __getattr__ would find, without raising and catching AttributeError.
            extra = obj.__pydantic_extra__
            return extra.get(key) if extra else None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


_PLAIN_PYDANTIC_FIELDS: dict[tuple[type, str], bool] = {}


def _plain_pydantic_field(cls: type, key: str) -> bool:
    """True if ``cls`` is a pydantic model on which only pydantic's ``__getattr__`` (extras) could find ``key``."""
    plain = _PLAIN_PYDANTIC_FIELDS.get((cls, key))
    if plain is None:
        plain = (
            issubclass(cls, BaseModel)
            and getattr(cls, "__getattr__", None) is getattr(BaseModel, "__getattr__", None)
            and not hasattr(cls, key)  # no property or method of that name
        )
        if len(_PLAIN_PYDANTIC_FIELDS) < 1024:
            _PLAIN_PYDANTIC_FIELDS[(cls, key)] = plain
    return plain


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _usage_attributes(usage: Any, attributes: dict) -> tuple[int | None, int | None]:
    if usage is None:
        return None, None
    input_tokens = _int(_get(usage, "prompt_tokens"))
    if input_tokens is None:
        input_tokens = _int(_get(usage, "input_tokens"))
    output_tokens = _int(_get(usage, "completion_tokens"))
    if output_tokens is None:
        output_tokens = _int(_get(usage, "output_tokens"))
    if input_tokens is not None:
        attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    if output_tokens is not None:
        attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    prompt_details = _get(usage, "prompt_tokens_details")
    cached = _int(_get(prompt_details, "cached_tokens")) if prompt_details is not None else None
    if cached is None:
        cached = _int(_get(usage, "cache_read_input_tokens"))
    # Cache and reasoning counts only when there are some: every attribute costs on every call.
    if cached:
        attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cached
    created = _int(_get(usage, "cache_creation_input_tokens"))
    if created is None and prompt_details is not None:
        created = _int(_get(prompt_details, "cache_creation_tokens"))
    if created:
        attributes[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = created
    completion_details = _get(usage, "completion_tokens_details")
    if completion_details is not None:
        reasoning = _int(_get(completion_details, "reasoning_tokens"))
        if reasoning:
            attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
    return input_tokens, output_tokens


def _rate_limit_attributes(headers: Mapping, attributes: dict) -> None:
    for attribute, is_count, keys in _RATE_LIMIT_HEADERS:
        for key in keys:
            value = headers.get(key)
            if value is None or value == "":
                continue
            parsed = _int(value) if is_count else _reset_seconds_cached(value)
            if parsed is not None:
                attributes[attribute] = parsed
                break


_RESET_CACHE: dict[str, float | None] = {}


def _reset_seconds_cached(value: Any) -> float | None:
    # Providers send a handful of distinct strings ("4s", "59s"...): parse each once.
    if not isinstance(value, str) or value[-1:] == "Z" or "T" in value:
        return parse_reset_seconds(value)
    parsed = _RESET_CACHE.get(value)
    if parsed is None:
        parsed = parse_reset_seconds(value)
        if len(_RESET_CACHE) > 512:
            _RESET_CACHE.clear()
        _RESET_CACHE[value] = parsed
    return parsed


def parse_reset_seconds(value: Any) -> float | None:
    """Seconds until a rate-limit window resets: ``"6m0s"``, ``"20ms"``, ``"1.5"`` or an RFC 3339 time."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.replace(".", "", 1).isdigit():
        return float(text)
    parts = _DURATION_PART.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    try:
        when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0.0, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())


def _conversation_from_litellm(litellm_params: Mapping) -> str | None:
    metadata = litellm_params.get("metadata") or {}
    if isinstance(metadata, Mapping):
        for key in (semconv.GEN_AI_CONVERSATION_ID, "conversation_id", "session_id"):
            if metadata.get(key):
                return str(metadata[key])
    return litellm_params.get("litellm_session_id")


def _to_ns(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return int(value.timestamp() * 1e9)
    if isinstance(value, (int, float)):
        return int(value * 1e9) if value < 1e12 else int(value)
    return None
