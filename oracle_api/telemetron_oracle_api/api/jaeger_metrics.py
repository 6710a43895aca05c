"""Jaeger's metrics query API (the UI's Monitor tab), computed from the stored spans.

Jaeger reads these RED metrics from Prometheus, where the Collector's spanmetrics connector put
them; here they come from the spans themselves, with the same semantics: at each step ``t`` from
``endTs - lookback`` to ``endTs``, the spans that started in ``(t - ratePer, t]`` give the call
rate (calls per second), the error rate (errors / calls) and a latency quantile (milliseconds).
Responses are the ``MetricFamily`` JSON of Jaeger's api_v2 metrics proto; errors use Jaeger's
envelope. A path under ``/api/`` that no route serves answers that envelope too, not FastAPI's body.
"""

from __future__ import annotations

import json
import math
import time
from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._respond import json_response
from .deps import Services, get_services
from .errors import documented

router = APIRouter(tags=["jaeger"])
ServicesDep = Annotated[Services, Depends(get_services)]

# Jaeger's defaults (cmd/query/app/default_params.go), in milliseconds.
_DEFAULT_LOOKBACK_MS = 3600 * 1000
_DEFAULT_STEP_MS = 5 * 1000
_DEFAULT_RATE_PER_MS = 10 * 60 * 1000
_DEFAULT_KINDS = (2,)  # server spans
_KINDS = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_MAX_POINTS = 11_000  # Prometheus refuses range queries with more points per series
_MIN_STEP_MS = 1000  # what /api/metrics/minstep reports: finer steps only repeat the same spans


class _BadParam(ValueError):
    pass


