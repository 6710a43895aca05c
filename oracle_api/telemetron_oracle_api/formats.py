"""How stored values are written for people and clients: timestamps, OTLP's enum names, Go's JSON.

At the bottom of the package, beside the data model, because the store's readers, the Oracle and
every API write these the same way.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

import orjson

# Compact JSON text as every stage writes it (what SQLite's JSON functions also produce).
compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES = ("UNSET", "OK", "ERROR")


@lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    """Whole seconds as RFC 3339 UTC text; kept, as a trace's spans share few seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def iso(ns: int | None) -> str | None:
    """Unix nanoseconds as an RFC 3339 UTC timestamp with microseconds (truncated; none when zero)."""
    if ns is None:
        return None
    seconds, nanos = divmod(ns, 1_000_000_000)
    text = _second(seconds)
    micros = nanos // 1000
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


def span_kind_name(kind: int) -> str:
    return SPAN_KINDS[kind] if 0 <= kind < len(SPAN_KINDS) else str(kind)


# --- arrays and maps as the Collector's pcommon writes them (Jaeger tags; searches by tag) ------

_q = json.encoder.encode_basestring  # C-accelerated, keeps non-ASCII as is


def _go_float(x: float) -> str:
    """A float as Go's encoding/json writes it (shortest digits, exponent only outside [1e-6, 1e21))."""
    if x != x or x in (float("inf"), float("-inf")):
        return json.dumps(repr(x))
    a = abs(x)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        text = repr(x)
        mantissa, _, exponent = text.partition("e")
        sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
        if sign == "-" and len(digits) == 1:
            return f"{mantissa}e-{digits}"
        return f"{mantissa}e{sign}{digits.rjust(2, '0') if sign == '+' else digits}"
    text = format(Decimal(repr(x)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def is_tagged(value: dict, tag: str) -> bool:
    return len(value) == 1 and tag in value


def go_json(value: object) -> str:
    """A stored array or map as pcommon's ``Value.AsString`` renders it: compact JSON, keys sorted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _q(value)
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, dict):
        if is_tagged(value, "$bytes"):
            return _q(value["$bytes"])
        if is_tagged(value, "$double"):
            return _q(value["$double"])
        return "{" + ",".join(f"{_q(k)}:{go_json(value[k])}" for k in sorted(value)) + "}"
    return _q(str(value))


def go_json_text(text: str | None) -> str | None:
    """A stored array or map, given as JSON text, as the text of its Jaeger tag (``go_json``); for searches by tag."""
    return None if text is None else go_json(orjson.loads(text))
