"""Making the LLM span current while LiteLLM talks to the provider, so HTTP client spans nest under it.

LiteLLM's entry points (``litellm.completion``, ``acompletion``, …) are wrapped: the wrapper opens
a slot in the caller's context, the pre-call hook attaches the LLM span's context into that slot
(it runs in the caller's thread or task), and the wrapper detaches that token when the entry point
returns or raises, so every attach has its detach in the same context. Calls through a reference
taken before wrapping (``from litellm import acompletion`` before ``configure()``) still get their
LLM span, only not made current.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span

_GUARDED_FUNCTIONS = (
    "completion",
    "acompletion",
    "text_completion",
    "atext_completion",
    "embedding",
    "aembedding",
    "responses",
    "aresponses",
)


class _Slot:
    """One guarded call: where the pre-call hook leaves the token of the context it attached."""

    __slots__ = ("thread", "token")

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.token: object | None = None


LITELLM_CALL_SLOT: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar(
    "telemetron_litellm_slot", default=None
)


def activate(span: Span) -> None:
    """Make ``span`` current until the guarded entry point returns; a no-op outside one.

    A hook LiteLLM runs on another thread (an executor copy of the context) leaves the caller alone.
    """
    slot = LITELLM_CALL_SLOT.get()
    if slot is None or slot.token is not None or slot.thread != threading.get_ident():
        return
    slot.token = otel_context.attach(trace.set_span_in_context(span))


def _release(slot: _Slot, slot_token: contextvars.Token) -> None:
    if slot.token is not None:
        otel_context.detach(slot.token)  # type: ignore[arg-type]
    LITELLM_CALL_SLOT.reset(slot_token)


def _guard(fn: Any) -> Any:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_guarded(*args: Any, **kwargs: Any) -> Any:
            slot = _Slot()
            slot_token = LITELLM_CALL_SLOT.set(slot)
            try:
                return await fn(*args, **kwargs)
            finally:
                _release(slot, slot_token)

        async_guarded.__telemetron_wrapped__ = fn  # type: ignore[attr-defined]
        return async_guarded

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        slot = _Slot()
        slot_token = LITELLM_CALL_SLOT.set(slot)
        try:
            return fn(*args, **kwargs)
        finally:
            _release(slot, slot_token)

    guarded.__telemetron_wrapped__ = fn  # type: ignore[attr-defined]
    return guarded


def install_context_guards() -> None:
    """Wrap LiteLLM's entry points (once)."""
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
