"""Stored spans in Jaeger's two JSON shapes: the UI model (``/api/traces``) and OTLP JSON (``/api/v3``).

The UI model follows Jaeger's ``uimodel`` package and the OTLP→Jaeger mapping of the
Collector-contrib jaeger translator: the scope as ``otel.scope.name``/``version`` tags, then the
span attributes, then ``span.kind``, ``otel.status_code``, ``error=true`` on error,
``otel.status_description`` and ``w3c.tracestate``; events become logs whose first field is
``event`` (the event name); the parent becomes a ``CHILD_OF`` reference and links ``FOLLOWS_FROM``
ones; each resource becomes a process. Scope attributes are not tags there (the translator leaves
them out) but are searched as tags, as Jaeger's storage does; OTLP JSON carries them in
``scopeSpans[].scope.attributes``. Like Jaeger's query service (its standard adjusters),
attributes are sorted by key and events by name unless ``raw`` is asked for.

Hand-written because no maintained Python package produces Jaeger's JSON; stored values keep
OTLP's types (bytes as ``{"$bytes": b64}``, non-finite doubles as ``{"$double": "nan"}``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

import orjson

from ..formats import compact_json, go_json, is_tagged
from ..store.interface import TelemetryStore
from ..store.telemetry_reads import MAX_TRACE_LOGS
from .trace_cache import rendered

T = TypeVar("T")

_JS_MAX_SAFE = (1 << 53) - 1
_KIND_TAG = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


# --- ids ------------------------------------------------------------------------------------------


def jaeger_trace_id(trace_id: str) -> str:
    """Jaeger prints a trace id whose high 64 bits are zero as 16 hex digits."""
    return trace_id[16:] if trace_id.startswith("0000000000000000") else trace_id


# --- values ---------------------------------------------------------------------------------------


_q = json.encoder.encode_basestring  # C-accelerated, keeps non-ASCII as is


# The routes write JSON text directly (a trace can hold thousands of spans and tens of thousands
# of tags; building dicts and then encoding them costs several times more). The stored JSON
# arrives parsed by orjson (store.reads.read_rows).


def _number(x: float) -> str:
    return repr(x) if x == x and x not in (float("inf"), float("-inf")) else _q(repr(x))


def tag_json(key: str, value: Any) -> str:
    """One Jaeger KeyValue, as JSON text, for one stored OTLP attribute value.

    ``value`` is Any: the exact ``type(value) is`` dispatch below (fast, and keeps bool apart from int)
    is something mypy does not narrow on, and this is a rendering hot path, so no casts.
    """
    t = type(value)
    k = _q(key)
    if t is str:
        return f'{{"key":{k},"type":"string","value":{_q(value)}}}'
    if t is bool:
        return f'{{"key":{k},"type":"bool","value":{"true" if value else "false"}}}'
    if t is int:
        # Jaeger writes integers beyond JavaScript's safe range as strings.
        text = str(value) if -_JS_MAX_SAFE <= value <= _JS_MAX_SAFE else f'"{value}"'
        return f'{{"key":{k},"type":"int64","value":{text}}}'
    if t is float:
        return f'{{"key":{k},"type":"float64","value":{_number(value)}}}'
    if isinstance(value, dict) and is_tagged(value, "$bytes"):
        return f'{{"key":{k},"type":"binary","value":{_q(value["$bytes"])}}}'
    if isinstance(value, dict) and is_tagged(value, "$double"):
        return f'{{"key":{k},"type":"float64","value":{_q(value["$double"])}}}'
    if value is None:
        return f'{{"key":{k},"type":"string","value":""}}'
    return f'{{"key":{k},"type":"string","value":{_q(go_json(value))}}}'


def _tags_json(attributes: dict, adjust: bool, cache: dict) -> list[str]:
    """Tags as JSON texts, with ``cache`` (one per ``span_texts`` call) so that repeated values are written once.

    Strings, lists and maps tend to repeat across a trace's spans: their texts are cached by
    (key, type, value). The type is part of the key because ``1``, ``1.0`` and ``True`` are equal
    in Python; lists and maps, unhashable, are keyed by their repr. Numbers (token counts, ids,
    costs) are mostly new each time, so only their key's prefix is cached, under the bare key.
    """
    out = []
    for k in sorted(attributes) if adjust else attributes:
        value = attributes[k]
        t = value.__class__
        if t is int and -_JS_MAX_SAFE <= value <= _JS_MAX_SAFE:
            prefix = cache.get(k)
            if prefix is None:
                prefix = cache[k] = f'{{"key":{_q(k)},"type":"'
            out.append(f'{prefix}int64","value":{value}}}')
            continue
        ck = (k, t, value) if t is not list and t is not dict else (k, t, repr(value))
        text = cache.get(ck)
        if text is None:
            text = cache[ck] = tag_json(k, value)
        out.append(text)
    return out


# --- stored spans ---------------------------------------------------------------------------------

# A rendered span is a tuple: the sort key (trace id, start, span id), what assembling a response
# groups spans by (resource key, service name, scope name, scope version, scope attributes as
# OTLP JSON text, "" in the UI model), and its JSON text.
_TRACE, _START, _SPAN, _RESOURCE, _SERVICE, _SCOPE, _VERSION, _SCOPE_ATTRIBUTES, _TEXT = range(9)

UI, OTLP = "ui", "otlp"  # the two shapes a span is rendered in


def span_texts(
    store: TelemetryStore, trace_ids: list[str], shape: str, adjust: bool, log_counts: dict[str, int] | None = None
) -> list[tuple]:
    """The traces' spans rendered in ``shape``, sorted by trace, start and span id.

    A UI-model text stops before the span's ``processID``, which depends on every resource of the
    trace and is added when assembling. In the UI model a span's log records follow its events in
    ``logs`` (``log_counts``, per trace, saves counting them again).
    """
    rows = store.jaeger_span_rows(trace_ids)  # sorted by trace, start, span id
    if shape != UI:
        return _otlp_span_texts(rows, adjust)
    counts = log_counts if log_counts is not None else store.log_counts(trace_ids)
    with_logs = [tid for tid in trace_ids if counts.get(tid)]
    span_logs: dict[tuple[str, str | None], list[dict]] = {}
    for tid in with_logs:
        for record in store.trace_log_records(tid, MAX_TRACE_LOGS):
            span_logs.setdefault((tid, record["span_id"]), []).append(record)
    return _ui_span_texts(rows, adjust, span_logs)


def _by_trace(spans: list[tuple], trace_ids: list[str]) -> dict[str, list[tuple]]:
    """Rendered spans grouped by trace, in the order the traces were asked for."""
    out: dict[str, list[tuple]] = {tid: [] for tid in trace_ids}
    for span in spans:
        out[span[_TRACE]].append(span)
    return out


# --- UI model (v1) --------------------------------------------------------------------------------


def _references(trace_id: str, parent: str | None, links: list) -> list[dict]:
    jaeger_tid = jaeger_trace_id(trace_id)
    refs = []
    if parent:
        refs.append({"refType": "CHILD_OF", "traceID": jaeger_tid, "spanID": parent})
    for link in links:
        ref_type = (
            "CHILD_OF" if link.get("attributes", {}).get("opentracing.ref_type") == "child_of" else "FOLLOWS_FROM"
        )
        if parent and link["trace_id"] == trace_id and link["span_id"] == parent:
            refs[0]["refType"] = ref_type  # the link names the parent: it decides the type
            continue
        refs.append({"refType": ref_type, "traceID": jaeger_trace_id(link["trace_id"]), "spanID": link["span_id"]})
    return refs


def process_json(resource: dict | None, service_name: str, adjust: bool) -> str:
    """A resource as a Jaeger process, JSON text: its service and its other attributes as tags."""
    attributes = dict(resource["attributes"]) if resource else {}
    attributes.pop("service.name", None)
    return f'{{"serviceName":{_q(service_name)},"tags":[{",".join(_tags_json(attributes, adjust, {}))}]}}'


def _fixed_tags(
    scope_name: str,
    scope_version: str,
    kind: int,
    status_code: int,
    status_message: str | None,
    trace_state: str | None,
) -> tuple[str, str, str]:
    """The tags before and after the attributes, which many spans of a trace share: the text to
    write before the attributes' tags, the text after them, and the text when there are none."""
    before, after = [], []
    if scope_name:
        before.append(f'{{"key":"otel.scope.name","type":"string","value":{_q(scope_name)}}}')
    if scope_version:
        before.append(f'{{"key":"otel.scope.version","type":"string","value":{_q(scope_version)}}}')
    kind_tag = _KIND_TAG.get(kind)
    if kind_tag:
        after.append(f'{{"key":"span.kind","type":"string","value":"{kind_tag}"}}')
    if status_code == 2:
        after.append(
            '{"key":"otel.status_code","type":"string","value":"ERROR"},{"key":"error","type":"bool","value":true}'
        )
    elif status_code == 1:
        after.append('{"key":"otel.status_code","type":"string","value":"OK"}')
    if status_message:
        after.append(f'{{"key":"otel.status_description","type":"string","value":{_q(status_message)}}}')
    if trace_state:
        after.append(f'{{"key":"w3c.tracestate","type":"string","value":{_q(trace_state)}}}')
    return "".join(f"{t}," for t in before), "".join(f",{t}" for t in after), ",".join(before + after)


