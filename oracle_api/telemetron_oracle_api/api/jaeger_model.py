"""Stored spans in Jaeger's two JSON shapes: the UI model (``/api/traces``) and OTLP JSON (``/api/v3``).

The UI model follows Jaeger's ``uimodel`` package and the OTLP→Jaeger mapping of the
Collector-contrib jaeger translator: the scope as ``otel.scope.name``/``version`` tags, then the
span attributes, then ``span.kind``, ``otel.status_code``, ``error=true`` on error,
``otel.status_description`` and ``w3c.tracestate``; events become logs whose first field is
``event`` (the event name); the parent becomes a ``CHILD_OF`` reference and links ``FOLLOWS_FROM``
ones; each resource becomes a process. Like Jaeger's query service (its standard adjusters),
attributes are sorted by key and events by name unless ``raw`` is asked for.

Hand-written because no maintained Python package produces Jaeger's JSON; stored values keep
OTLP's types (bytes as ``{"$bytes": b64}``, non-finite doubles as ``{"$double": "nan"}``).
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

from ..store.queries import span_kind_name

_JS_MAX_SAFE = (1 << 53) - 1
_KIND_TAG = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_loads = json.loads


# --- ids ------------------------------------------------------------------------------------------


def jaeger_trace_id(trace_id: str) -> str:
    """Jaeger prints a trace id whose high 64 bits are zero as 16 hex digits."""
    return trace_id[16:] if trace_id.startswith("0000000000000000") else trace_id


# --- values ---------------------------------------------------------------------------------------


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


def _is_tagged(value: dict, tag: str) -> bool:
    return len(value) == 1 and tag in value


def _go_json(value: object) -> str:
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
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    if isinstance(value, dict):
        if _is_tagged(value, "$bytes"):
            return json.dumps(value["$bytes"])
        if _is_tagged(value, "$double"):
            return json.dumps(value["$double"])
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_go_json(value[k])}" for k in sorted(value)) + "}"
    return json.dumps(str(value))


def tag(key: str, value: object) -> dict:
    """One Jaeger KeyValue for one OTLP attribute value."""
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        # Jaeger writes integers beyond JavaScript's safe range as strings.
        return {"key": key, "type": "int64", "value": value if -_JS_MAX_SAFE <= value <= _JS_MAX_SAFE else str(value)}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, dict) and _is_tagged(value, "$bytes"):
        return {"key": key, "type": "binary", "value": value["$bytes"]}
    if isinstance(value, dict) and _is_tagged(value, "$double"):
        return {"key": key, "type": "float64", "value": value["$double"]}
    if value is None:
        return {"key": key, "type": "string", "value": ""}
    return {"key": key, "type": "string", "value": _go_json(value)}


def _tags(attributes: dict, adjust: bool) -> list[dict]:
    keys = sorted(attributes) if adjust else attributes
    return [tag(k, attributes[k]) for k in keys]


# --- UI model (v1) --------------------------------------------------------------------------------


def _references(row: sqlite3.Row, links: list) -> list[dict]:
    trace_id = jaeger_trace_id(row["trace_id"])
    parent = row["parent_span_id"]
    refs = []
    if parent:
        refs.append({"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent})
    for link in links:
        ref_type = "CHILD_OF" if link.get("attributes", {}).get("opentracing.ref_type") == "child_of" else "FOLLOWS_FROM"
        if parent and link["trace_id"] == row["trace_id"] and link["span_id"] == parent:
            refs[0]["refType"] = ref_type  # the link names the parent: it decides the type
            continue
        refs.append({"refType": ref_type, "traceID": jaeger_trace_id(link["trace_id"]), "spanID": link["span_id"]})
    return refs


def _span_tags(row: sqlite3.Row, attributes: dict, adjust: bool) -> list[dict]:
    tags = []
    if row["scope_name"]:
        tags.append({"key": "otel.scope.name", "type": "string", "value": row["scope_name"]})
    if row["scope_version"]:
        tags.append({"key": "otel.scope.version", "type": "string", "value": row["scope_version"]})
    tags.extend(_tags(attributes, adjust))
    kind = _KIND_TAG.get(row["kind"])
    if kind:
        tags.append({"key": "span.kind", "type": "string", "value": kind})
    status = row["status_code"]
    if status == 2:
        tags.append({"key": "otel.status_code", "type": "string", "value": "ERROR"})
        tags.append({"key": "error", "type": "bool", "value": True})
    elif status == 1:
        tags.append({"key": "otel.status_code", "type": "string", "value": "OK"})
    if row["status_message"]:
        tags.append({"key": "otel.status_description", "type": "string", "value": row["status_message"]})
    if row["trace_state"]:
        tags.append({"key": "w3c.tracestate", "type": "string", "value": row["trace_state"]})
    return tags


def _logs(events: list, adjust: bool) -> list[dict]:
    if adjust:
        events = sorted(events, key=lambda e: e["name"])
    logs = []
    for event in events:
        attributes = event["attributes"]
        fields = []
        if event["name"] and "event" not in attributes:
            fields.append({"key": "event", "type": "string", "value": event["name"]})
        fields.extend(_tags(attributes, adjust))
        logs.append({"timestamp": event["time_ns"] // 1000, "fields": fields})
    return logs


def process_of(resource: dict | None, service_name: str, adjust: bool) -> dict:
    attributes = dict(resource["attributes"]) if resource else {}
    attributes.pop("service.name", None)
    return {"serviceName": service_name, "tags": _tags(attributes, adjust)}


def ui_trace(rows: list[sqlite3.Row], resources: dict[str, dict], *, adjust: bool = True) -> dict:
    """One trace in Jaeger's UI model: ``{traceID, spans, processes, warnings}``."""
    process_ids: dict[str, str] = {}
    processes: dict[str, dict] = {}
    by_content: dict[str, str] = {}
    spans = []
    for row in rows:
        key = row["resource_key"]
        pid = process_ids.get(key)
        if pid is None:
            process = process_of(resources.get(key), row["service_name"], adjust)
            content = json.dumps(process, sort_keys=True)
            pid = by_content.get(content)
            if pid is None:  # equal processes share one id, as in Jaeger's process hashtable
                pid = f"p{len(processes) + 1}"
                processes[pid] = process
                by_content[content] = pid
            process_ids[key] = pid
        start_ns = row["start_ns"]
        span = {
            "traceID": jaeger_trace_id(row["trace_id"]),
            "spanID": row["span_id"],
        }
        if row["flags"] & 0x1:  # W3C sampled bit, Jaeger's SampledFlag
            span["flags"] = 1
        links = _loads(row["links"])
        span.update(
            operationName=row["name"],
            references=_references(row, links),
            startTime=start_ns // 1000,
            duration=(row["end_ns"] - start_ns) // 1000,
            tags=_span_tags(row, _loads(row["attributes"]), adjust),
            logs=_logs(_loads(row["events"]), adjust),
            processID=pid,
            warnings=None,
        )
        spans.append(span)
    return {
        "traceID": jaeger_trace_id(rows[0]["trace_id"]) if rows else "",
        "spans": spans,
        "processes": processes,
        "warnings": None,
    }


