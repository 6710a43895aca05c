"""The dashboard in a real browser (Debian's headless Chromium driven by Playwright).

One oracle_api is fed a varied agent system through its real gRPC receiver (tests/dashboard_feed.py);
then each view is opened, acted on (search, open a trace, collapse and expand spans, pick a span,
filter issues, watch the live stream) and what it shows is asserted, with no console error, at
1400 and 800 px wide. Screenshots go to test-artifacts/. If Chromium cannot start, the tests fail:
they are never skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WIDE, NARROW = {"width": 1400, "height": 1000}, {"width": 800, "height": 1000}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from dashboard_feed import feed
    from oracle_fixtures import start_oracle

    running = start_oracle(tmp_path_factory.mktemp("dashboard") / "t.db")
    data = feed(running)
    client = running.client()
    running.wait_for(lambda: client.get(f"/api/v1/traces/{data['failed_trace']}").status_code == 200)
    running.wait_for(lambda: len(client.get("/api/v1/oracle/issues").json()["issues"]) >= 2)
    running.wait_for(lambda: client.get("/api/dependencies").json()["data"])
    yield running, data
    data["agents"].close()
    running.stop()


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, stack):
    """A fresh page at 1400 px; console errors and uncaught exceptions fail the test."""
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.base = stack[0].http_url
    yield page
    context.close()
    assert problems == []


def open_view(page, route: str) -> None:
    page.goto(f"{page.base}/#/{route}")


def field(page, name: str):
    """A control of the search form, by its name."""
    return page.locator(f'form.search [name="{name}"]')


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def test_trace_search_filters_sorts_and_opens_a_trace(page, stack):
    _, data = stack
    open_view(page, "traces")
    rows = page.get_by_test_id("trace-row")
    expect(rows.first).to_be_visible(timeout=15_000)
    assert rows.count() >= 5
    field(page, "status").select_option("error")
    field(page, "agent").fill("planner")
    page.get_by_test_id("search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-trace-id", data["failed_trace"])
    expect(rows.first).to_contain_text("3 errors")
    page.get_by_role("button", name="Reset").click()
    field(page, "sort").select_option("slowest")
    page.get_by_test_id("search").click()
    expect(rows.first).to_contain_text("invoke_workflow research_report")  # the simulated runs take about 3 s
    field(page, "attributes").fill("gen_ai.tool.name=parse_pdf")
    page.get_by_test_id("search").click()
    expect(rows).to_have_count(1)
    shot(page, "search")
    rows.first.get_by_role("link").click()
    expect(page.get_by_test_id("trace-view")).to_be_visible()
    expect(page.get_by_test_id("span-count")).to_have_text("7 spans")


def test_search_results_come_in_pages(page):
    open_view(page, "traces?limit=10")
    rows = page.get_by_test_id("trace-row")
    expect(rows).to_have_count(10, timeout=15_000)
    first_page = [rows.nth(i).get_attribute("data-trace-id") for i in range(10)]
    page.get_by_test_id("next-page").click()
    expect(rows.first).not_to_have_attribute("data-trace-id", first_page[0])
    second_page = [rows.nth(i).get_attribute("data-trace-id") for i in range(rows.count())]
    assert second_page and not set(second_page) & set(first_page)
    page.get_by_test_id("prev-page").click()
    expect(rows.first).to_have_attribute("data-trace-id", first_page[0])


def test_span_name_search_goes_through_jaeger_api_v3(page):
    open_view(page, "traces")
    field(page, "service").select_option("research-agents")
    field(page, "span_name").select_option("execute_tool parse_pdf")
    page.get_by_test_id("search").click()
    expect(page.get_by_test_id("trace-row")).to_have_count(1)
    expect(page.get_by_test_id("trace-row")).to_contain_text("invoke_agent planner")


def test_waterfall_collapses_expands_and_shows_span_detail(page, stack):
    _, data = stack
    open_view(page, f"trace/{data['failed_trace']}")
    rows = page.get_by_test_id("waterfall-row")
    expect(rows).to_have_count(7, timeout=15_000)
    expect(page.get_by_test_id("error-count")).to_have_text("3 errors")
    rows.first.get_by_test_id("twisty").click()
    expect(rows).to_have_count(1)
    rows.first.get_by_test_id("twisty").click()
    expect(rows).to_have_count(7)
    page.locator('[data-testid="waterfall-row"]', has_text="execute_tool parse_pdf").click()
    detail = page.get_by_test_id("span-detail")
    expect(detail.get_by_test_id("span-attributes")).to_contain_text("gen_ai.tool.name")
    expect(detail.get_by_test_id("span-attributes")).to_contain_text("parse_pdf")
    expect(detail.get_by_test_id("span-exception")).to_contain_text("ValueError")
    expect(detail.get_by_test_id("stacktrace")).to_contain_text("Traceback")
    expect(detail.get_by_test_id("span-resource")).to_contain_text("research-agents")
    expect(page.get_by_test_id("jaeger-link")).to_have_attribute("href", f"/api/traces/{data['failed_trace']}")
    expect(page.get_by_test_id("otlp-link")).to_have_attribute("href", f"/api/v3/traces/{data['failed_trace']}")
    expect(page.locator('[data-testid="graph-edge"][data-type="handoff"]')).to_have_count(1)
    shot(page, "trace")

    # Keyboard: focus the first row, move down, select with Enter, collapse the root with ←.
    rows.first.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator('[data-testid="waterfall-row"][aria-selected="true"]')).to_have_count(1)
    rows.first.focus()
    page.keyboard.press("ArrowLeft")
    expect(rows).to_have_count(1)
    page.keyboard.press("ArrowRight")
    expect(rows).to_have_count(7)


def test_trace_page_is_legible_at_800_px(page, stack):
    _, data = stack
    page.set_viewport_size(NARROW)
    open_view(page, f"trace/{data['failed_trace']}")
    rows = page.get_by_test_id("waterfall-row")
    expect(rows).to_have_count(7, timeout=15_000)
    box = rows.first.bounding_box()
    assert box["width"] > 700  # the waterfall keeps the page's width, it does not shrink to a strip
    sizes = page.evaluate(
        """() => [...document.querySelectorAll('.wf-label, .wf-dur')].map(e => parseFloat(getComputedStyle(e).fontSize))"""
    )
    assert min(sizes) >= 12
    # Duration labels do not overlap each other within a row, nor leave the track.
    overlaps = page.evaluate("""() => [...document.querySelectorAll('[data-testid=waterfall-row]')].filter(row => {
        const label = row.querySelector('.wf-dur').getBoundingClientRect(), track = row.querySelector('.wf-track').getBoundingClientRect();
        return label.left < track.left - 1 || label.right > track.right + 12; }).length""")
    assert overlaps == 0
    page.locator('[data-testid="waterfall-row"]', has_text="execute_tool search_web").click()
    expect(page.get_by_test_id("span-detail")).to_contain_text("TimeoutError")
    shot(page, "trace-800")


def test_agents_view_shows_running_tasks_capacity_and_failures(page):
    open_view(page, "agents")
    expect(page.locator('[data-testid="agent-row"][data-agent="planner"]')).to_be_visible(timeout=15_000)
    reviewer = page.locator('[data-testid="agent-row"][data-agent="reviewer"]')
    expect(reviewer).to_contain_text("1 / 1")
    expect(reviewer).to_contain_text("at capacity")
    expect(page.get_by_test_id("running-task").filter(has_text="task-9")).to_be_visible()
    expect(page.get_by_test_id("failed-tasks")).to_contain_text("writer")
    expect(page.get_by_test_id("failed-traces").get_by_role("link").first).to_be_visible()
    shot(page, "agents")


def test_llm_view_charts_usage_per_model(page):
    open_view(page, "llm")
    gpt = page.locator('[data-testid="model-row"][data-model="gpt-4o"]')
    expect(gpt).to_be_visible(timeout=15_000)
    expect(gpt).to_contain_text("900 tokens, 7 requests")  # rate-limit headroom from the provider's headers
    expect(gpt).to_contain_text("RateLimitError")
    charts = page.get_by_test_id("chart")
    expect(charts).to_have_count(8)
    expect(charts.first.locator("canvas")).to_be_visible()  # drawn by uPlot
    tokens = charts.filter(has_text="Tokens (input")
    assert int(tokens.get_attribute("data-points")) >= 2  # gpt-4o and gpt-4o-mini
    expect(charts.filter(has_text="Rate-limited calls")).to_have_attribute("data-points", "1")
    expect(tokens).to_contain_text("gpt-4o-mini")  # uPlot's legend names each model
    shot(page, "llm")
    page.set_viewport_size(NARROW)
    expect(charts.first.locator("canvas")).to_be_visible()
    assert charts.first.bounding_box()["width"] <= 800
    shot(page, "llm-800")


def test_queues_view_shows_depth_waits_and_blocked_by_chains(page):
    open_view(page, "queues")
    expect(page.locator('[data-testid="queue-row"][data-queue="work"]')).to_contain_text(
        "2 tasks waiting", timeout=15_000
    )
    task = page.locator('[data-testid="queue-task"][data-task="job-b"]')
    expect(task.get_by_test_id("blocked-by")).to_have_text("job-a")
    chained = page.locator('[data-testid="queue-task"][data-task="job-c"]')
    expect(chained.get_by_test_id("blocked-by")).to_have_text("job-b → job-a")  # followed to the end
    shot(page, "queues")


def test_issues_view_filters_and_opens_evidence(page, stack):
    _, data = stack
    open_view(page, "issues")
    issues = page.get_by_test_id("issue")
    expect(issues.first).to_be_visible(timeout=15_000)
    total = issues.count()
    assert total >= 2
    page.get_by_test_id("issue-kind").select_option("llm_rate_limited")
    expect(issues).to_have_count(1)
    expect(page.get_by_test_id("issue-count")).to_have_text(f"1 issue of {total}")
    issues.first.get_by_test_id("issue-toggle").click()
    detail = page.get_by_test_id("issue-detail")
    expect(detail).to_contain_text("First seen")
    expect(detail).to_contain_text("rate limited")
    shot(page, "issues")
    detail.get_by_test_id("issue-traces").get_by_role("link").first.click()
    expect(page.get_by_test_id("trace-view")).to_be_visible()
    assert data["failed_trace"] in page.url
    page.get_by_test_id("tab-issues").click()
    page.get_by_test_id("issue-search").fill("no such thing anywhere")
    expect(issues).to_have_count(0)


def test_dependencies_view_lists_calls_between_services(page):
    open_view(page, "dependencies")
    row = page.get_by_test_id("dependency-row").first
    expect(row).to_contain_text("agent-orchestrator", timeout=15_000)
    expect(row).to_contain_text("agent-workers")
    shot(page, "dependencies")


def test_live_view_groups_a_burst_into_one_readable_row(page, stack):
    running, data = stack
    open_view(page, "live")
    expect(page.get_by_test_id("live-connected")).to_be_visible(timeout=15_000)
    agents = data["agents"]
    with agents.agent("burster", "task-burst") as parent:
        for _ in range(60):
            agents.tool("lookup", parent=parent)
    group = page.get_by_test_id("live-item").filter(has_text="execute_tool lookup")
    expect(group).to_have_count(1, timeout=15_000)
    expect(group).to_contain_text("×60", timeout=15_000)
    expect(page.get_by_test_id("live-stats")).not_to_contain_text("1 messages")
    shot(page, "live")


def test_every_view_is_reachable_by_keyboard(page):
    open_view(page, "traces")
    expect(page.get_by_test_id("trace-row").first).to_be_visible(timeout=15_000)
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the home link
    for name in ("traces", "agents", "llm", "queues", "issues", "dependencies", "live"):
        page.keyboard.press("Tab")
        expect(page.get_by_test_id(f"tab-{name}")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("dependencies-view")).to_be_visible()


def test_a_token_in_the_fragment_is_used_and_leaves_the_address_bar(browser, tmp_path):
    from oracle_fixtures import start_oracle

    running = start_oracle(tmp_path / "token.db", api_token="s3cret-token")
    try:
        context = browser.new_context(viewport=WIDE)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{running.http_url}/#token=s3cret-token")
        expect(page.get_by_test_id("empty")).to_contain_text("No traces match", timeout=15_000)  # the API answered
        assert "s3cret" not in page.url
        page.get_by_test_id("tab-live").click()
        expect(page.get_by_test_id("live-connected")).to_be_visible(timeout=15_000)
        context.close()
        assert problems == []
    finally:
        running.stop()


def test_an_open_trace_shows_its_running_span_and_new_spans_as_they_arrive(page, stack):
    _, data = stack
    running_span = data["running"]
    trace_id = format(running_span.get_span_context().trace_id, "032x")
    open_view(page, f"trace/{trace_id}")
    rows = page.get_by_test_id("waterfall-row")
    expect(rows).to_have_count(1, timeout=15_000)
    expect(rows.first).to_contain_text("running")
    data["agents"].tool("fetch_reviews", parent=running_span)  # through the receiver, while the page is open
    expect(rows).to_have_count(2, timeout=15_000)
    expect(rows.nth(1)).to_contain_text("execute_tool fetch_reviews")


@pytest.mark.parametrize("view", ["traces", "agents", "llm", "queues", "issues", "dependencies", "live"])
def test_every_view_fits_800_px_without_a_page_wide_scrollbar(page, view):
    page.set_viewport_size(NARROW)
    open_view(page, view)
    expect(page.get_by_test_id(f"{view}-view")).to_be_visible(timeout=15_000)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= NARROW["width"]
    shot(page, f"{view}-800")


def test_simulate_sends_a_trace_and_opens_it(page):
    open_view(page, "traces")
    expect(page.get_by_test_id("trace-row").first).to_be_visible(timeout=15_000)
    page.get_by_test_id("simulate").click()
    expect(page.get_by_test_id("trace-view")).to_be_visible(timeout=15_000)
    expect(page.get_by_test_id("waterfall-row").filter(has_text="invoke_workflow research_report")).to_be_visible(
        timeout=15_000
    )
