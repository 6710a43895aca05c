"""One span as a context manager (``with``/``async with``) and a decorator (sync and async)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from contextvars import Token
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind

from . import __version__, semconv
from ._errors import record_error
from .conversation import current_conversation_id

F = TypeVar("F", bound=Callable[..., Any])


def _tracer() -> trace.Tracer:
    return trace.get_tracer("telemetron_instrumentation", __version__)


class SpanScope:
    """Starts the span on enter, makes it current, ends it on exit; an exception is recorded and re-raised.

    Used as a decorator it opens a fresh span for every call.
    """

    def __init__(
        self,
        name: str,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: dict[str, Any] | None = None,
        links: Sequence[Link] = (),
    ) -> None:
        self.name = name
        self.kind = kind
        self.attributes = {k: v for k, v in (attributes or {}).items() if v is not None}
        self.links = tuple(links)
        self.span: Span | None = None
        self._token: Token[Context] | None = None

    def _copy(self) -> SpanScope:
        return type(self)(self.name, self.kind, dict(self.attributes), self.links)

    def __enter__(self) -> Span:
        attributes = self.attributes
        conversation_id = current_conversation_id()
        if conversation_id and semconv.GEN_AI_CONVERSATION_ID not in attributes:
            attributes = {**attributes, semconv.GEN_AI_CONVERSATION_ID: conversation_id}
        self.span = _tracer().start_span(self.name, kind=self.kind, attributes=attributes, links=self.links)
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        span = self.span
        try:
            if exc is not None and span is not None and not isinstance(exc, GeneratorExit):
                record_error(span, exc)
        finally:
            if self._token is not None:
                otel_context.detach(self._token)
                self._token = None
            if span is not None:
                span.end()

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with self._copy():
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._copy():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
