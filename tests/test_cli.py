"""The real ``telemetron`` command against a running oracle_api (the in-process fixture's URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from oracle_feed import Agents, assert_valid, get_state, pod_resource, send_metrics
from oracle_fixtures import start_oracle

TELEMETRON = str(Path(sys.executable).parent / "telemetron")


def run(*args: str, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRON_")}
    environment.update(env or {})
    return subprocess.run([TELEMETRON, *args], capture_output=True, text=True, timeout=60, input=input, env=environment)


@pytest.fixture
def busy(oracle_server):
    """A system with a running agent, a failed task, a queued task, an LLM model and a pod."""
    agents = Agents(oracle_server, "agents", **{"k8s.deployment.name": "agents"})
    running = agents.start_agent("writer", "t-run", max_parallel=2, models=["gpt-4o"])
    with agents.agent("writer", "t-bad", error="ToolError") as failed:
        agents.llm("gpt-4o", parent=failed, cost=0.05, ratelimit={"tokens.limit": 30000, "tokens.remaining": 20000})
        agents.tool("search_web", parent=failed, error="TimeoutError")
    agents.send("review", "rev-1", priority="high", submitted_by="writer", prompt="check the draft")
    send_metrics(
        oracle_server.grpc_endpoint,
        pod_resource("agents", "agents-7d9c8b6f5d-aaaaa"),
        [("k8s.pod.phase", 2), ("k8s.pod.cpu.usage", 0.1), ("k8s.pod.memory.working_set", 64 * 1024 * 1024)],
    )
    oracle_server.wait_for(
        lambda: (
            (s := get_state(oracle_server))
            and s["queues"]
            and s["workload"]
            and s["litellm"]
            and s["counts"]["tasks_failed"] == 1
        )
    )
    yield {"url": oracle_server.http_url, "failed_trace": format(failed.get_span_context().trace_id, "032x")}
    running.end()


def test_state_prints_the_compact_log_and_json_is_the_schema_document(busy):
    text = run("--url", busy["url"], "state")
    assert text.returncode == 0, text.stderr
    assert "AGENT writer deploy=agents running=1/2" in text.stdout and "QUEUE review pending=1" in text.stdout
    as_json = run("state", "--url", busy["url"], "--format", "json")
    assert_valid(json.loads(as_json.stdout))


def test_agents_table_and_one_agent_with_its_trace_ids(busy):
    table = run("--url", busy["url"], "agents")
    assert table.returncode == 0
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["AGENT", "DEPLOYMENT", "RUNNING", "WAITING", "DONE", "FAILED", "MODELS", "UPDATED"]
    assert row.split()[:6] == ["writer", "agents", "1/2", "0", "0", "1"]
    detail = run("--url", busy["url"], "agents", "writer")
    assert "t-run" in detail.stdout and busy["failed_trace"] in detail.stdout and "ToolError" in detail.stdout
    missing = run("--url", busy["url"], "agents", "nobody")
    assert missing.returncode == 2 and "no agent named 'nobody'" in missing.stderr


def test_workload_queues_and_llm_views(busy):
    workload = run("--url", busy["url"], "workload")
    assert "agents: 1/1 pods available" in workload.stdout and "agents-7d9c8b6f5d-aaaaa  Running" in workload.stdout
    queues = run("--url", busy["url"], "queues")
    assert "review: 1 pending" in queues.stdout and "rev-1" in queues.stdout and "check the draft" in queues.stdout
    llm = run("--url", busy["url"], "llm", "--format", "json")
    [model] = json.loads(llm.stdout)
    assert (model["model"], model["tpm_max"]) == ("gpt-4o", 30000)
    table = run("--url", busy["url"], "llm").stdout.splitlines()
    assert table[1].split()[:5] == ["gpt-4o", "openai", "150/30000", "1/0", "20000"]


def test_issues_exit_1_on_error_issues_and_0_when_there_are_none(tmp_path):
    oracle = start_oracle(tmp_path / "t.db", tool_failure_threshold=1)
    try:
        clean = run("--url", oracle.http_url, "issues")
        assert (clean.returncode, clean.stdout.strip()) == (0, "No issues detected.")
        agents = Agents(oracle)
        with agents.agent("researcher") as span:
            agents.tool("search_web", parent=span, error="TimeoutError")
        oracle.wait_for(lambda: oracle.client().get("/api/v1/oracle/issues").json()["count"])
        found = run("--url", oracle.http_url, "issues")
        assert found.returncode == 1
        assert "ERROR    tool_failing  tool=search_web" in found.stdout and "next: telemetron trace" in found.stdout
        as_json = json.loads(run("--url", oracle.http_url, "issues", "--format", "json").stdout)
        assert as_json["issues"][0]["entity"] == {"type": "tool", "name": "search_web"}
        only_warnings = run("--url", oracle.http_url, "issues", "--severity", "critical")
        assert only_warnings.returncode == 0
    finally:
        oracle.stop()


def test_diagnose_gives_summary_issues_and_drill_down_hints(busy):
    result = run("--url", busy["url"], "diagnose")
    assert result.returncode == 0, result.stdout  # nothing error-level in the busy system
    assert "System: 1 agents (1 tasks running, 0 waiting, 1 failed recently)" in result.stdout
    assert "Drill down:" in result.stdout and "telemetron trace <trace_id>" in result.stdout


def test_trace_drills_down_into_one_trace(busy):
    result = run("--url", busy["url"], "trace", busy["failed_trace"])
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"trace {busy['failed_trace']}: 3 spans"
    assert lines[1].startswith("- invoke_agent writer") and "ERROR ToolError" in lines[1]
    assert any(line.startswith("  - chat gpt-4o") for line in lines)


def test_trace_shows_spans_still_running_and_never_none_tokens(oracle_server):
    agents = Agents(oracle_server)
    agent = agents.start_agent("writer", "t-open")  # open, known from its pending record
    tool = agents.start("execute_tool fetch", {"gen_ai.operation.name": "execute_tool"}, parent=agent)
    trace_id = format(agent.get_span_context().trace_id, "032x")
    oracle_server.wait_for(
        lambda: len(oracle_server.client().get(f"/api/v1/traces/{trace_id}").json().get("active_spans", [])) == 2
    )
    only_running = run("--url", oracle_server.http_url, "trace", trace_id)
    assert only_running.returncode == 0, only_running.stderr
    lines = only_running.stdout.splitlines()
    assert lines[0] == f"trace {trace_id}: 2 spans (2 in progress)"
    assert lines[1].startswith("- invoke_agent writer  [RUNNING for ") and "agent=writer" in lines[1]
    assert lines[2].startswith("  - execute_tool fetch  [RUNNING for ")
    agents.llm("gpt-4o", parent=tool, input_tokens=None, output_tokens=None)  # a call that reported no usage
    oracle_server.wait_for(lambda: oracle_server.client().get(f"/api/v1/traces/{trace_id}").json()["spans"])
    result = run("--url", oracle_server.http_url, "trace", trace_id)
    assert result.stdout.splitlines()[0] == f"trace {trace_id}: 3 spans (2 in progress)"
    llm_line = next(line for line in result.stdout.splitlines() if "chat gpt-4o" in line)
    assert llm_line.startswith("    - chat gpt-4o") and "model=gpt-4o" in llm_line
    assert "tokens=" not in llm_line and "None" not in result.stdout
    tool.end()
    agent.end()


def test_debug_help_prints_the_debug_commands_help_only(busy):
    result = run("--url", busy["url"], "debug", input="help\nquit\n")
    assert result.returncode == 0
    assert "usage: telemetron debug" in result.stdout
    assert "usage: telemetron [" not in result.stdout and "serve" not in result.stdout.split("Commands:")[0]


def test_diff_lists_what_changed_since_a_snapshot(tmp_path):
    oracle = start_oracle(tmp_path / "t.db", snapshot_interval_s=0.2, snapshot_min_gap_s=0.1)
    try:
        agents = Agents(oracle)
        span = agents.start_agent("writer", "t-1")
        oracle.wait_for(
            lambda: oracle.client().get("/api/v1/oracle/snapshots").json()["count"] and get_state(oracle)["agents"]
        )
        at = {"at": "2100-01-01T00:00:00Z"}
        snapshot = oracle.wait_for(
            lambda: (s := oracle.client().get("/api/v1/oracle/state", params=at).json()).get("agents") and s
        )["snapshot"]
        span.end()
        oracle.wait_for(lambda: get_state(oracle)["counts"]["tasks_completed"] == 1)
        result = run("--url", oracle.http_url, "diff", "--since", str(snapshot["id"]))
        assert result.returncode == 0, result.stderr
        assert f"changes since snapshot {snapshot['id']}" in result.stdout
        assert "remove  /agents/writer/activity/active_task_ids/t-1" in result.stdout
        young = run("--url", oracle.http_url, "diff", "--since", "10m")  # the stack is younger than that
        assert (
            young.returncode == 0 and "(no snapshot at or before 10m: diffed from the first snapshot)" in young.stdout
        )
        assert 'add     /agents/writer/activity/recent_tasks/t-1 {"id": "t-1"' in result.stdout
    finally:
        oracle.stop()


def test_watch_refreshes_a_bounded_number_of_times(busy):
    result = run("--url", busy["url"], "watch", "agents", "--interval", "0.1", "--iterations", "3")
    assert result.returncode == 0
    assert result.stdout.count("--- ") == 3 and result.stdout.count("writer") >= 3
    as_json = run("--url", busy["url"], "--format", "json", "watch", "llm", "--interval", "0.1", "--iterations", "2")
    assert len([line for line in as_json.stdout.splitlines() if line.startswith("[")]) == 2


def test_debug_session_runs_commands_typed_on_stdin(busy):
    result = run("--url", busy["url"], "debug", input="agents\nllm\nnonsense\nquit\n")
    assert result.returncode == 0
    assert "telemetron debug session" in result.stdout and "writer" in result.stdout and "gpt-4o" in result.stdout


def test_validate_command(busy):
    result = run("--url", busy["url"], "validate")
    assert (result.returncode, result.stdout.strip()) == (0, "state is valid against oracle-state.schema.json")


def test_url_and_token_from_environment_and_clear_errors(tmp_path):
    oracle = start_oracle(tmp_path / "t.db", api_token="s3cret")
    try:
        denied = run("issues", env={"TELEMETRON_URL": oracle.http_url})
        assert denied.returncode == 2 and "API token" in denied.stderr
        allowed = run("issues", env={"TELEMETRON_URL": oracle.http_url, "TELEMETRON_API_TOKEN": "s3cret"})
        assert allowed.returncode == 0
        assert run("--url", oracle.http_url, "--token", "s3cret", "agents").returncode == 0
    finally:
        oracle.stop()
    unreachable = run("--url", "http://127.0.0.1:9", "state")
    assert unreachable.returncode == 2 and "cannot reach oracle_api at http://127.0.0.1:9" in unreachable.stderr


def test_client_commands_do_not_import_the_server():
    """The CLI must run from the agent-side install (no FastAPI, gRPC, SQLite store)."""
    code = (
        "import sys; from telemetron_oracle_api import cli; cli.build_parser();"
        "bad = [m for m in ('fastapi', 'grpc', 'uvicorn', 'telemetron_oracle_api.server') if m in sys.modules];"
        "print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
