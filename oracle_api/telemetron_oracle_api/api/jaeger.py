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
from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from ..store import queries
from . import jaeger_model as jm
from ._respond import json_response
from .deps import Services, get_services

router = APIRouter(tags=["jaeger"])

_DEFAULT_SEARCH_LIMIT = 100  # Jaeger's defaultQueryLimit and api_v3's defaultSearchDepth
_DEFAULT_LOOKBACK_NS = 2 * 24 * 3600 * 10**9  # Jaeger's defaultTraceQueryLookbackDuration
_DEFAULT_DEPENDENCY_LOOKBACK_MS = 24 * 3600 * 1000
_KINDS = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}


class BadRequest(ValueError):
    pass


# --- parsing --------------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def parse_duration_ns(text: str, param: str) -> int:
    """A Go duration string ("1.2s", "100ms", "1h30m", "0") in nanoseconds."""
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    if s == "0":
        return 0
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise BadRequest(f"unable to parse param '{param}': time: invalid duration {text!r}")
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if not s:
        raise BadRequest(f"unable to parse param '{param}': time: invalid duration {text!r}")
    return sign * int(total)


_LOOKBACK = re.compile(r"^(\d+)([mhdw])$")
_LOOKBACK_NS = {"m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}


def _parse_int(value: str, param: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise BadRequest(f"unable to parse param '{param}': strconv.ParseInt: parsing {value!r}: invalid syntax") from exc


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339_ns(text: str, param: str) -> int:
    m = _RFC3339.match(text.strip())
    if not m:
        raise BadRequest(f"malformed parameter {param}: parsing time {text!r} as RFC 3339")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    tz = timezone.utc
    if zone not in ("Z", "z"):
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(offset if zone[0] == "+" else -offset)
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz)
    nanos = int((fraction or "").ljust(9, "0")) if fraction else 0
    return int(moment.timestamp()) * 10**9 + nanos


def parse_trace_id(text: str) -> str:
    """Hex (up to 32 digits, so 16-hex Jaeger ids work) or base64 of the 16 bytes, as Jaeger accepts."""
    normalized = queries.normalize_trace_id(text)
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
            value = json.loads(value)
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
    return out


# --- responses ------------------------------------------------------------------------------------


def envelope(data: object, total: int = 0, errors: list | None = None):
    return json_response({"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors})


def v1_error(status: int, message: str):
    return json_response(
        {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": status, "msg": message}]}, status
    )


def v3_error(status: int, message: str):
    return json_response({"error": {"httpCode": status, "message": message}}, status)


def _now_ns() -> int:
    return time.time_ns()


def _ui_traces(services: Services, trace_ids: list[str], adjust: bool) -> list[tuple[str, str]]:
    """(trace id, UI-model JSON text) of each trace found, in the order asked."""
    with services.store.reader() as conn:
        return jm.ui_traces_json(conn, trace_ids, adjust=adjust, run=services.run_reads)


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


@router.get("/api/services")
def jaeger_services(services: ServicesDep):
    """Services that sent spans."""
    with services.store.reader() as conn:
        names = queries.services(conn)
    return envelope(names, len(names))


@router.get("/api/services/{service}/operations")
def jaeger_service_operations(service: str, services: ServicesDep):
    """Operation (span) names of a service, every span kind (the UI's legacy call)."""
    with services.store.reader() as conn:
        names = sorted({name for name, _ in queries.operations(conn, service)})
    return envelope(names, len(names))


@router.get("/api/operations")
def jaeger_operations(services: ServicesDep, service: str = "", spanKind: str = ""):  # noqa: N803 - Jaeger's names
    """Operations of a service with their span kind; ``spanKind`` filters."""
    if not service:
        return v1_error(400, "parameter 'service' is required")
    kind = _KINDS.get(spanKind.lower()) if spanKind else None
    if spanKind and kind is None:
        return envelope([], 0)
    with services.store.reader() as conn:
        ops = queries.operations(conn, service, kind)
    data = [jm.operation_json(name, k) for name, k in ops]
    return envelope(data, len(data))


@router.get("/api/traces")
def jaeger_search(request: Request, services: ServicesDep):
    """Trace search (service, operation, tags, start/end in µs, min/maxDuration, limit) or ``traceID`` list."""
    q = request.query_params
    try:
        adjust = not _bool_param(q.get("raw"), "raw")
        trace_ids = [parse_trace_id(t) for t in q.getlist("traceID")]
        if trace_ids:
            found = _ui_traces(services, trace_ids, adjust)
            got = {tid for tid, _ in found}
            errors = [
                {"msg": "trace not found", "traceID": jm.jaeger_trace_id(t)} for t in trace_ids if t not in got
            ]
            return traces_envelope(found, errors or None)
        search = _v1_search(q)
    except BadRequest as exc:
        return v1_error(400, str(exc))
    with services.store.reader() as conn:
        ids = queries.find_trace_ids(conn, search)
    return traces_envelope(_ui_traces(services, ids, adjust))


def _v1_search(q) -> queries.SpanSearch:
    now = _now_ns()
    end_ns = _parse_int(q["end"], "end") * 1000 if q.get("end") else now
    if q.get("start"):
        start_ns = _parse_int(q["start"], "start") * 1000
    else:
        lookback = _LOOKBACK.match(q.get("lookback", ""))
        span = int(lookback.group(1)) * _LOOKBACK_NS[lookback.group(2)] if lookback else _DEFAULT_LOOKBACK_NS
        start_ns = end_ns - span
    limit = _parse_int(q["limit"], "limit") if q.get("limit") else _DEFAULT_SEARCH_LIMIT
    min_d = parse_duration_ns(q["minDuration"], "minDuration") if q.get("minDuration") else 0
    max_d = parse_duration_ns(q["maxDuration"], "maxDuration") if q.get("maxDuration") else 0
    if min_d and max_d and max_d < min_d:
        raise BadRequest("'maxDuration' should be greater than 'minDuration'")
    return queries.SpanSearch(
        service=q.get("service") or None,
        operation=q.get("operation") or None,
        start_min_ns=start_ns,
        start_max_ns=end_ns,
        duration_min_ns=min_d or None,
        duration_max_ns=max_d or None,
        tags=parse_tags(q.getlist("tag"), q.getlist("tags")),
        limit=max(1, limit) if limit > 0 else _DEFAULT_SEARCH_LIMIT,
    )


@router.get("/api/traces/{trace_id}")
def jaeger_trace(trace_id: str, services: ServicesDep, raw: str | None = None):
    """One trace in Jaeger's UI model; 404 when unknown."""
    try:
        tid = parse_trace_id(trace_id)
        adjust = not _bool_param(raw, "raw")
    except BadRequest as exc:
        return v1_error(400, str(exc))
    traces = _ui_traces(services, [tid], adjust)
    if not traces:
        return v1_error(404, "trace not found")
    return traces_envelope(traces)


@router.get("/api/dependencies")
def jaeger_dependencies(services: ServicesDep, endTs: str = "", lookback: str = "", service: str = ""):  # noqa: N803
    """Service-to-service calls (parent span in one service, child in another) in [endTs - lookback, endTs] ms."""
    try:
        end_ms = _parse_int(endTs, "endTs") if endTs else _now_ns() // 10**6
        lookback_ms = _parse_int(lookback, "lookback") if lookback else _DEFAULT_DEPENDENCY_LOOKBACK_MS
    except BadRequest as exc:
        return v1_error(400, str(exc))
    with services.store.reader() as conn:
        links = queries.dependencies(conn, (end_ms - lookback_ms) * 10**6, end_ms * 10**6)
    data = [
        {"parent": p, "child": c, "callCount": n} for p, c, n in links if not service or service in (p, c)
    ]
    return envelope(data, 0)


# --- /api/v3 (api_v3 HTTP gateway) ----------------------------------------------------------------


def _param(q, canonical: str, deprecated: str) -> tuple[str, str]:
    value = q.get(canonical)
    if value:
        return value, canonical
    return q.get(deprecated, ""), deprecated


@router.get("/api/v3/services")
def v3_services(services: ServicesDep):
    with services.store.reader() as conn:
        return json_response({"services": queries.services(conn)})


@router.get("/api/v3/operations")
def v3_operations(request: Request, services: ServicesDep):
    q = request.query_params
    span_kind, _ = _param(q, "spanKind", "span_kind")
    kind = _KINDS.get(span_kind.lower()) if span_kind else None
    if span_kind and kind is None:
        return json_response({"operations": []})
    with services.store.reader() as conn:
        ops = queries.operations(conn, q.get("service") or None, kind)
    return json_response({"operations": [jm.operation_json(name, k, v3=True) for name, k in ops]})


def _v3_search(q) -> tuple[queries.SpanSearch, bool]:
    service, _ = _param(q, "query.serviceName", "query.service_name")
    operation, _ = _param(q, "query.operationName", "query.operation_name")
    tags: dict[str, str] = {}
    if q.get("query.attributes"):
        try:
            parsed = json.loads(q["query.attributes"])
        except json.JSONDecodeError as exc:
            raise BadRequest(f"malformed parameter query.attributes: {exc}") from exc
        if not isinstance(parsed, dict):
            raise BadRequest("malformed parameter query.attributes: expected a JSON object of strings")
        tags = {str(k): _tag_string(v) for k, v in parsed.items()}
    tmin, tmin_name = _param(q, "query.startTimeMin", "query.start_time_min")
    tmax, tmax_name = _param(q, "query.startTimeMax", "query.start_time_max")
    if not tmin or not tmax:
        raise BadRequest("query.startTimeMin and query.startTimeMax are required")
    start_min, start_max = parse_rfc3339_ns(tmin, tmin_name), parse_rfc3339_ns(tmax, tmax_name)
    if not start_min < start_max:
        raise BadRequest("query.startTimeMin must be before query.startTimeMax")
    depth, depth_name = _param(q, "query.searchDepth", "query.search_depth")
    if not depth:
        depth, depth_name = q.get("query.num_traces", ""), "query.num_traces"
    try:
        limit = int(depth) if depth else _DEFAULT_SEARCH_LIMIT
    except ValueError as exc:
        raise BadRequest(f"malformed parameter {depth_name}: invalid syntax") from exc
    dmin, dmin_name = _param(q, "query.durationMin", "query.duration_min")
    dmax, dmax_name = _param(q, "query.durationMax", "query.duration_max")
    raw, raw_name = _param(q, "query.rawTraces", "query.raw_traces")
    search = queries.SpanSearch(
        service=service or None,
        operation=operation or None,
        start_min_ns=start_min,
        start_max_ns=start_max,
        duration_min_ns=parse_duration_ns(dmin, dmin_name) if dmin else None,
        duration_max_ns=parse_duration_ns(dmax, dmax_name) if dmax else None,
        tags=tags,
        limit=limit if limit > 0 else _DEFAULT_SEARCH_LIMIT,
    )
    return search, _bool_param(raw, raw_name)


def _v3_result(services: Services, trace_ids: list[str], adjust: bool):
    with services.store.reader() as conn:
        resource_spans = jm.otlp_resource_spans_json(conn, trace_ids, adjust=adjust, run=services.run_reads)
    if not resource_spans:
        return v3_error(404, "No traces found")
    return Response(f'{{"result":{{"resourceSpans":[{",".join(resource_spans)}]}}}}', media_type="application/json")


@router.get("/api/v3/traces")
def v3_find_traces(request: Request, services: ServicesDep):
    """Traces matching the query, as one OTLP ``TracesData``; 404 "No traces found" when none match."""
    try:
        search, raw = _v3_search(request.query_params)
    except BadRequest as exc:
        return v3_error(400, str(exc))
    with services.store.reader() as conn:
        ids = queries.find_trace_ids(conn, search)
    return _v3_result(services, ids, not raw)


@router.get("/api/v3/traces/{trace_id}")
def v3_get_trace(trace_id: str, request: Request, services: ServicesDep):
    """One trace as OTLP ``TracesData`` wrapped in ``{"result": ...}``."""
    q = request.query_params
    try:
        tid = parse_trace_id(trace_id)
        raw, raw_name = _param(q, "rawTraces", "raw_traces")
        adjust = not _bool_param(raw, raw_name)
        for canonical, deprecated in (("startTime", "start_time"), ("endTime", "end_time")):
            value, name = _param(q, canonical, deprecated)
            if value:
                parse_rfc3339_ns(value, name)  # validated as Jaeger does; a trace is returned whole
    except BadRequest as exc:
        return v3_error(400, str(exc))
    return _v3_result(services, [tid], adjust)


@router.get("/api/v3/trace-summaries")
def v3_trace_summaries(request: Request, services: ServicesDep):
    """Lightweight summaries of matching traces (Jaeger's FindTraceSummaries)."""
    try:
        search, _ = _v3_search(request.query_params)
    except BadRequest as exc:
        return v3_error(400, str(exc))
    summaries = []
    with services.store.reader() as conn:
        ids = queries.find_trace_ids(conn, search)
        for row in queries.get_trace_summaries(conn, ids):
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
            orphans = queries.orphan_span_count(conn, tid)
            if orphans:
                summary["orphanSpanCount"] = orphans
            service_list = []
            for name, count, errors in queries.service_span_stats(conn, tid):
                item: dict = {"name": name, "spanCount": count}
                if errors:
                    item["errorSpanCount"] = errors
                service_list.append(item)
            summary["services"] = service_list
            summaries.append(summary)
    return json_response({"summaries": summaries})