# --- OTLP JSON (api_v3) ---------------------------------------------------------------------------


def any_value_json(value: object) -> dict:
    """A stored value as an OTLP/JSON AnyValue (ints as strings, bytes as base64)."""
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value_json(v) for v in value]} if value else {}}
    if isinstance(value, dict):
        if _is_tagged(value, "$bytes"):
            return {"bytesValue": value["$bytes"]}
        if _is_tagged(value, "$double"):
            special = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
            return {"doubleValue": special.get(value["$double"], value["$double"])}
        kvs = [{"key": k, "value": any_value_json(v)} for k, v in value.items()]
        return {"kvlistValue": {"values": kvs} if kvs else {}}
    return {}


def _attributes_json(attributes: dict, adjust: bool) -> list[dict]:
    keys = sorted(attributes) if adjust else attributes
    return [{"key": k, "value": any_value_json(attributes[k])} for k in keys]


def _otlp_span(row: sqlite3.Row, adjust: bool) -> dict:
    out: dict = {"traceId": row["trace_id"], "spanId": row["span_id"]}
    if row["trace_state"]:
        out["traceState"] = row["trace_state"]
    if row["parent_span_id"]:
        out["parentSpanId"] = row["parent_span_id"]
    if row["flags"]:
        out["flags"] = row["flags"]
    if row["name"]:
        out["name"] = row["name"]
    if row["kind"]:
        out["kind"] = row["kind"]
    out["startTimeUnixNano"] = str(row["start_ns"])
    out["endTimeUnixNano"] = str(row["end_ns"])
    attributes = _loads(row["attributes"])
    if attributes:
        out["attributes"] = _attributes_json(attributes, adjust)
    dropped = _loads(row["dropped_counts"])
    if dropped[0]:
        out["droppedAttributesCount"] = dropped[0]
    events = _loads(row["events"])
    if adjust:
        events = sorted(events, key=lambda e: e["name"])
    if events:
        out["events"] = []
        for e in events:
            event: dict = {}
            if e["time_ns"]:
                event["timeUnixNano"] = str(e["time_ns"])
            if e["name"]:
                event["name"] = e["name"]
            if e["attributes"]:
                event["attributes"] = _attributes_json(e["attributes"], adjust)
            if e.get("dropped_attributes_count"):
                event["droppedAttributesCount"] = e["dropped_attributes_count"]
            out["events"].append(event)
    if dropped[1]:
        out["droppedEventsCount"] = dropped[1]
    links = _loads(row["links"])
    if links:
        out["links"] = []
        for link in links:
            item: dict = {"traceId": link["trace_id"], "spanId": link["span_id"]}
            if link.get("trace_state"):
                item["traceState"] = link["trace_state"]
            if link.get("attributes"):
                item["attributes"] = _attributes_json(link["attributes"], adjust)
            if link.get("dropped_attributes_count"):
                item["droppedAttributesCount"] = link["dropped_attributes_count"]
            out["links"].append(item)
    if dropped[2]:
        out["droppedLinksCount"] = dropped[2]
    status: dict = {}
    if row["status_message"]:
        status["message"] = row["status_message"]
    if row["status_code"]:
        status["code"] = row["status_code"]
    out["status"] = status
    return out


