"""Every time, duration, count and limit a route reads from its query string, parsed here with its range.

The store keeps times and durations as int64 nanoseconds (SQLite INTEGER), so a value that does not
map into that range must be refused before it reaches a bind: it answers 400 naming the parameter,
the value and what is accepted (``errors.py`` shapes the answer for the REST, Jaeger v1 and api_v3
routes), never an ``OverflowError`` and a 500.

Accepted forms:
- times: RFC 3339 (``2026-02-06T10:00:00Z``, ``2026-02-06T12:00:00.5+02:00``, up to 9 fraction
  digits); the REST and Oracle routes also read ISO 8601's shorter forms (no offset: UTC;
  ``2026-02-06T10:00``; ``2026-02-06``, its midnight UTC). Jaeger v1 takes
  integer Unix microseconds (``/api/traces``) or milliseconds (``/api/dependencies``), as the Jaeger
  UI sends them. Every time lies from 1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z.
  A bare number such as ``0.5`` is never read as an RFC 3339 time.
- durations: Go's form (``1.5s``, ``100ms``, ``1h30m``) for Jaeger, a number and one unit (``15m``)
  for windows and "ago" values; never negative, at most 2^63-1 ns (about 292 years).
- counts and limits: decimal integers within the bounds each route states.
"""

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Query

INT64_MAX = 2**63 - 1
MAX_TIME_NS = INT64_MAX
MAX_DURATION_NS = INT64_MAX
MAX_DURATION_MS = MAX_DURATION_NS // 10**6  # the largest whole number of ms that fits in int64 ns
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TIME_RANGE = "1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z"


class BadParameter(ValueError):
    """A query parameter that cannot be used: which one, the value given, and what is accepted."""

    def __init__(self, param: str, value: object, expected: str) -> None:
        self.param, self.value, self.expected = param, value, expected
        shown = value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "..."
        super().__init__(f"{shown!r}: {expected}")


# --- times ----------------------------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}:\d{2})?)?$", re.ASCII
)


def _check_time(ns: int, param: str, value: object, form: str) -> int:
    if not 0 <= ns <= MAX_TIME_NS:
        raise BadParameter(param, value, f"out of range: expected {form} from {TIME_RANGE}")
    return ns


def rfc3339_ns(text: str, param: str, *, strict: bool = True) -> int:
    """An RFC 3339 time in Unix nanoseconds.

    Not ``strict`` (the REST and Oracle routes), ISO 8601's shorter forms are read too: no offset
    means UTC, no seconds means :00, a date alone means its midnight UTC.
    """
    form = "an RFC 3339 time such as 2026-02-06T10:00:00Z"
    m = _DATE_TIME.match(text.strip())
    if not m or (strict and (m.group(6) is None or m.group(8) is None)):
        raise BadParameter(param, text, f"expected {form}")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        tz = UTC
        if zone and zone not in ("Z", "z"):
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            tz = timezone(-offset if zone[0] == "-" else offset)
        clock = (int(hour or 0), int(minute or 0), int(second or 0))
        moment = datetime(int(year), int(month), int(day), *clock, tzinfo=tz)
    except ValueError as exc:
        raise BadParameter(param, text, f"expected {form}: {exc}") from exc
    delta = moment - _EPOCH
    ns = (delta.days * 86400 + delta.seconds) * 10**9 + int((fraction or "0").ljust(9, "0"))
    return _check_time(ns, param, text, form)


def unix_ns(text: str, param: str, unit: str) -> int:
    """An integer Unix time in ``unit`` ("microseconds" or "milliseconds"), as Jaeger's v1 API takes it, in ns."""
    scale = {"microseconds": 1_000, "milliseconds": 1_000_000}[unit]
    form = f"an integer number of Unix {unit}"
    if not re.fullmatch(r"[0-9]{1,25}", text.strip()):
        raise BadParameter(param, text, f"expected {form} (no sign, no fraction)")
    return _check_time(int(text) * scale, param, text, f"{form} (0 to {MAX_TIME_NS // scale})")


# --- durations ------------------------------------------------------------------------------------

_GO_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
    "w": 7 * 86400 * 10**9,
}


def _check_duration(ns: int, param: str, value: object, form: str) -> int:
    if not 0 <= ns <= MAX_DURATION_NS:
        raise BadParameter(
            param, value, f"out of range: expected {form} from 0 to 2562047h47m16.854775807s (2^63-1 ns)"
        )
    return ns


