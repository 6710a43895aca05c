"""The dashboard in a real browser (Debian's headless Chromium driven by Playwright).

A person opens the page, sees a trace in the list, opens it, sees its waterfall and agent graph,
and sees a new span of that trace appear live. Screenshots go to test-artifacts/. If Chromium
cannot start, the test fails: it is never skipped.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from playwright.sync_api import expect, sync_playwright

from otlp_builders import TRACE_EXPORT, kv

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TRACE = 0xD1A5
MS = 1_000_000
T0 = time.time_ns() - 5_000 * MS


def sp(n: int, parent: int | None, name: str, start_ms: int, end_ms: int, error: bool = False, **attrs) -> Span:
    span = Span(
        trace_id=TRACE.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=T0 + start_ms * MS,
        end_time_unix_nano=T0 + end_ms * MS,
        attributes=[kv(k, v) for k, v in attrs.items()],
    )
    if error:
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="timeout"))
    return span


def agent(n, parent, name, start, end):
    return sp(n, parent, f"invoke_agent {name}", start, end, **{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name})


def request(*spans: Span) -> bytes:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    rs.resource.attributes.append(kv("service.name", "browser-demo"))
    return ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString()


FIRST = request(
    agent(1, None, "orchestrator", 0, 3000),
    sp(2, 1, "chat gpt-4o", 10, 400, **{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                         "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30}),
    sp(3, 1, "execute_tool transfer_to_researcher", 410, 2000, **{
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "transfer_to_researcher",
        "gen_ai.agent.handoff.source.name": "orchestrator", "gen_ai.agent.handoff.target.name": "researcher"}),
    agent(4, 3, "researcher", 420, 1990),
    sp(5, 4, "execute_tool search_web", 430, 1500, error=True, **{"gen_ai.operation.name": "execute_tool",
                                                                  "gen_ai.tool.name": "search_web"}),
)  # fmt: skip
LATER = request(sp(6, 1, "execute_tool publish_report", 2100, 2900, **{"gen_ai.operation.name": "execute_tool",
                                                                        "gen_ai.tool.name": "publish_report"}))  # fmt: skip


@pytest.fixture
def export(oracle_server):
    channel = grpc.insecure_channel(oracle_server.grpc_endpoint)
    call = channel.unary_unary(TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString)
    yield lambda raw: call(raw, timeout=30)
    channel.close()


def test_dashboard_shows_a_trace_its_waterfall_graph_and_live_spans(oracle_server, export):
    ARTIFACTS.mkdir(exist_ok=True)
    export(FIRST)
    trace_id = f"{TRACE:032x}"
    client = oracle_server.client()
    oracle_server.wait_for(lambda: client.get(f"/api/v1/traces/{trace_id}").status_code == 200)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(oracle_server.http_url + "/")
            row = page.locator(f'[data-testid="trace-row"][data-trace-id="{trace_id}"]')
            expect(row).to_be_visible(timeout=15_000)
            expect(row).to_contain_text("invoke_agent orchestrator")
            expect(page.get_by_test_id("oracle")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "dashboard-list.png"))

            row.click()
            expect(page.get_by_test_id("waterfall-bar")).to_have_count(5, timeout=15_000)
            expect(page.locator('[data-testid="waterfall-row"][data-step="handoff"]')).to_have_count(1)
            expect(page.locator('[data-testid="graph-node"][data-node-id="agent:researcher"]')).to_be_visible()
            expect(page.locator('[data-testid="graph-node"][data-node-id="tool:search_web"]')).to_be_visible()
            expect(page.locator('[data-testid="graph-edge"][data-type="handoff"]')).to_have_count(1)
            expect(page.get_by_test_id("jaeger-link")).to_have_attribute("href", f"/api/traces/{trace_id}")
            page.screenshot(path=str(ARTIFACTS / "dashboard-trace.png"), full_page=True)

            expect(page.get_by_test_id("live-connected")).to_be_visible(timeout=15_000)
            export(LATER)  # a new span of the open trace, through the receiver
            expect(page.get_by_test_id("live-item").filter(has_text="execute_tool publish_report")).to_be_visible(timeout=15_000)
            expect(page.get_by_test_id("waterfall-bar")).to_have_count(6, timeout=15_000)
            expect(page.locator('[data-testid="graph-node"][data-node-id="tool:publish_report"]')).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "dashboard-live.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
