"""A web page the user visits cannot use a loopback oracle_api; the dashboard, from its own origin, can.

Real headless Chromium (as in test_dashboard_browser.py): an "attacker" page served by a small
http.server on another port tries a cross-site text/plain POST, a JSON POST and a WebSocket.
Chromium's --host-resolver-rules maps attacker.test to 127.0.0.1, which is where a DNS-rebinding
attack ends: a page whose origin is attacker.test:<oracle's port> talking to oracle_api.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator

import pytest
from oracle_fixtures import RunningOracle, start_oracle
from playwright.sync_api import Browser, expect, sync_playwright
from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

TOKEN = "browser-s3cret"

# Runs in a page: what each attempt against oracle_api at `base` came to.
ATTEMPTS = """async (base) => {
  const outcome = {};
  const post = async (options) => {
    try { return (await fetch(base + "/api/v1/debug/simulate-trace", { method: "POST", ...options })).status; }
    catch (e) { return "blocked"; }
  };
  // A simple request: sent without a preflight; no-cors hides the answer but not the effect.
  outcome.post_text = await post({ mode: "no-cors", body: '{"error": true}' });
  outcome.post_json = await post({ headers: { "Content-Type": "application/json" }, body: "{}" });
  outcome.read_state = await fetch(base + "/api/v1/oracle/state").then((r) => r.status, () => "blocked");
  outcome.websocket = await new Promise((resolve) => {
    const ws = new WebSocket(base.replace(/^http/, "ws") + "/ws/debug/from-a-page");
    ws.onmessage = (event) => { resolve(JSON.parse(event.data).type); ws.close(); };
    ws.onerror = () => resolve("error");
    ws.onclose = () => resolve("closed");
  });
  return outcome;
}"""


@pytest.fixture
def oracle(tmp_path) -> Iterator[RunningOracle]:
    """oracle_api without a token on loopback; simulated runs go to its own receiver."""
    running = start_oracle(tmp_path / "browser.db")
    services = running.oracle.services
    services.settings = services.settings.model_copy(update={"simulate_otlp_endpoint": running.grpc_endpoint})
    yield running
    running.stop()


@pytest.fixture
def attacker_site(tmp_path) -> Iterator[str]:
    """Another site: a page on another loopback port (another port is another origin)."""
    (tmp_path / "index.html").write_text("<!doctype html><html><body><h1>cute cats</h1></body></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP attacker.test 127.0.0.1"]
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield chromium
        chromium.close()


def test_a_page_from_another_site_can_neither_write_nor_stream(oracle, attacker_site, browser):
    page = browser.new_page()
    page.goto(attacker_site)
    outcome = page.evaluate(ATTEMPTS, oracle.http_url)
    assert outcome == {"post_text": 0, "post_json": "blocked", "read_state": "blocked", "websocket": "error"}
    assert oracle.oracle.receiver.stats.traces.requests == 0  # no trace was injected
    refused = oracle.oracle.services.http_refusals
    assert (
        refused.bad_origin == 2
    )  # the text/plain POST (the JSON one never left: its preflight failed) and the WebSocket


def test_a_dns_rebinding_page_gets_nothing(oracle, browser):
    port = oracle.http_url.rsplit(":", 1)[1]
    page = browser.new_page()
    response = page.goto(f"http://attacker.test:{port}/")
    assert response is not None and response.status == 400
    outcome = page.evaluate(ATTEMPTS, f"http://attacker.test:{port}")  # same origin as the page: no browser rule helps
    assert outcome == {"post_text": 400, "post_json": 400, "read_state": 400, "websocket": "error"}
    assert oracle.oracle.receiver.stats.traces.requests == 0
    assert oracle.oracle.services.http_refusals.bad_host >= 5


def test_the_dashboard_origin_can_write_and_stream(oracle, browser):
    page = browser.new_page()
    page.goto(oracle.http_url + "/")
    outcome = page.evaluate(ATTEMPTS, oracle.http_url)
    assert outcome == {"post_text": 415, "post_json": 200, "read_state": 200, "websocket": "subscribed"}
    assert oracle.oracle.services.http_refusals.not_json == 1  # the text/plain body, even from its own origin


def test_the_dashboard_takes_its_token_from_the_fragment_and_never_puts_it_in_a_url(tmp_path, browser):
    running = start_oracle(tmp_path / "guarded.db", api_token=TOKEN)
    services = running.oracle.services
    services.settings = services.settings.model_copy(update={"simulate_otlp_endpoint": running.grpc_endpoint})
    try:
        page = browser.new_page()
        urls: list[str] = []
        page.on("request", lambda request: urls.append(request.url))
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(f"{running.http_url}/#token={TOKEN}")
        page.get_by_test_id("simulate").click()  # a POST with the token, through the receiver (token too)
        expect(page.get_by_test_id("waterfall-row").first).to_be_visible(timeout=15_000)  # opens the stored trace
        assert TOKEN not in page.url  # gone from the address bar
        page.reload()  # kept for the tab
        expect(page.get_by_test_id("waterfall-row").first).to_be_visible(timeout=15_000)
        page.get_by_test_id("tab-live").click()  # the WebSocket
        expect(page.get_by_test_id("live-connected")).to_be_visible(timeout=15_000)
        http_urls = [u for u in urls if "#" not in u]
        assert http_urls and not [u for u in http_urls if TOKEN in u], urls
        assert sockets and all(f"token={TOKEN}" in u for u in sockets)  # only where a browser has no header
        assert running.oracle.services.http_refusals.bad_token == 0
        assert running.oracle.services.grpc_refusals.unauthenticated == 0
    finally:
        running.stop()