def otlp_resource_spans(rows: list[sqlite3.Row], resources: dict[str, dict], *, adjust: bool = True) -> list[dict]:
    """Spans grouped by resource, then by scope, as OTLP/JSON ``ResourceSpans``."""
    by_resource: dict[str, dict[tuple[str, str], list[dict]]] = {}
    for row in rows:
        scopes = by_resource.setdefault(row["resource_key"], {})
        scopes.setdefault((row["scope_name"], row["scope_version"]), []).append(_otlp_span(row, adjust))
    out = []
    for key, scopes in by_resource.items():
        resource = resources.get(key)
        resource_json: dict = {}
        if resource and resource["attributes"]:
            resource_json["attributes"] = _attributes_json(resource["attributes"], adjust)
        scope_spans = []
        for (name, version), spans in scopes.items():
            scope: dict = {}
            if name:
                scope["name"] = name
            if version:
                scope["version"] = version
            scope_spans.append({"scope": scope, "spans": spans})
        out.append({"resource": resource_json, "scopeSpans": scope_spans})
    return out


def operation_json(name: str, kind: int, *, v3: bool = False) -> dict:
    """Jaeger's Operation: the span kind in lower case ("" when unspecified; v3 says "internal")."""
    kind_name = _KIND_TAG.get(kind, "")
    if v3 and not kind_name:
        kind_name = "internal"
    return {"name": name, "spanKind": kind_name}


__all__ = [
    "any_value_json",
    "jaeger_trace_id",
    "operation_json",
    "otlp_resource_spans",
    "process_of",
    "span_kind_name",
    "tag",
    "ui_trace",
]
