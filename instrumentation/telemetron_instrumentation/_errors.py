"""Recording an exception on a span without leaking credentials into the exported telemetry."""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable

from opentelemetry.trace import Span, Status, StatusCode

from . import semconv

# API keys, bearer tokens and key-like query parameters, in whatever text an exception carries.
_SECRET_PATTERNS = re.compile(
    r"(?i)(sk-[a-z0-9_\-]{6,}"  # OpenAI-style keys
    r"|(?<=bearer )[a-z0-9._\-~+/=]{6,}"
    r"|(?<=api[_-]key[=: ])['\"]?[^\s'\"&,]{6,}"
    r"|(?<=api[_-]key=)[^\s&'\",]{6,}"
    r"|(?<=x-api-key: )[^\s'\",]{6,}"
    r"|AKIA[0-9A-Z]{16})"
)
REDACTED = "[REDACTED]"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace known secret values and key-shaped tokens in ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 6 and secret in text:
            text = text.replace(secret, REDACTED)
    return _SECRET_PATTERNS.sub(REDACTED, text)


def record_error(span: Span, exc: BaseException, secrets: Iterable[str] = ()) -> None:
    """ERROR status, ``error.type`` and an ``exception`` event, all scrubbed of credentials."""
    secrets = tuple(s for s in secrets if isinstance(s, str))
    error_type = type(exc).__name__
    message = scrub(str(exc), secrets)
    span.set_attribute(semconv.ERROR_TYPE, error_type)
    span.add_event(
        "exception",
        {
            "exception.type": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "exception.message": message,
            "exception.stacktrace": scrub("".join(traceback.format_exception(exc)), secrets),
        },
    )
    span.set_status(Status(StatusCode.ERROR, f"{error_type}: {message}"[:512]))
