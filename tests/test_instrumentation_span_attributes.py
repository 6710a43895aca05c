"""Adding the callback's attributes to its span in one update stores what the SDK's set_attributes stores."""

import logging
from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.version import __version__ as sdk_version
from telemetron_instrumentation import _span_attributes
from telemetron_instrumentation._span_attributes import set_built_attributes

AT_START: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "server.port": 443}
AT_END: dict[str, Any] = {
    "gen_ai.response.id": "chatcmpl-1",
    "gen_ai.response.finish_reasons": ("stop", "length"),
    "gen_ai.usage.input_tokens": 8,
    "telemetron.llm.ratelimit.requests.reset": 25.0,
    "telemetron.llm.usage.estimated": True,
}


def twin_spans(limits: SpanLimits | None = None):
    tracer = TracerProvider(span_limits=limits or SpanLimits()).get_tracer("tests")
    return tracer.start_span("ours", attributes=AT_START), tracer.start_span("sdk", attributes=AT_START)


def stored(span) -> list:
    """The span's attributes in order, with each value's type."""
    return [(key, value, type(value)) for key, value in span.attributes.items()]


def test_this_sdk_is_one_the_update_was_checked_against():
    # The supported range's both ends run this file: a new SDK series must be checked, then listed.
    assert _span_attributes.ENABLED, f"SDK {sdk_version} is not in VERIFIED_SDK_SERIES"


def test_the_update_stores_what_set_attributes_stores_and_skips_the_sdks_checks(monkeypatch):
    ours, sdk = twin_spans()
    set_built_attributes(ours, AT_END)
    sdk.set_attributes(AT_END)
    assert stored(ours) == stored(sdk)
    monkeypatch.setattr(type(ours), "set_attributes", lambda *_: pytest.fail("took the SDK's path"))
    ours2, _ = twin_spans()
    set_built_attributes(ours2, AT_END)
    assert stored(ours2) == stored(sdk)


@pytest.mark.parametrize(
    ("limits", "attributes"),
    [
        (SpanLimits(max_attribute_length=3), AT_END),  # strings are cut to the limit
        (SpanLimits(max_span_attributes=5), AT_END),  # the oldest attributes make room
        (SpanLimits(), {**AT_END, "gen_ai.request.model": "again"}),  # a key set again moves to the end
    ],
    ids=["value-length-limit", "attribute-count-limit", "key-already-set"],
)
def test_limits_and_keys_already_set_take_the_sdks_path_with_its_result(limits, attributes):
    ours, sdk = twin_spans(limits)
    set_built_attributes(ours, attributes)
    sdk.set_attributes(attributes)
    assert stored(ours) == stored(sdk)
    assert ours.dropped_attributes == sdk.dropped_attributes


def test_an_ended_span_is_left_as_the_sdk_leaves_it(caplog):
    ours, _ = twin_spans()
    ours.end()
    with caplog.at_level(logging.WARNING):
        set_built_attributes(ours, AT_END)
    assert dict(ours.attributes) == AT_START
    assert "ended span" in caplog.text


def test_an_sdk_not_checked_takes_the_sdks_path(monkeypatch):
    monkeypatch.setattr(_span_attributes, "ENABLED", False)
    ours, sdk = twin_spans()
    calls = []
    original = type(ours).set_attributes
    monkeypatch.setattr(type(ours), "set_attributes", lambda span, a: calls.append(span.name) or original(span, a))
    set_built_attributes(ours, AT_END)
    sdk.set_attributes(AT_END)
    assert calls == ["ours", "sdk"] and stored(ours) == stored(sdk)