def _logs_json(events: list, adjust: bool, cache: dict, fields_cache: dict) -> str:
    """Events as the UI model's logs. Their fields repeat across a trace (the same event name and
    attributes on many spans) and are cached by name and attributes, serialized (so that 1, 1.0
    and true stay apart)."""
    if adjust and len(events) > 1:
        events.sort(key=lambda e: e["name"])
    logs = []
    for event in events:
        attributes = event["attributes"]
        name = event["name"]
        key = (name, orjson.dumps(attributes))
        fields = fields_cache.get(key)
        if fields is None:
            parts = (
                [f'{{"key":"event","type":"string","value":{_q(name)}}}'] if name and "event" not in attributes else []
            )
            fields = fields_cache[key] = ",".join(parts + _tags_json(attributes, adjust, cache))
        logs.append(f'{{"timestamp":{event["time_ns"] // 1000},"fields":[{fields}]}}')
    return f"[{','.join(logs)}]"


_SAMPLED = '"flags":1,'  # the W3C sampled bit, Jaeger's SampledFlag


def _log_records_json(logs: str, records: list[dict], adjust: bool, cache: dict) -> str:
    """``logs`` (the span's events as UI-model logs) followed by its log records: the record's event name
    (else ``log``), its body as ``message`` (a non-string body as its JSON), its severity, its attributes."""
    texts = []
    for record in records:
        body = record["body"]
        fields = [
            f'{{"key":"event","type":"string","value":{_q(record["event_name"] or "log")}}}',
            f'{{"key":"message","type":"string","value":{_q(body if isinstance(body, str) else compact_json(body))}}}',
        ]
        if record["severity_text"]:
            fields.append(f'{{"key":"level","type":"string","value":{_q(record["severity_text"])}}}')
        if record["severity_number"]:
            fields.append(f'{{"key":"otel.log.severity_number","type":"int64","value":{record["severity_number"]}}}')
        fields += _tags_json(record["attributes"], adjust, cache)
        timestamp = (record["time_ns"] or record["observed_ns"]) // 1000
        texts.append(f'{{"timestamp":{timestamp},"fields":[{",".join(fields)}]}}')
    return f"[{logs[1:-1]}{',' if logs != '[]' else ''}{','.join(texts)}]"


