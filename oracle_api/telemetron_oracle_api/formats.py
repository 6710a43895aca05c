"""How stored values are written for people and clients: timestamps and OTLP's enum names.

At the bottom of the package, beside the data model, because the store's readers, the Oracle and
every API write these the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES = ("UNSET", "OK", "ERROR")


def iso(ns: int | None) -> str | None:
    """Unix nanoseconds as an RFC 3339 UTC timestamp with microseconds (truncated; none when zero)."""
    if ns is None:
        return None
    seconds, nanos = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    micros = nanos // 1000
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


def span_kind_name(kind: int) -> str:
    return SPAN_KINDS[kind] if 0 <= kind < len(SPAN_KINDS) else str(kind)
