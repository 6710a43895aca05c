"""The conversation an agent is working on, carried in the OpenTelemetry context.

Spans started inside ``with conversation(id):`` get ``gen_ai.conversation.id``. The id lives in
the in-process context (not W3C baggage), so it is never sent to an LLM provider in a header.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from . import semconv

CONVERSATION_KEY = otel_context.create_key("telemetron.conversation_id")


@contextmanager
def conversation(conversation_id: str) -> Iterator[str]:
    """Mark every span started inside as part of ``conversation_id`` (sync and async code)."""
    token = otel_context.attach(otel_context.set_value(CONVERSATION_KEY, str(conversation_id)))
    try:
        yield str(conversation_id)
    finally:
        otel_context.detach(token)


def current_conversation_id(ctx: Context | None = None) -> str | None:
    return otel_context.get_value(CONVERSATION_KEY, ctx)  # type: ignore[return-value]


class ConversationSpanProcessor(SpanProcessor):
    """Sets ``gen_ai.conversation.id`` on spans started inside ``conversation()``, e.g. HTTP client spans."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # What otel_context.get_value does, one call shallower: this runs for every span.
        context = otel_context.get_current() if parent_context is None else parent_context
        conversation_id = context.get(CONVERSATION_KEY)
        if isinstance(conversation_id, str) and semconv.GEN_AI_CONVERSATION_ID not in (span.attributes or {}):
            span.set_attribute(semconv.GEN_AI_CONVERSATION_ID, conversation_id)

    def on_end(self, span: ReadableSpan) -> None:
        pass