def _ui_span_texts(rows: list[list], adjust: bool, span_logs: dict[tuple[str, str | None], list[dict]]) -> list[tuple]:
    """Rows as rendered spans in the UI model, each text open after ``"logs":[...],`` (see ``span_texts``)."""
    tag_cache: dict = {}
    fields_cache: dict = {}
    fixed_cache: dict = {}
    heads: dict[str, tuple[str, str]] = {}  # per trace: the start of a span, and of its parent reference
    out = []
    for (
        trace_id,
        start_ns,
        span_id,
        parent,
        name,
        kind,
        end_ns,
        status_code,
        status_message,
        resource_key,
        service,
        scope_name,
        scope_version,
        trace_state,
        flags,
        attributes,
        events,
        links,
        _dropped,
        _scope_attributes,
    ) in rows:
        head = heads.get(trace_id)
        if head is None:
            jaeger_tid = jaeger_trace_id(trace_id)
            head = heads[trace_id] = (
                f'{{"traceID":"{jaeger_tid}","spanID":"',
                f'[{{"refType":"CHILD_OF","traceID":"{jaeger_tid}","spanID":"',
            )
        if links:
            refs = compact_json(_references(trace_id, parent, links))
        else:
            refs = f'{head[1]}{parent}"}}]' if parent else "[]"
        fixed_key = (scope_name, scope_version, kind, status_code, status_message, trace_state)
        fixed = fixed_cache.get(fixed_key)
        if fixed is None:
            fixed = fixed_cache[fixed_key] = _fixed_tags(*fixed_key)
        tags = f"{fixed[0]}{','.join(_tags_json(attributes, adjust, tag_cache))}{fixed[1]}" if attributes else fixed[2]
        logs = _logs_json(events, adjust, tag_cache, fields_cache) if events else "[]"
        if span_logs:
            records = span_logs.get((trace_id, span_id))
            if records:
                logs = _log_records_json(logs, records, adjust, tag_cache)
        out.append(
            (
                trace_id,
                start_ns,
                span_id,
                resource_key,
                service,
                scope_name,
                scope_version,
                "",
                f'{head[0]}{span_id}",{_SAMPLED if flags & 0x1 else ""}"operationName":{_q(name)},"references":{refs},'
                f'"startTime":{start_ns // 1000},"duration":{(end_ns - start_ns) // 1000},"tags":[{tags}],"logs":{logs},',
            )
        )
    return out


