"""What the ``telemetron`` command prints: JSON lines from watch, unknown token counts, debug's own help."""

from __future__ import annotations

import json

from oracle_feed import Agents, get_state
from test_cli import busy, run  # noqa: F401 - the fixture is used by name

__all__ = ["busy"]


def test_watch_in_json_prints_one_document_per_line(busy):  # noqa: F811
    result = run("--url", busy["url"], "--format", "json", "watch", "agents", "--interval", "0.1", "--iterations", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert all(isinstance(json.loads(line), list) for line in lines)


def test_trace_shows_known_token_counts_and_no_none_for_unknown_ones(oracle_server):
    agents = Agents(oracle_server, "agents")
    with agents.agent("writer", "t-1") as agent:
        agents.llm("gpt-4o", parent=agent)
        agents.llm("gpt-4o-mini", parent=agent, input_tokens=None, output_tokens=None)
    oracle_server.wait_for(lambda: get_state(oracle_server)["counts"]["tasks_completed"] >= 1)
    trace_id = format(agent.get_span_context().trace_id, "032x")
    result = run("--url", oracle_server.http_url, "trace", trace_id)
    assert result.returncode == 0, result.stderr
    [known] = [line for line in result.stdout.splitlines() if "chat gpt-4o " in line]
    [unknown] = [line for line in result.stdout.splitlines() if "chat gpt-4o-mini" in line]
    assert "tokens=100/50" in known
    assert "tokens" not in unknown and "None" not in result.stdout


def test_help_inside_a_debug_session_is_debugs_own(busy):  # noqa: F811
    result = run("--url", busy["url"], "debug", input="help\nquit\n")
    assert result.returncode == 0
    assert "usage: telemetron debug" in result.stdout
    assert "{state," not in result.stdout  # not the top-level help listing every subcommand