def _error(status: int, message: str) -> Response:
    return json_response(
        {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": status, "msg": message}]}, status
    )


# --- parameters -----------------------------------------------------------------------------------


_MAX_MS = (2**63 - 1) // 1_000_000  # times are int64 nanoseconds in the store


def _int_param(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name, "")
    if text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise _BadParam(f"unable to parse param '{name}': strconv.ParseInt: parsing {text!r}: invalid syntax") from None
    if not 0 <= value <= _MAX_MS:
        raise _BadParam(f"unable to parse param '{name}': {text} is out of range: expected 0 to {_MAX_MS} milliseconds")
    return value


class _Query:
    """The parameters every metrics call shares (Jaeger's BaseQueryParameters), validated."""

    def __init__(self, request: Request) -> None:
        q = request.query_params
        self.services = q.getlist("service")
        if not self.services:
            raise _BadParam("unable to parse param 'service': please provide at least one service name")
        group = q.get("groupByOperation", "")
        if group.lower() not in ("", "1", "t", "true", "0", "f", "false"):
            raise _BadParam(
                f"unable to parse param 'groupByOperation': strconv.ParseBool: parsing {group!r}: invalid syntax"
            )
        self.group_by_operation = group.lower() in ("1", "t", "true")
        kinds = q.getlist("spanKind")
        unknown = [k for k in kinds if k not in _KINDS]
        if unknown:
            raise _BadParam(f"unable to parse param 'spanKind': unsupported span kind: '{unknown[0]}'")
        self.kinds = tuple(_KINDS[k] for k in kinds) or _DEFAULT_KINDS
        self.end_ms = _int_param(request, "endTs", time.time_ns() // 1_000_000)
        self.lookback_ms = _int_param(request, "lookback", _DEFAULT_LOOKBACK_MS)
        self.step_ms = _int_param(request, "step", _DEFAULT_STEP_MS)
        self.rate_per_ms = _int_param(request, "ratePer", _DEFAULT_RATE_PER_MS)
        for name, value in (("lookback", self.lookback_ms), ("step", self.step_ms), ("ratePer", self.rate_per_ms)):
            if value <= 0:
                raise _BadParam(f"unable to parse param '{name}': must be a positive number of milliseconds")
        if self.lookback_ms // self.step_ms + 1 > _MAX_POINTS:
            raise _BadParam(
                f"exceeded maximum resolution of {_MAX_POINTS:,} points per timeseries: "
                "try decreasing the query resolution (?step=XX)"
            )

    def steps_ms(self) -> list[int]:
        start = self.end_ms - self.lookback_ms
        return list(range(start, self.end_ms + 1, self.step_ms))


# --- computing ------------------------------------------------------------------------------------


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks."""
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _timestamp(ms: int) -> str:
    """A protobuf Timestamp as jsonpb writes it: RFC 3339 in UTC, milliseconds only when not zero."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}.{ms % 1000:03d}Z" if ms % 1000 else f"{moment}Z"


# A series' value at one step, from the starts (ns, sorted), durations and errors of its spans in the window.
Reducer = Callable[[list[int], list[int], list[int], "_Query"], float | None]


def _calls(starts: list[int], durations: list[int], errors: list[int], q: _Query) -> float | None:
    return len(starts) / (q.rate_per_ms / 1000)


def _errors(starts: list[int], durations: list[int], errors: list[int], q: _Query) -> float | None:
    return sum(errors) / len(starts) if starts else None


def _latency(quantile: float) -> Reducer:
    def reduce(starts: list[int], durations: list[int], errors: list[int], q: _Query) -> float | None:
        return _quantile(sorted(d / 1e6 for d in durations), quantile) if durations else None

    return reduce


def _family(services: Services, q: _Query, name: str, help_text: str, reduce: Reducer) -> dict:
    since_ns = max(0, q.end_ms - q.lookback_ms - q.rate_per_ms) * 1_000_000
    rows = services.store.red_spans(q.services, q.kinds, since_ns, q.end_ms * 1_000_000)
    series: dict[tuple[str, ...], tuple[list[int], list[int], list[int]]] = {}
    for service, operation, start, duration, status in rows:
        key: tuple[str, ...] = (service, operation) if q.group_by_operation else (service,)
        starts, durations, errors = series.setdefault(key, ([], [], []))
        starts.append(start)
        durations.append(duration)
        errors.append(1 if status == 2 else 0)
    metrics = []
    for key in sorted(series):
        starts, durations, errors = series[key]
        points = []
        for t in q.steps_ms():
            hi = bisect_right(starts, t * 1_000_000)
            lo = bisect_right(starts, (t - q.rate_per_ms) * 1_000_000)
            value = reduce(starts[lo:hi], durations[lo:hi], errors[lo:hi], q)
            if value is not None:
                points.append({"gaugeValue": {"doubleValue": value}, "timestamp": _timestamp(t)})
        labels = [{"name": "service_name", "value": key[0]}]
        if q.group_by_operation:
            labels.insert(0, {"name": "operation", "value": key[1]})  # Prometheus sorts labels by name
        metrics.append({"labels": labels, "metricPoints": points})
    grouping = "service & operation" if q.group_by_operation else "service"
    prefix = "service_operation_" if q.group_by_operation else "service_"
    return {"name": prefix + name, "type": "GAUGE", "help": f"{help_text}, grouped by {grouping}", "metrics": metrics}


def _answer(request: Request, services: Services, name: str, help_text: str, reduce: Reducer) -> Response:
    try:
        q = _Query(request)
    except _BadParam as exc:
        return _error(400, str(exc))
    return json_response(_family(services, q, name, help_text, reduce))


# --- routes ---------------------------------------------------------------------------------------


def _documented(*extra: tuple[str, dict]) -> dict:
    """``openapi_extra`` and ``responses`` for a route whose parameters ``_Query`` reads itself."""
    params = [
        ("service", {"type": "array", "items": {"type": "string"}}, True),
        ("spanKind", {"type": "array", "items": {"type": "string", "enum": list(_KINDS)}}, False),
        ("groupByOperation", {"type": "boolean"}, False),
        ("endTs", {"type": "integer", "minimum": 0, "maximum": _MAX_MS}, False),
        ("lookback", {"type": "integer", "minimum": 1, "maximum": _MAX_MS}, False),
        ("step", {"type": "integer", "minimum": 1, "maximum": _MAX_MS}, False),
        ("ratePer", {"type": "integer", "minimum": 1, "maximum": _MAX_MS}, False),
    ] + [(name, schema, True) for name, schema in extra]
    parameters = [{"name": n, "in": "query", "required": r, "schema": sch, "explode": True} for n, sch, r in params]
    return {"openapi_extra": {"parameters": parameters}, "responses": documented("v1", 400)}


@router.get("/api/metrics/latencies", **_documented(("quantile", {"type": "number", "minimum": 0, "maximum": 1})))
def latencies(request: Request, services: ServicesDep) -> Response:
    """A latency quantile (``quantile``, e.g. 0.95) in milliseconds, per service or per operation."""
    text = request.query_params.get("quantile", "")
    try:
        quantile = float(text)
    except ValueError:
        return _error(400, f"unable to parse param 'quantile': strconv.ParseFloat: parsing {text!r}: invalid syntax")
    if not 0 <= quantile <= 1:
        return _error(400, f"unable to parse param 'quantile': {text} is not between 0 and 1")
    return _answer(request, services, "latencies", f"{quantile:.2f}th quantile latency", _latency(quantile))


@router.get("/api/metrics/calls", **_documented())
def calls(request: Request, services: ServicesDep) -> Response:
    """Calls per second, per service or per operation."""
    return _answer(request, services, "call_rate", "calls/sec", _calls)


@router.get("/api/metrics/errors", **_documented())
def errors(request: Request, services: ServicesDep) -> Response:
    """The fraction of calls that ended in error, per service or per operation."""
    return _answer(
        request, services, "error_rate", "error rate, computed as a fraction of errors/sec over calls/sec", _errors
    )


@router.get("/api/metrics/minstep")
def minstep() -> Response:
    """The smallest step, in milliseconds, worth asking for."""
    return json_response({"data": _MIN_STEP_MS, "total": 0, "limit": 0, "offset": 0, "errors": None})


def _not_found_in_jaegers_envelope(default: ASGIApp) -> ASGIApp:
    """The router's answer when no route matches: Jaeger's envelope under ``/api/``, ``default`` elsewhere."""

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            await _error(404, f"404 page not found: {scope['path']}")(scope, receive, send)
        else:
            await default(scope, receive, send)

    return not_found


class _PrettyPrint:
    """Indents the JSON of any ``/api/`` response whose request asks ``prettyPrint``, as Jaeger does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"")
        if scope["type"] != "http" or not scope["path"].startswith("/api/") or b"prettyPrint=" not in query:
            await self.app(scope, receive, send)
            return
        value = parse_qs(query.decode("latin-1")).get("prettyPrint", [""])[0]
        if value in ("", "false"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = bytearray()

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            assert start is not None
            out = bytes(body)
            content_type = dict(start.get("headers", [])).get(b"content-type", b"")
            if content_type.startswith(b"application/json"):
                try:
                    out = json.dumps(json.loads(out), ensure_ascii=False, indent=4).encode("utf-8")
                except ValueError:
                    pass
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(out)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": out})

        await self.app(scope, receive, buffer)


def register(app: FastAPI) -> None:
    """Add the metrics routes, ``prettyPrint``, and Jaeger's envelope for paths under ``/api/`` that no
    route serves (as the router's fallback, so the order routes are added in does not matter)."""
    app.include_router(router)
    app.router.default = _not_found_in_jaegers_envelope(app.router.default)
    app.add_middleware(_PrettyPrint)