def _ui_trace_json(trace_id: str, spans: list[tuple], resources: dict[str, dict], adjust: bool) -> str:
    """One trace as ``{traceID, spans, processes, warnings}`` text, from its rendered spans."""
    # Each resource becomes a process, numbered in order of first use; equal processes share one
    # id, as in Jaeger's process hashtable. A span's text is completed by its process's.
    ends: dict[str, str] = {}
    by_content: dict[str, str] = {}  # process JSON text: its id
    pieces: list[str] = []
    for span in spans:
        key = span[_RESOURCE]
        end = ends.get(key)
        if end is None:
            process = process_json(resources.get(key), span[_SERVICE], adjust)
            pid = by_content.get(process)
            if pid is None:
                pid = by_content[process] = f"p{len(by_content) + 1}"
            end = ends[key] = f'"processID":"{pid}","warnings":null}}'
        pieces += (",", span[_TEXT], end)
    del pieces[0]  # the comma before the first span
    processes = ",".join(f'"{pid}":{process}' for process, pid in by_content.items())
    # One join: concatenating the large texts one to another would copy them again and again.
    return (
        f'{{"traceID":"{jaeger_trace_id(trace_id)}","spans":[{"".join(pieces)}],'
        f'"processes":{{{processes}}},"warnings":null}}'
    )


def _cached_traces(
    store: TelemetryStore, trace_ids: list[str], shape: str, adjust: bool, render: Callable[[str, list, dict], T]
) -> dict[str, T]:
    """Each found trace rendered by ``render(trace id, its rendered spans, resources)``, from the cache when
    the trace has not gained spans since (``trace_cache.py``)."""
    counts = {row["trace_id"]: row["span_count"] for row in store.trace_summaries(trace_ids)}
    log_counts = store.log_counts(trace_ids) if shape == UI else {}
    out: dict[str, T] = {}
    missing = []
    for tid in trace_ids:
        hit = rendered.get((str(store.path), shape, adjust, tid, counts.get(tid), log_counts.get(tid, 0)))
        if hit is None:
            missing.append(tid)
        else:
            out[tid] = cast(T, hit)
    if missing:
        spans = span_texts(store, missing, shape, adjust, log_counts)
        resources = store.resources({span[_RESOURCE] for span in spans})
        for tid, trace_spans in _by_trace(spans, missing).items():
            if not trace_spans:
                continue
            out[tid] = render(tid, trace_spans, resources)
            if counts.get(tid) == len(trace_spans):  # else a batch landed between the two reads
                size = sum(len(span[_TEXT]) for span in trace_spans)
                key = (str(store.path), shape, adjust, tid, len(trace_spans), log_counts.get(tid, 0))
                rendered.put(key, out[tid], size)
    return out


