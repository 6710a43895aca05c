"""Jaeger's query API, as Jaeger's UI and Grafana's Jaeger data source call it.

``/api/*`` is Jaeger's internal HTTP JSON API (envelope ``{data,total,limit,offset,errors}``,
times in microseconds, durations like "1.2s"); ``/api/v3/*`` is its api_v3 HTTP gateway (OTLP
JSON traces wrapped in ``{"result": ...}``, errors as ``{"error": {"httpCode", "message"}}``).
The trace search, services and operations endpoints follow Jaeger up to v2.19, where the UI
still called them; Jaeger has since moved the UI to api_v3, which is here too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from ..store.search import SpanSearch
from . import errors
from . import jaeger_model as jm
from ._respond import json_response
from .deps import Services, get_services
from .errors import BadRequest
from .params import (
    DATE_TIME,
    DIGITS,
    GO_DURATION,
    MAX_DURATION_MS,
    amount_ns,
    count,
    go_duration_ns,
    normalize_trace_id,
    rfc3339_ns,
    unicode_pairs,
    unix_ns,
)
from .schemas import (
    JaegerDependency,
    JaegerEnvelope,
    JaegerOperation,
    V3Operations,
    V3Services,
    V3Traces,
    V3TraceSummaries,
    ok,
)

router = APIRouter(tags=["jaeger"])

_DEFAULT_SEARCH_LIMIT = 100  # Jaeger's defaultQueryLimit and api_v3's defaultSearchDepth
_DEFAULT_LOOKBACK_NS = 2 * 24 * 3600 * 10**9  # Jaeger's defaultTraceQueryLookbackDuration
_DEFAULT_DEPENDENCY_LOOKBACK_MS = 24 * 3600 * 1000
_KINDS = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}


# --- parsing (times, durations and counts: params.py) --------------------------------------------

_LOOKBACK = re.compile(r"^[0-9]+[mhdw]$")
MAX_SEARCH_LIMIT = 10_000  # traces one search renders; 0 asks for the default


def parse_trace_id(text: str) -> str:
    """Hex (up to 32 digits, so 16-hex Jaeger ids work) or base64 of the 16 bytes, as Jaeger accepts."""
    normalized = normalize_trace_id(text)
    if normalized is not None:
        return normalized
    if len(text) <= 24:
        padded = text + "=" * (-len(text) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decode(padded)
            except (binascii.Error, ValueError):
                continue
            if len(raw) == 16:
                return raw.hex()
    raise BadRequest(f"malformed parameter trace_id: TraceID cannot be parsed: {text!r}")


def _logfmt(text: str) -> dict[str, str]:
    """``key=value key2="quoted value"`` pairs, as the Jaeger UI's search form takes tags."""
    out: dict[str, str] = {}
    for m in re.finditer(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)', text):
        value = m.group(2)
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise BadRequest(
                    f"malformed 'tags' parameter: the quoted value of {m.group(1)!r} is not a JSON string: {exc}"
                ) from exc
        out[m.group(1)] = value
    if not out and text.strip():
        raise BadRequest("malformed 'tags' parameter: expected a JSON object or logfmt key=value pairs")
    return out


def _tag_string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def parse_tags(tag_params: list[str], tags_params: list[str]) -> dict[str, str]:
    """Jaeger's ``tag=key:value`` (repeatable) and ``tags=<JSON object>``; logfmt also accepted for ``tags``."""
    out: dict[str, str] = {}
    for item in tag_params:
        key, sep, value = item.partition(":")
        if not sep:
            raise BadRequest(f"malformed 'tag' parameter, expecting key:value, received: {item}")
        out[key] = value
    for item in tags_params:
        try:
            parsed = json.loads(item)
        except json.JSONDecodeError:
            parsed = _logfmt(item)
        if not isinstance(parsed, dict):
            raise BadRequest("malformed 'tags' parameter, cannot unmarshal JSON: expected an object")
        out.update({str(k): _tag_string(v) for k, v in parsed.items()})
    return unicode_pairs(out, "tags")


# --- responses ------------------------------------------------------------------------------------