def go_duration_ns(text: str, param: str) -> int:
    """A Go duration ("1.2s", "100ms", "1h30m", "0") in nanoseconds, as Jaeger reads ``minDuration``."""
    form = "a duration such as 1.5s, 100ms or 1h30m (units ns, us, ms, s, m, h)"
    s = text.strip().lstrip("+")
    if s == "0":
        return 0
    pos, total = 0, Decimal(0)
    while pos < len(s):
        m = _GO_PART.match(s, pos)
        if not m:
            break
        total += Decimal(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if not s or pos < len(s):
        raise BadParameter(param, text, f"expected {form}")
    return _check_duration(int(total), param, text, form)


_AMOUNT = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)$")


def amount_ns(text: str, param: str, units: str = "ms, s, m, h, d") -> int:
    """A number and one unit ("30s", "15m", "1.5h", "7d") in nanoseconds: a window or a time ago."""
    form = f"a number and a unit ({units}) such as 30s, 15m or 7d"
    m = _AMOUNT.match(text.strip())
    if not m or m.group(2) not in units.split(", "):
        raise BadParameter(param, text, f"expected {form}")
    return _check_duration(int(Decimal(m.group(1)) * _UNIT_NS[m.group(2)]), param, text, form)


def duration_ms_ns(value: float, param: str) -> int:
    """Milliseconds (already a finite number in range, see ``DurationMs``) in nanoseconds."""
    return _check_duration(int(Decimal(repr(value)) * 10**6), param, value, "milliseconds")


# --- counts ---------------------------------------------------------------------------------------


def count(text: str, param: str, lo: int, hi: int) -> int:
    """A decimal integer from ``lo`` to ``hi``."""
    stripped = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,25}", stripped) or not lo <= int(stripped) <= hi:
        raise BadParameter(param, text, f"expected an integer from {lo} to {hi}")
    return int(stripped)


# --- text -----------------------------------------------------------------------------------------


def unicode_pairs(pairs: dict[str, str], param: str) -> dict[str, str]:
    """Attribute filters as text SQLite can bind: a JSON escape can spell a lone surrogate, which has no UTF-8."""
    for text in (t for pair in pairs.items() for t in pair):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadParameter(
                param, text, f"expected Unicode text, not the lone surrogate {text[exc.start]!r}"
            ) from exc
    return pairs


# --- FastAPI declarations (the OpenAPI document shows the forms and ranges) -----------------------

# Forms for the OpenAPI document only: the parsers above check them, so a value outside one gets
# their message (parameter, value, accepted range) rather than a bare "should match pattern".
DATE_TIME = {"format": "date-time"}
DIGITS = {"pattern": "^[0-9]*$"}
GO_DURATION = {"pattern": "^(0|([0-9]+(\\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+)?$"}
AMOUNT = {"pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$"}


def limit_query(maximum: int, description: str = "how many to return") -> Any:
    """For ``Annotated[int, limit_query(...)]``: a limit from 1 to ``maximum``; a value outside answers 400 (see errors.py).

    The metadata goes inside a literal ``Annotated`` (rather than this returning the whole type) so type
    checkers see the parameter's type.
    """
    return Query(ge=1, le=maximum, description=f"{description} (1 to {maximum})")


DurationMs = Annotated[
    float | None,
    Query(ge=0, le=MAX_DURATION_MS, allow_inf_nan=False, description=f"milliseconds, 0 to {MAX_DURATION_MS}"),
]

RowId = Annotated[int | None, Query(ge=0, le=INT64_MAX, description="a snapshot id (see /api/v1/oracle/snapshots)")]


def time_query(name: str, description: str) -> Any:
    """For ``Annotated[int | None, time_query(...)]``: an optional RFC 3339 query parameter ``name``, in Unix ns."""

    described = (
        f"{description}; RFC 3339, e.g. 2026-02-06T10:00:00Z (no offset: UTC; a date alone: its midnight), {TIME_RANGE}"
    )

    def parse(
        value: Annotated[str | None, Query(alias=name, description=described, json_schema_extra=DATE_TIME)] = None,
    ) -> int | None:
        return None if value is None else rfc3339_ns(value, name, strict=False)

    return Depends(parse)


def normalize_trace_id(trace_id: str) -> str | None:
    """A 16- or 32-hex trace id as the store keeps it (32 lowercase hex), or None if it is not one."""
    tid = trace_id.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{1,32}", tid):
        return None
    return tid.rjust(32, "0")