def ui_traces_json(store: TelemetryStore, trace_ids: list[str], *, adjust: bool = True) -> list[tuple[str, str]]:
    """(trace id, ``{traceID, spans, processes, warnings}`` as JSON text) of each trace found, in the order asked."""
    found = _cached_traces(
        store, trace_ids, UI, adjust, lambda tid, spans, resources: _ui_trace_json(tid, spans, resources, adjust)
    )
    return [(tid, found[tid]) for tid in trace_ids if tid in found]


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
        if is_tagged(value, "$bytes"):
            return {"bytesValue": value["$bytes"]}
        if is_tagged(value, "$double"):
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
    return compact_json(any_value_json(value))


def _attributes_text(attributes: dict, adjust: bool, cache: dict | None = None) -> str:
    """OTLP/JSON KeyValues; ``cache`` works as in ``_tags_json`` (none: attributes written once, as a resource's)."""
    if cache is None:
        cache = {}
    out = []
    for k in sorted(attributes) if adjust else attributes:
        value = attributes[k]
        t = value.__class__
        if t is int:
            prefix = cache.get(k)
            if prefix is None:
                prefix = cache[k] = f'{{"key":{_q(k)},"value":{{"intValue":"'
            out.append(f'{prefix}{value}"}}}}')
            continue
        ck = (k, t, value) if t is not list and t is not dict else (k, t, repr(value))
        text = cache.get(ck)
        if text is None:
            text = cache[ck] = f'{{"key":{_q(k)},"value":{any_value_text(value)}}}'
        out.append(text)
    return f"[{','.join(out)}]"


def _otlp_events_text(events: list, adjust: bool, cache: dict, fields_cache: dict) -> str:
    """Events as OTLP/JSON; everything but the time is cached as in ``_logs_json``."""
    if adjust and len(events) > 1:
        events.sort(key=lambda e: e["name"])
    texts = []
    for e in events:
        name, attributes, dropped = e["name"], e["attributes"], e.get("dropped_attributes_count")
        key = (name, orjson.dumps(attributes), dropped)
        rest = fields_cache.get(key)
        if rest is None:
            parts = [f'"name":{_q(name)}'] if name else []
            if attributes:
                parts.append(f'"attributes":{_attributes_text(attributes, adjust, cache)}')
            if dropped:
                parts.append(f'"droppedAttributesCount":{dropped}')
            rest = fields_cache[key] = ",".join(parts)
        time_ns = e["time_ns"]
        if time_ns:
            texts.append(f'{{"timeUnixNano":"{time_ns}"{"," if rest else ""}{rest}}}')
        else:
            texts.append(f"{{{rest}}}")
    return f"[{','.join(texts)}]"


def _otlp_links_text(links: list, adjust: bool) -> str:
    texts = []
    for link in links:
        item = [f'"traceId":"{link["trace_id"]}","spanId":"{link["span_id"]}"']
        if link.get("trace_state"):
            item.append(f'"traceState":{_q(link["trace_state"])}')
        if link.get("attributes"):
            item.append(f'"attributes":{_attributes_text(link["attributes"], adjust)}')
        if link.get("dropped_attributes_count"):
            item.append(f'"droppedAttributesCount":{link["dropped_attributes_count"]}')
        texts.append("{" + ",".join(item) + "}")
    return "[" + ",".join(texts) + "]"