def envelope(data: object, total: int = 0, errors: list | None = None):
    return json_response({"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors})


def _now_ns() -> int:
    return time.time_ns()


def _ui_traces(services: Services, trace_ids: list[str], adjust: bool) -> list[tuple[str, str]]:
    """(trace id, UI-model JSON text) of each trace found, in the order asked."""
    return jm.ui_traces_json(services.store, trace_ids, adjust=adjust)


def traces_envelope(traces: list[tuple[str, str]], errors: list | None = None) -> Response:
    """Jaeger's envelope around traces that are already JSON text."""
    errors_text = json.dumps(errors, ensure_ascii=False, separators=(",", ":"))
    return Response(
        f'{{"data":[{",".join(text for _, text in traces)}],"total":0,"limit":0,"offset":0,"errors":{errors_text}}}',
        media_type="application/json",
    )


def _bool_param(value: str | None, name: str) -> bool:
    if value in (None, ""):
        return False
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise BadRequest(f"unable to parse param '{name}': strconv.ParseBool: parsing {value!r}: invalid syntax")


# --- /api (Jaeger's internal HTTP JSON API) -------------------------------------------------------

ServicesDep = Annotated[Services, Depends(get_services)]


@router.get("/api/services", responses=ok(JaegerEnvelope[list[str]]))
def jaeger_services(services: ServicesDep):
    """Services that sent spans."""
    names = services.store.services()
    return envelope(names, len(names))


@router.get("/api/services/{service}/operations", responses=ok(JaegerEnvelope[list[str]]))
def jaeger_service_operations(service: str, services: ServicesDep):
    """Operation (span) names of a service, every span kind (the UI's legacy call)."""
    names = sorted({name for name, _ in services.store.operations(service)})
    return envelope(names, len(names))


@router.get("/api/operations", responses={**ok(JaegerEnvelope[list[JaegerOperation]]), **errors.documented("v1", 400)})
def jaeger_operations(services: ServicesDep, service: str = "", spanKind: str = ""):  # noqa: N803 - Jaeger's names
    """Operations of a service with their span kind; ``spanKind`` filters."""
    if not service:
        raise BadRequest("parameter 'service' is required")
    kind = _KINDS.get(spanKind.lower()) if spanKind else None
    if spanKind and kind is None:
        return envelope([], 0)
    ops = services.store.operations(service, kind)
    data = [jm.operation_json(name, k) for name, k in ops]
    return envelope(data, len(data))


_MICROS = "Unix microseconds, as the Jaeger UI sends them"
_GO_DURATION = "a duration such as 1.5s, 100ms or 1h30m (units ns, us, ms, s, m, h)"


@router.get("/api/traces", responses={**ok(JaegerEnvelope[list[dict[str, Any]]]), **errors.documented("v1", 400)})
def jaeger_search(  # noqa: N803 - Jaeger's parameter names
    services: ServicesDep,
    service: str = "",
    operation: str = "",
    tag: Annotated[list[str] | None, Query(description="key:value, repeatable")] = None,
    tags: Annotated[
        list[str] | None, Query(description='a JSON object ({"key":"value"}) or logfmt key=value pairs')
    ] = None,
    start: Annotated[
        str, Query(description=f"the earliest span start, {_MICROS}; default end - lookback", json_schema_extra=DIGITS)
    ] = "",
    end: Annotated[
        str, Query(description=f"the latest span start, {_MICROS}; default now", json_schema_extra=DIGITS)
    ] = "",
    lookback: Annotated[str, Query(description="without start: how far back from end (1h, 2d, 1w); default 2d")] = "",
    limit: Annotated[
        str,
        Query(
            description=f"traces to return, 0 to {MAX_SEARCH_LIMIT}; 0 or none: {_DEFAULT_SEARCH_LIMIT}",
            json_schema_extra=DIGITS,
        ),
    ] = "",
    minDuration: Annotated[str, Query(description=_GO_DURATION, json_schema_extra=GO_DURATION)] = "",
    maxDuration: Annotated[str, Query(description=_GO_DURATION, json_schema_extra=GO_DURATION)] = "",
    traceID: Annotated[list[str] | None, Query(description="fetch these traces instead of searching")] = None,
    raw: Annotated[str, Query(description="true: no clock-skew adjustment")] = "",
):
    """Trace search (service, operation, tags, start/end in µs, min/maxDuration, limit) or ``traceID`` list."""
    adjust = not _bool_param(raw, "raw")
    trace_ids = [parse_trace_id(t) for t in traceID or []]
    if trace_ids:
        found = _ui_traces(services, trace_ids, adjust)
        got = {tid for tid, _ in found}
        missing = [{"msg": "trace not found", "traceID": jm.jaeger_trace_id(t)} for t in trace_ids if t not in got]
        return traces_envelope(found, missing or None)
    end_ns = unix_ns(end, "end", "microseconds") if end else _now_ns()
    if start:
        start_ns = unix_ns(start, "start", "microseconds")
    else:
        span = _DEFAULT_LOOKBACK_NS
        if _LOOKBACK.match(lookback):  # the UI's 1h, 2d, 1w; anything else ("custom") is ignored, as Jaeger does
            span = amount_ns(lookback, "lookback", units="m, h, d, w")
        start_ns = max(0, end_ns - span)  # a lookback past 1970 means from 1970
    max_d = go_duration_ns(maxDuration, "maxDuration") if maxDuration else 0
    min_d = go_duration_ns(minDuration, "minDuration") if minDuration else 0
    if min_d and max_d and max_d < min_d:
        raise BadRequest("'maxDuration' should be greater than 'minDuration'")
    wanted = count(limit, "limit", 0, MAX_SEARCH_LIMIT) if limit else 0
    search = SpanSearch(
        service=service or None,
        operation=operation or None,
        start_min_ns=start_ns,
        start_max_ns=end_ns,
        duration_min_ns=min_d or None,
        duration_max_ns=max_d or None,
        tags=parse_tags(tag or [], tags or []),
        limit=wanted or _DEFAULT_SEARCH_LIMIT,
    )
    ids = services.store.find_trace_ids(search)
    return traces_envelope(_ui_traces(services, ids, adjust))


@router.get(
    "/api/traces/{trace_id}",
    responses={**ok(JaegerEnvelope[list[dict[str, Any]]]), **errors.documented("v1", 400, 404)},
)
def jaeger_trace(trace_id: str, services: ServicesDep, raw: str = ""):
    """One trace in Jaeger's UI model; 404 when unknown."""
    tid = parse_trace_id(trace_id)
    traces = _ui_traces(services, [tid], not _bool_param(raw, "raw"))
    if not traces:
        return errors.error_response("v1", 404, "trace not found")
    return traces_envelope(traces)


@router.get(
    "/api/dependencies", responses={**ok(JaegerEnvelope[list[JaegerDependency]]), **errors.documented("v1", 400)}
)
def jaeger_dependencies(  # noqa: N803 - Jaeger's parameter names
    services: ServicesDep,
    endTs: Annotated[
        str, Query(description="the end of the window, Unix milliseconds; default now", json_schema_extra=DIGITS)
    ] = "",
    lookback: Annotated[
        str, Query(description="the window's length in milliseconds; default one day", json_schema_extra=DIGITS)
    ] = "",
    service: str = "",
):
    """Service-to-service calls (parent span in one service, child in another) in [endTs - lookback, endTs] ms."""
    end_ns = unix_ns(endTs, "endTs", "milliseconds") if endTs else _now_ns()
    lookback_ns = (
        count(lookback, "lookback", 0, MAX_DURATION_MS) * 10**6 if lookback else _DEFAULT_DEPENDENCY_LOOKBACK_MS * 10**6
    )
    links = services.store.dependencies(max(0, end_ns - lookback_ns), end_ns)
    data = [{"parent": p, "child": c, "callCount": n} for p, c, n in links if not service or service in (p, c)]
    return envelope(data, 0)


# --- /api/v3 (api_v3 HTTP gateway) ----------------------------------------------------------------


def _either(canonical: tuple[str, str], deprecated: tuple[str, str]) -> tuple[str, str]:
    """(value, name) of a parameter given by its canonical name or by its deprecated snake_case one."""
    return canonical if canonical[0] else deprecated


@router.get("/api/v3/services", responses=ok(V3Services))
def v3_services(services: ServicesDep):
    return json_response({"services": services.store.services()})


@router.get("/api/v3/operations", responses=ok(V3Operations))
def v3_operations(
    services: ServicesDep,
    service: str = "",
    spanKind: str = "",  # noqa: N803 - Jaeger's name
    span_kind: Annotated[str, Query(deprecated=True)] = "",
):
    kind_name = spanKind or span_kind
    kind = _KINDS.get(kind_name.lower()) if kind_name else None
    if kind_name and kind is None:
        return json_response({"operations": []})
    ops = services.store.operations(service or None, kind)
    return json_response({"operations": [jm.operation_json(name, k, v3=True) for name, k in ops]})


_RFC3339 = "RFC 3339 with an offset, e.g. 2026-02-06T10:00:00Z"


def _v3_search(  # noqa: PLR0913 - one argument per query parameter, canonical and deprecated spellings
    service_name: Annotated[str, Query(alias="query.serviceName")] = "",
    service_name_: Annotated[str, Query(alias="query.service_name", deprecated=True)] = "",
    operation_name: Annotated[str, Query(alias="query.operationName")] = "",
    operation_name_: Annotated[str, Query(alias="query.operation_name", deprecated=True)] = "",
    attributes: Annotated[
        str, Query(alias="query.attributes", description='JSON object, e.g. {"http.status_code":"500"}')
    ] = "",
    start_time_min: Annotated[
        str, Query(alias="query.startTimeMin", description=f"required; {_RFC3339}", json_schema_extra=DATE_TIME)
    ] = "",
    start_time_min_: Annotated[str, Query(alias="query.start_time_min", deprecated=True)] = "",
    start_time_max: Annotated[
        str, Query(alias="query.startTimeMax", description=f"required; {_RFC3339}", json_schema_extra=DATE_TIME)
    ] = "",
    start_time_max_: Annotated[str, Query(alias="query.start_time_max", deprecated=True)] = "",
    search_depth: Annotated[
        str,
        Query(
            alias="query.searchDepth",
            description=f"traces to return, 0 to {MAX_SEARCH_LIMIT}",
            json_schema_extra=DIGITS,
        ),
    ] = "",
    search_depth_: Annotated[str, Query(alias="query.search_depth", deprecated=True)] = "",
    num_traces: Annotated[str, Query(alias="query.num_traces", deprecated=True)] = "",
    duration_min: Annotated[
        str, Query(alias="query.durationMin", description=_GO_DURATION, json_schema_extra=GO_DURATION)
    ] = "",
    duration_min_: Annotated[str, Query(alias="query.duration_min", deprecated=True)] = "",
    duration_max: Annotated[
        str, Query(alias="query.durationMax", description=_GO_DURATION, json_schema_extra=GO_DURATION)
    ] = "",
    duration_max_: Annotated[str, Query(alias="query.duration_max", deprecated=True)] = "",
    raw_traces: Annotated[str, Query(alias="query.rawTraces", description="true: no clock-skew adjustment")] = "",
    raw_traces_: Annotated[str, Query(alias="query.raw_traces", deprecated=True)] = "",
) -> tuple[SpanSearch, bool]:
    """api_v3's search parameters, each under its canonical name or its deprecated snake_case one."""
    tags: dict[str, str] = {}
    if attributes:
        try:
            parsed = json.loads(attributes)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"malformed parameter query.attributes: {exc}") from exc
        if not isinstance(parsed, dict):
            raise BadRequest("malformed parameter query.attributes: expected a JSON object of strings")
        tags = unicode_pairs({str(k): _tag_string(v) for k, v in parsed.items()}, "query.attributes")
    tmin, tmin_name = _either((start_time_min, "query.startTimeMin"), (start_time_min_, "query.start_time_min"))
    tmax, tmax_name = _either((start_time_max, "query.startTimeMax"), (start_time_max_, "query.start_time_max"))
    if not tmin or not tmax:
        raise BadRequest("query.startTimeMin and query.startTimeMax are required")
    start_min, start_max = rfc3339_ns(tmin, tmin_name), rfc3339_ns(tmax, tmax_name)
    if not start_min < start_max:
        raise BadRequest("query.startTimeMin must be before query.startTimeMax")
    depth, depth_name = _either((search_depth, "query.searchDepth"), (search_depth_, "query.search_depth"))
    depth, depth_name = _either((depth, depth_name), (num_traces, "query.num_traces"))
    limit = count(depth, depth_name, 0, MAX_SEARCH_LIMIT) if depth else 0
    dmin, dmin_name = _either((duration_min, "query.durationMin"), (duration_min_, "query.duration_min"))
    dmax, dmax_name = _either((duration_max, "query.durationMax"), (duration_max_, "query.duration_max"))
    raw, raw_name = _either((raw_traces, "query.rawTraces"), (raw_traces_, "query.raw_traces"))
    search = SpanSearch(
        service=service_name or service_name_ or None,
        operation=operation_name or operation_name_ or None,
        start_min_ns=start_min,
        start_max_ns=start_max,
        duration_min_ns=go_duration_ns(dmin, dmin_name) if dmin else None,
        duration_max_ns=go_duration_ns(dmax, dmax_name) if dmax else None,
        tags=tags,
        limit=limit or _DEFAULT_SEARCH_LIMIT,
    )
    return search, _bool_param(raw, raw_name)


V3Search = Annotated[tuple[SpanSearch, bool], Depends(_v3_search)]


def _v3_result(services: Services, trace_ids: list[str], adjust: bool):
    resource_spans = jm.otlp_resource_spans_json(services.store, trace_ids, adjust=adjust)
    if not resource_spans:
        return errors.error_response("v3", 404, "No traces found")
    return Response(f'{{"result":{{"resourceSpans":[{",".join(resource_spans)}]}}}}', media_type="application/json")


@router.get("/api/v3/traces", responses={**ok(V3Traces), **errors.documented("v3", 400, 404)})
def v3_find_traces(query: V3Search, services: ServicesDep):
    """Traces matching the query, as one OTLP ``TracesData``; 404 "No traces found" when none match."""
    search, raw = query
    ids = services.store.find_trace_ids(search)
    return _v3_result(services, ids, not raw)


@router.get("/api/v3/traces/{trace_id}", responses={**ok(V3Traces), **errors.documented("v3", 400, 404)})
def v3_get_trace(  # noqa: N803 - Jaeger's parameter names
    trace_id: str,
    services: ServicesDep,
    startTime: Annotated[
        str,
        Query(
            description=f"validated, not applied: the trace is returned whole; {_RFC3339}", json_schema_extra=DATE_TIME
        ),
    ] = "",
    start_time: Annotated[str, Query(deprecated=True)] = "",
    endTime: Annotated[str, Query(description=f"validated, not applied; {_RFC3339}", json_schema_extra=DATE_TIME)] = "",
    end_time: Annotated[str, Query(deprecated=True)] = "",
    rawTraces: Annotated[str, Query(description="true: no clock-skew adjustment")] = "",
    raw_traces: Annotated[str, Query(deprecated=True)] = "",
):
    """One trace as OTLP ``TracesData`` wrapped in ``{"result": ...}``."""
    tid = parse_trace_id(trace_id)
    raw, raw_name = _either((rawTraces, "rawTraces"), (raw_traces, "raw_traces"))
    adjust = not _bool_param(raw, raw_name)
    for value, name in (
        _either((startTime, "startTime"), (start_time, "start_time")),
        _either((endTime, "endTime"), (end_time, "end_time")),
    ):
        if value:
            rfc3339_ns(value, name)  # validated as Jaeger does
    return _v3_result(services, [tid], adjust)


@router.get("/api/v3/trace-summaries", responses={**ok(V3TraceSummaries), **errors.documented("v3", 400)})
def v3_trace_summaries(query: V3Search, services: ServicesDep):
    """Lightweight summaries of matching traces (Jaeger's FindTraceSummaries)."""
    search, _ = query
    summaries = []
    store = services.store
    for row in store.trace_summaries(store.find_trace_ids(search)):
        tid = row["trace_id"]
        summary: dict = {"traceId": tid}
        if row["root_service"]:
            summary["rootServiceName"] = row["root_service"]
        if row["root_name"]:
            summary["rootOperationName"] = row["root_name"]
        summary["minStartTimeUnixNano"] = str(row["start_ns"])
        summary["maxEndTimeUnixNano"] = str(row["end_ns"])
        if row["span_count"]:
            summary["spanCount"] = row["span_count"]
        if row["error_count"]:
            summary["errorSpanCount"] = row["error_count"]
        orphans = store.orphan_span_count(tid)
        if orphans:
            summary["orphanSpanCount"] = orphans
        service_list = []
        for name, spans, error_spans in store.service_span_stats(tid):
            item: dict = {"name": name, "spanCount": spans}
            if error_spans:
                item["errorSpanCount"] = error_spans
            service_list.append(item)
        summary["services"] = service_list
        summaries.append(summary)
    return json_response({"summaries": summaries})
