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


_q = json.encoder.encode_basestring  # C-accelerated, keeps non-ASCII as is
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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
        return _q(value)
    if isinstance(value, list):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    if isinstance(value, dict):
        if _is_tagged(value, "$bytes"):
            return _q(value["$bytes"])
        if _is_tagged(value, "$double"):
            return _q(value["$double"])
        return "{" + ",".join(f"{_q(k)}:{_go_json(value[k])}" for k in sorted(value)) + "}"
    return _q(str(value))


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


# The routes write JSON text directly (a trace can hold thousands of spans and tens of thousands
# of tags; building dicts and then encoding them costs several times more).


def _number(x: float) -> str:
    return repr(x) if x == x and x not in (float("inf"), float("-inf")) else _q(repr(x))


def tag_json(key: str, value: object) -> str:
    """``tag(key, value)`` as JSON text."""
    t = type(value)
    if t is str:
        return f'{{"key":{_q(key)},"type":"string","value":{_q(value)}}}'
    if t is bool:
        return f'{{"key":{_q(key)},"type":"bool","value":{"true" if value else "false"}}}'
    if t is int:
        text = str(value) if -_JS_MAX_SAFE <= value <= _JS_MAX_SAFE else f'"{value}"'
        return f'{{"key":{_q(key)},"type":"int64","value":{text}}}'
    if t is float:
        return f'{{"key":{_q(key)},"type":"float64","value":{_number(value)}}}'
    return _compact(tag(key, value))


def _tags_json(attributes: dict, adjust: bool, cache: dict | None = None) -> list[str]:
    """Tags as JSON texts; ``cache`` remembers the text of each (key, value) seen in this trace."""
    keys = sorted(attributes) if adjust else attributes
    if cache is None:
        return [tag_json(k, attributes[k]) for k in keys]
    out = []
    for k in keys:
        value = attributes[k]
        t = type(value)
        if t is list or t is dict:
            out.append(tag_json(k, value))
            continue
        text = cache.get((k, t, value))
        if text is None:
            text = cache[(k, t, value)] = tag_json(k, value)
        out.append(text)
    return out


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


def process_of(resource: dict | None, service_name: str, adjust: bool) -> dict:
    attributes = dict(resource["attributes"]) if resource else {}
    attributes.pop("service.name", None)
    return {"serviceName": service_name, "tags": _tags(attributes, adjust)}


def _span_tags_json(row: sqlite3.Row, attributes: dict, adjust: bool, cache: dict) -> str:
    tags = []
    if row["scope_name"]:
        tags.append(f'{{"key":"otel.scope.name","type":"string","value":{_q(row["scope_name"])}}}')
    if row["scope_version"]:
        tags.append(f'{{"key":"otel.scope.version","type":"string","value":{_q(row["scope_version"])}}}')
    tags.extend(_tags_json(attributes, adjust, cache))
    kind = _KIND_TAG.get(row["kind"])
    if kind:
        tags.append(f'{{"key":"span.kind","type":"string","value":"{kind}"}}')
    status = row["status_code"]
    if status == 2:
        tags.append('{"key":"otel.status_code","type":"string","value":"ERROR"},{"key":"error","type":"bool","value":true}')
    elif status == 1:
        tags.append('{"key":"otel.status_code","type":"string","value":"OK"}')
    if row["status_message"]:
        tags.append(f'{{"key":"otel.status_description","type":"string","value":{_q(row["status_message"])}}}')
    if row["trace_state"]:
        tags.append(f'{{"key":"w3c.tracestate","type":"string","value":{_q(row["trace_state"])}}}')
    return "[" + ",".join(tags) + "]"


def _logs_json(events_text: str, adjust: bool, cache: dict) -> str:
    if events_text == "[]":
        return "[]"
    events = _loads(events_text)
    if adjust:
        events = sorted(events, key=lambda e: e["name"])
    logs = []
    for event in events:
        attributes = event["attributes"]
        fields = []
        if event["name"] and "event" not in attributes:
            fields.append(f'{{"key":"event","type":"string","value":{_q(event["name"])}}}')
        fields.extend(_tags_json(attributes, adjust, cache))
        logs.append(f'{{"timestamp":{event["time_ns"] // 1000},"fields":[{",".join(fields)}]}}')
    return "[" + ",".join(logs) + "]"