def _otlp_span_texts(rows: list[list], adjust: bool) -> list[tuple]:
    """Rows as rendered spans in OTLP/JSON (see ``span_texts``)."""
    cache: dict = {}
    fields_cache: dict = {}
    out = []
    for (
        trace_id,
        start_ns,
        span_id,
        parent,
        name,
        kind,
        end_ns,
        status_code,
        status_message,
        resource_key,
        service,
        scope_name,
        scope_version,
        trace_state,
        flags,
        attributes,
        events,
        links,
        dropped,
        scope_attributes,
    ) in rows:
        # Each optional field's text is "" when absent (OTLP/JSON leaves out default values); one
        # f-string then writes the span.
        state_f = f',"traceState":{_q(trace_state)}' if trace_state else ""
        parent_f = f',"parentSpanId":"{parent}"' if parent else ""
        flags_f = f',"flags":{flags}' if flags else ""
        name_f = f',"name":{_q(name)}' if name else ""
        kind_f = f',"kind":{kind}' if kind else ""
        attributes_f = f',"attributes":{_attributes_text(attributes, adjust, cache)}' if attributes else ""
        events_f = f',"events":{_otlp_events_text(events, adjust, cache, fields_cache)}' if events else ""
        links_f = f',"links":{_otlp_links_text(links, adjust)}' if links else ""
        if dropped:
            attributes_f += f',"droppedAttributesCount":{dropped[0]}' if dropped[0] else ""
            events_f += f',"droppedEventsCount":{dropped[1]}' if dropped[1] else ""
            links_f += f',"droppedLinksCount":{dropped[2]}' if dropped[2] else ""
        if status_message:
            status = f'"message":{_q(status_message)}' + (f',"code":{status_code}' if status_code else "")
        else:
            status = f'"code":{status_code}' if status_code else ""
        scope_f = _attributes_text(scope_attributes, adjust, cache) if scope_attributes else ""
        out.append(
            (
                trace_id,
                start_ns,
                span_id,
                resource_key,
                service,
                scope_name,
                scope_version,
                scope_f,
                f'{{"traceId":"{trace_id}","spanId":"{span_id}"{state_f}{parent_f}{flags_f}{name_f}{kind_f},'
                f'"startTimeUnixNano":"{start_ns}","endTimeUnixNano":"{end_ns}"{attributes_f}{events_f}{links_f},'
                f'"status":{{{status}}}}}',
            )
        )
    return out


def otlp_resource_spans_json(store: TelemetryStore, trace_ids: list[str], *, adjust: bool = True) -> list[str]:
    """The traces' spans grouped by trace, resource, then scope, as OTLP/JSON ``ResourceSpans`` texts."""
    found = _cached_traces(
        store, trace_ids, OTLP, adjust, lambda _, spans, resources: _otlp_resource_spans(spans, resources, adjust)
    )
    return [text for tid in trace_ids for text in found.get(tid, ())]


def _otlp_resource_spans(trace_spans: list[tuple], resources: dict[str, dict], adjust: bool) -> list[str]:
    """One trace's rendered spans grouped by resource, then scope, as ``ResourceSpans`` texts."""
    out = []
    by_resource: dict[str, dict[tuple[str, str, str], list[str]]] = {}
    for span in trace_spans:
        scopes = by_resource.setdefault(span[_RESOURCE], {})
        scopes.setdefault((span[_SCOPE], span[_VERSION], span[_SCOPE_ATTRIBUTES]), []).append(span[_TEXT])
    for key, scopes in by_resource.items():
        resource = resources.get(key)
        resource_text = (
            f'{{"attributes":{_attributes_text(resource["attributes"], adjust)}}}'
            if resource and resource["attributes"]
            else "{}"
        )
        scope_texts = []
        for (name, version, scope_attributes), texts in scopes.items():
            scope = []
            if name:
                scope.append(f'"name":{_q(name)}')
            if version:
                scope.append(f'"version":{_q(version)}')
            if scope_attributes:
                scope.append(f'"attributes":{scope_attributes}')
            scope_texts.append(f'{{"scope":{{{",".join(scope)}}},"spans":[{",".join(texts)}]}}')
        out.append(f'{{"resource":{resource_text},"scopeSpans":[{",".join(scope_texts)}]}}')
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
    "otlp_resource_spans_json",
    "process_json",
    "span_texts",
    "tag_json",
    "ui_traces_json",
]
