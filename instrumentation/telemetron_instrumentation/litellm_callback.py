"""A LiteLLM callback that turns every LLM call into one GenAI client span plus the GenAI metrics.

The span is started in ``log_pre_api_call``, in the caller's thread, so it is parented to whatever
span is current at call time and starts at LiteLLM's call start; it is ended by the success or
failure hook (sync or async, whichever LiteLLM fires first) at LiteLLM's end time. The callback
only ever touches spans it created itself.

Besides the GenAI conventions it records LiteLLM's cost (``telemetron.llm.cost.usd``) and the
provider's rate-limit state (``_ratelimit``). Message content is recorded only when opted in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from litellm.integrations.custom_logger import CustomLogger
from opentelemetry import trace
from opentelemetry.context import get_current
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, TracerProvider

from . import __version__, _content, semconv
from ._context_guards import LITELLM_CALL_SLOT, activate
from ._errors import record_error
from ._litellm_data import (
    CONVERSATION_METADATA_KEYS,
    conversation_from_metadata,
    drain_logging_queue,
    get,
    response_attributes,
    to_ns,
)
from ._providers import DEFAULT_SERVERS, OPERATION_BY_CALL_TYPE, PROVIDER_NAMES, REQUEST_PARAM_KEYS, REQUEST_PARAMS
from ._ratelimit import parse_reset_seconds, rate_limit_attributes
from ._span_attributes import set_built_attributes
from ._usage_estimate import estimate_stream_usage
from .conversation import CONVERSATION_KEY
from .metrics import BoundMetrics, GenAIMetrics

__all__ = ["PROVIDER_NAMES", "TelemetronLiteLLMCallback", "parse_reset_seconds"]

_log = logging.getLogger(__name__)
_EMPTY: Mapping = {}
# Distinct (call type, provider, model, api_base) combinations whose shared attributes are kept.
_MAX_SHAPES = 256
# Calls whose end LiteLLM never reports (e.g. an abandoned stream) are dropped past this many.
_MAX_OPEN_CALLS = 4096
# Response formats that make the output JSON (gen_ai.output.type = "json").
_JSON_FORMATS = frozenset(("json_object", "json_schema"))
# optional_params keys that set a request attribute (_request_attributes)
_REQUEST_KEYS = REQUEST_PARAM_KEYS | {"stop", "encoding_format", "response_format"}
_OPENAI_HOST = "api.openai.com"


class _Shape(NamedTuple):
    """What every call with the same operation, provider, model and server has in common."""

    operation: str
    span_name: str
    span_attributes: dict[str, Any]
    metrics: BoundMetrics
    by_response_model: dict[str, BoundMetrics]  # the metrics' series with gen_ai.response.model too


# An open call: (span, start ns, shape, api key, streaming); a plain tuple, the cheapest record to build.
_Call = tuple[Span, int, _Shape, "str | None", bool]


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
        # Recently ended call ids in two generations: the newer fills up to _MAX_OPEN_CALLS, then
        # replaces the older (no eviction per call).
        self._finished: dict[str, None] = {}
        self._finished_before: dict[str, None] = {}
        self._lock = threading.Lock()
        self._servers: dict[str, tuple[str | None, int | None]] = {}
        self._shapes: dict[tuple, _Shape | None] = {}

    # --- LiteLLM hooks (parameter names must match LiteLLM's: it calls them by keyword) -----------

    def log_pre_api_call(self, model, messages, kwargs):
        try:
            call = self._start(model, messages, kwargs)
            if call is not None and LITELLM_CALL_SLOT.get() is not None:
                activate(call[0])  # current while LiteLLM talks to the provider: HTTP spans nest under it
        except Exception:  # telemetry must never break the call
            _log.debug("telemetron: could not start LLM span", exc_info=True)

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
                drain_logging_queue(max(0.1, deadline - time.monotonic()))
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
        try:
            shape = self._shapes[key]
        except KeyError:
            shape = self._shape(*key)
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            self._shapes[key] = shape
        if shape is None:
            return None
        operation = shape.operation
        attributes = shape.span_attributes.copy()

        optional = kwargs.get("optional_params") or _EMPTY
        if not _REQUEST_KEYS.isdisjoint(optional):  # most calls set none of them: one check
            _request_attributes(operation, optional, attributes)
        streaming = operation != semconv.OP_EMBEDDINGS and bool(kwargs.get("stream") or optional.get("stream"))
        if streaming:  # the conventions: set if and only if the call streams
            attributes[semconv.GEN_AI_REQUEST_STREAM] = True

        context = get_current()  # read once: passed on, so neither the SDK nor our processor reads it again
        conversation_id = context.get(CONVERSATION_KEY)
        if not conversation_id:
            metadata = litellm_params.get("metadata")
            if metadata and (type(metadata) is not dict or not CONVERSATION_METADATA_KEYS.isdisjoint(metadata)):
                conversation_id = conversation_from_metadata(metadata)
            conversation_id = conversation_id or litellm_params.get("litellm_session_id")
        if conversation_id:
            attributes[semconv.GEN_AI_CONVERSATION_ID] = str(conversation_id)

        if self.capture_content:
            self._content_attributes(operation, messages, kwargs, optional, attributes)

        start = start_time or kwargs.get("start_time")
        start_ns = int(start.timestamp() * 1e9) if type(start) is datetime else to_ns(start)
        span = self._tracer.start_span(
            shape.span_name, context, SpanKind.CLIENT, attributes=attributes, start_time=start_ns
        )
        call = (span, start_ns or time.time_ns(), shape, kwargs.get("api_key"), streaming)
        self._calls[call_id] = call  # one store, atomic on a dict
        if len(self._calls) > _MAX_OPEN_CALLS:
            self._drop_oldest_call()
        return call

    def _drop_oldest_call(self) -> None:
        """End the oldest open call's span as abandoned (LiteLLM never reported its end)."""
        with self._lock:
            try:
                stale = self._calls.pop(next(iter(self._calls)))
            except (StopIteration, RuntimeError, KeyError):  # another thread changed the dict meanwhile
                return
        stale[0].set_attribute(semconv.ERROR_TYPE, "abandoned")
        stale[0].end()

    def _shape(self, call_type: str, raw_provider: str, request_model: str, api_base: str) -> _Shape | None:
        operation = OPERATION_BY_CALL_TYPE.get(call_type)
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
        return _Shape(operation, f"{operation} {request_model}", attributes, self._metrics.bind(attributes), {})

    def _content_attributes(
        self, operation: str, messages: Any, kwargs: dict, optional: Mapping[str, Any], attributes: dict
    ) -> None:
        if operation == semconv.OP_EMBEDDINGS:
            attributes[semconv.GEN_AI_INPUT_MESSAGES] = _content.dumps(_content.embedding_inputs(kwargs.get("input")))
            return
        if operation == semconv.OP_TEXT_COMPLETION:
            prompt = kwargs.get("prompt") or kwargs.get("input") or messages
            source: Any = [{"role": "user", "content": prompt if isinstance(prompt, str) else str(prompt)}]
        else:
            source = messages if messages is not None else kwargs.get("messages")
        attributes[semconv.GEN_AI_INPUT_MESSAGES] = _content.dumps(_content.input_messages(source))
        system = optional.get("system") or optional.get("instructions")
        if system:
            attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = _content.dumps(_content.system_instructions(system))
        if optional.get("tools"):
            attributes[semconv.GEN_AI_TOOL_DEFINITIONS] = _content.dumps(_content.tool_definitions(optional["tools"]))

    def _finish_safely(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any, error: Any = None
    ) -> None:
        try:  # one frame per call: the whole finish is in here
            call_id = kwargs.get("litellm_call_id")
            if call_id is None:
                return
            with self._lock:
                call = self._calls.pop(call_id, None)
                if call is None and (call_id in self._finished or call_id in self._finished_before):
                    return  # LiteLLM may report an async call twice
                self._finished[call_id] = None
                if len(self._finished) >= _MAX_OPEN_CALLS:
                    self._finished_before, self._finished = self._finished, {}
            if call is None:
                # No pre-call hook for this call (e.g. a cache hit): start it now, at LiteLLM's start time.
                call = self._start(kwargs.get("model"), kwargs.get("messages"), kwargs, start_time)
                if call is None:
                    return
                with self._lock:
                    self._calls.pop(call_id, None)
            span, start_ns, shape, api_key, streaming = call
            attributes: dict[str, Any] = {}
            input_tokens = output_tokens = response_model = first_chunk_s = None
            if response_obj is not None and error is None:
                response_model, input_tokens, output_tokens, choices = response_attributes(response_obj, attributes)
                if shape.operation == semconv.OP_EMBEDDINGS:
                    attributes.pop(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, None)  # embeddings have no output tokens
                    output_tokens = None
                if self.capture_content and choices:
                    attributes[semconv.GEN_AI_OUTPUT_MESSAGES] = _content.dumps(_content.output_messages(response_obj))
                if streaming:
                    first = to_ns(kwargs.get("completion_start_time"))
                    if first and first >= start_ns:
                        first_chunk_s = attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (
                            first - start_ns
                        ) / 1e9
                    if not _usage_requested(kwargs):
                        # LiteLLM's own count stands in for the provider's, or there is none: estimate, and say so.
                        input_tokens, output_tokens = estimate_stream_usage(kwargs, response_obj, attributes)

            logging_object = kwargs.get("standard_logging_object") or _EMPTY
            cost = logging_object.get("response_cost")
            if cost is None:
                cost = kwargs.get("response_cost")
            if cost is not None and error is None and not logging_object.get("response_cost_failure_debug_info"):
                attributes[semconv.LLM_COST_USD] = float(cost)
            headers = (logging_object.get("hidden_params") or _EMPTY).get("additional_headers")
            if headers:
                rate_limit_attributes(headers, attributes)

            bound = (
                shape.metrics
                if response_model is None
                else shape.by_response_model.get(response_model) or self._bound_with_model(shape, response_model)
            )
            if error is not None:
                status = getattr(error, "status_code", None)
                if isinstance(status, int):
                    attributes[semconv.HTTP_RESPONSE_STATUS_CODE] = status
                record_error(span, error, (api_key or "", kwargs.get("api_key") or ""))
                bound = self._metrics.with_error(bound, type(error).__name__)
            set_built_attributes(span, attributes)
            end_ns = (
                int(end_time.timestamp() * 1e9) if type(end_time) is datetime else to_ns(end_time)
            ) or time.time_ns()
            span.end(end_time=end_ns)
            duration_s = (end_ns - start_ns) / 1e9
            self._metrics.record(
                bound, duration_s if duration_s > 0 else 0.0, input_tokens, output_tokens, first_chunk_s
            )
        except Exception:
            _log.debug("telemetron: could not finish LLM span", exc_info=True)

    # LiteLLM's sync success hook is the finish itself: one call less on every LLM call.
    log_success_event = _finish_safely

    def _bound_with_model(self, shape: _Shape, response_model: str) -> BoundMetrics:
        bound = shape.by_response_model.get(response_model)
        if bound is None:
            bound = self._metrics.bind({**shape.span_attributes, semconv.GEN_AI_RESPONSE_MODEL: response_model})
            if len(shape.by_response_model) < 16:
                shape.by_response_model[response_model] = bound
        return bound

    def _server(self, api_base: str, provider: str) -> tuple[str | None, int | None]:
        if not api_base:
            return DEFAULT_SERVERS.get(provider, (None, None))
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