def ui_trace_json(rows: list[sqlite3.Row], resources: dict[str, dict], *, adjust: bool = True) -> str:
    """One trace in Jaeger's UI model as JSON text: ``{traceID, spans, processes, warnings}``."""
    process_ids: dict[str, str] = {}
    processes: dict[str, dict] = {}
    by_content: dict[str, str] = {}
    spans = []
    cache: dict = {}
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
        trace_id = jaeger_trace_id(row["trace_id"])
        start_ns = row["start_ns"]
        flags = '"flags":1,' if row["flags"] & 0x1 else ""  # W3C sampled bit, Jaeger's SampledFlag
        links_text = row["links"]
        parent = row["parent_span_id"]
        if links_text == "[]":
            refs = f'[{{"refType":"CHILD_OF","traceID":"{trace_id}","spanID":"{parent}"}}]' if parent else "[]"
        else:
            refs = _compact(_references(row, _loads(links_text)))
        spans.append(
            f'{{"traceID":"{trace_id}","spanID":"{row["span_id"]}",{flags}"operationName":{_q(row["name"])},'
            f'"references":{refs},"startTime":{start_ns // 1000},"duration":{(row["end_ns"] - start_ns) // 1000},'
            f'"tags":{_span_tags_json(row, _loads(row["attributes"]), adjust, cache)},"logs":{_logs_json(row["events"], adjust, cache)},'
            f'"processID":"{pid}","warnings":null}}'
        )
    trace_id = jaeger_trace_id(rows[0]["trace_id"]) if rows else ""
    return (
        f'{{"traceID":"{trace_id}","spans":[{",".join(spans)}],'
        f'"processes":{_compact(processes)},"warnings":null}}'
    )


def ui_trace(rows: list[sqlite3.Row], resources: dict[str, dict], *, adjust: bool = True) -> dict:
    """One trace in Jaeger's UI model: ``{traceID, spans, processes, warnings}``."""
    return _loads(ui_trace_json(rows, resources, adjust=adjust))


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


def any_value_text(value: object) -> str:
    """``any_value_json(value)`` as JSON text."""
    if isinstance(value, str):
        return f'{{"stringValue":{_q(value)}}}'
    if isinstance(value, bool):
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if isinstance(value, int):
        return f'{{"intValue":"{value}"}}'
    if isinstance(value, float):
        return f'{{"doubleValue":{_number(value)}}}'
    return _compact(any_value_json(value))


def _attributes_text(attributes: dict, adjust: bool, cache: dict | None = None) -> str:
    keys = sorted(attributes) if adjust else attributes
    if cache is None:
        return "[" + ",".join(f'{{"key":{_q(k)},"value":{any_value_text(attributes[k])}}}' for k in keys) + "]"
    out = []
    for k in keys:
        value = attributes[k]
        t = type(value)
        if t is list or t is dict:
            out.append(f'{{"key":{_q(k)},"value":{any_value_text(value)}}}')
            continue
        text = cache.get((k, t, value))
        if text is None:
            text = cache[(k, t, value)] = f'{{"key":{_q(k)},"value":{any_value_text(value)}}}'
        out.append(text)
    return "[" + ",".join(out) + "]"