def _request_attributes(operation: str, optional: Mapping[str, Any], attributes: dict) -> None:
    """The request parameters (``optional_params``) the conventions name."""
    if not REQUEST_PARAM_KEYS.isdisjoint(optional):
        for param, attribute, convert in REQUEST_PARAMS:
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
    response_format = optional.get("response_format")
    if response_format is not None and get(response_format, "type") in _JSON_FORMATS:
        attributes[semconv.GEN_AI_OUTPUT_TYPE] = semconv.OUTPUT_TYPE_JSON


def _usage_requested(kwargs: Mapping) -> bool:
    """Whether the provider was asked to report a stream's usage (``stream_options.include_usage``).

    The caller may ask; when it says nothing, LiteLLM itself asks OpenAI's own API (at both ends of
    the supported LiteLLM versions), so those counts are the provider's too.
    """
    options = kwargs.get("stream_options") or (kwargs.get("optional_params") or _EMPTY).get("stream_options")
    if options is not None:
        return bool(get(options, "include_usage"))
    litellm_params = kwargs.get("litellm_params") or _EMPTY
    if (litellm_params.get("custom_llm_provider") or kwargs.get("custom_llm_provider")) != "openai":
        return False
    api_base = litellm_params.get("api_base")
    if not api_base:
        return True
    try:
        host = urlsplit(str(api_base)).hostname or ""
    except ValueError:
        return False
    return host == _OPENAI_HOST or host.endswith("." + _OPENAI_HOST)