def _otlp_span_text(row: sqlite3.Row, adjust: bool, cache: dict) -> str:
    out = [f'"traceId":"{row["trace_id"]}","spanId":"{row["span_id"]}"']
    if row["trace_state"]:
        out.append(f'"traceState":{_q(row["trace_state"])}')
    if row["parent_span_id"]:
        out.append(f'"parentSpanId":"{row["parent_span_id"]}"')
    if row["flags"]:
        out.append(f'"flags":{row["flags"]}')
    if row["name"]:
        out.append(f'"name":{_q(row["name"])}')
    if row["kind"]:
        out.append(f'"kind":{row["kind"]}')
    out.append(f'"startTimeUnixNano":"{row["start_ns"]}","endTimeUnixNano":"{row["end_ns"]}"')
    attributes = _loads(row["attributes"])
    if attributes:
        out.append(f'"attributes":{_attributes_text(attributes, adjust, cache)}')
    dropped = (0, 0, 0) if row["dropped_counts"] == "[0,0,0]" else _loads(row["dropped_counts"])
    if dropped[0]:
        out.append(f'"droppedAttributesCount":{dropped[0]}')
    if row["events"] != "[]":
        events = _loads(row["events"])
        if adjust:
            events = sorted(events, key=lambda e: e["name"])
        texts = []
        for e in events:
            event = []
            if e["time_ns"]:
                event.append(f'"timeUnixNano":"{e["time_ns"]}"')
            if e["name"]:
                event.append(f'"name":{_q(e["name"])}')
            if e["attributes"]:
                event.append(f'"attributes":{_attributes_text(e["attributes"], adjust, cache)}')
            if e.get("dropped_attributes_count"):
                event.append(f'"droppedAttributesCount":{e["dropped_attributes_count"]}')
            texts.append("{" + ",".join(event) + "}")
        out.append(f'"events":[{",".join(texts)}]')
    if dropped[1]:
        out.append(f'"droppedEventsCount":{dropped[1]}')
    if row["links"] != "[]":
        texts = []
        for link in _loads(row["links"]):
            item = [f'"traceId":"{link["trace_id"]}","spanId":"{link["span_id"]}"']
            if link.get("trace_state"):
                item.append(f'"traceState":{_q(link["trace_state"])}')
            if link.get("attributes"):
                item.append(f'"attributes":{_attributes_text(link["attributes"], adjust)}')
            if link.get("dropped_attributes_count"):
                item.append(f'"droppedAttributesCount":{link["dropped_attributes_count"]}')
            texts.append("{" + ",".join(item) + "}")
        out.append(f'"links":[{",".join(texts)}]')
    if dropped[2]:
        out.append(f'"droppedLinksCount":{dropped[2]}')
    status = []
    if row["status_message"]:
        status.append(f'"message":{_q(row["status_message"])}')
    if row["status_code"]:
        status.append(f'"code":{row["status_code"]}')
    out.append('"status":{' + ",".join(status) + "}")
    return "{" + ",".join(out) + "}"


def otlp_resource_spans_json(rows: list[sqlite3.Row], resources: dict[str, dict], *, adjust: bool = True) -> list[str]:
    """Spans grouped by resource, then by scope, as OTLP/JSON ``ResourceSpans`` texts."""
    by_resource: dict[str, dict[tuple[str, str], list[str]]] = {}
    cache: dict = {}
    for row in rows:
        scopes = by_resource.setdefault(row["resource_key"], {})
        scopes.setdefault((row["scope_name"], row["scope_version"]), []).append(_otlp_span_text(row, adjust, cache))
    out = []
    for key, scopes in by_resource.items():
        resource = resources.get(key)
        resource_text = f'{{"attributes":{_attributes_text(resource["attributes"], adjust)}}}' if resource and resource["attributes"] else "{}"
        scope_texts = []
        for (name, version), spans in scopes.items():
            scope = []
            if name:
                scope.append(f'"name":{_q(name)}')
            if version:
                scope.append(f'"version":{_q(version)}')
            scope_texts.append(f'{{"scope":{{{",".join(scope)}}},"spans":[{",".join(spans)}]}}')
        out.append(f'{{"resource":{resource_text},"scopeSpans":[{",".join(scope_texts)}]}}')
    return out


def otlp_resource_spans(rows: list[sqlite3.Row], resources: dict[str, dict], *, adjust: bool = True) -> list[dict]:
    """Spans grouped by resource, then by scope, as OTLP/JSON ``ResourceSpans``."""
    return [_loads(text) for text in otlp_resource_spans_json(rows, resources, adjust=adjust)]


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
    "otlp_resource_spans_json",
    "process_of",
    "span_kind_name",
    "tag",
    "ui_trace",
    "ui_trace_json",
]
