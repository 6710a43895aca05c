"""/api/v1/dashboard/llm-series: LLM usage per model over time, from spans sent through the real receiver."""

from __future__ import annotations

import pytest
from oracle_feed import Agents


@pytest.fixture
def fed(oracle_server):
    agents = Agents(oracle_server, service="llm-users")
    ratelimit = {"tokens.remaining": 900, "requests.remaining": 7}
    agents.llm("gpt-4o", input_tokens=100, output_tokens=20, cost=0.01, ratelimit=ratelimit)
    agents.llm("gpt-4o", input_tokens=50, output_tokens=5, cost=0.02, ratelimit={"tokens.remaining": 400})
    agents.llm("gpt-4o", error="RateLimitError", input_tokens=0, output_tokens=0)
    agents.llm("claude-sonnet-4", provider="anthropic", input_tokens=10, output_tokens=1, error="APIConnectionError")
    agents.close()
    client = oracle_server.client()
    oracle_server.wait_for(
        lambda: (
            len(client.get("/api/v1/dashboard/llm-series").json()["models"]) == 2
            and sum(client.get("/api/v1/dashboard/llm-series").json()["models"][1]["calls"]) == 3
        )
    )
    return client


def test_each_model_has_per_step_usage_errors_and_the_lowest_headroom(fed):
    body = fed.get("/api/v1/dashboard/llm-series", params={"window": "10m", "step": "1m"}).json()
    assert len(body["timestamps"]) == 10 and body["step_seconds"] == 60
    claude, gpt = body["models"]
    assert (gpt["model"], gpt["provider"]) == ("gpt-4o", "openai")
    assert (sum(gpt["calls"]), sum(gpt["errors"]), sum(gpt["rate_limited"])) == (3, 1, 1)
    assert (sum(gpt["input_tokens"]), sum(gpt["output_tokens"])) == (150, 25)
    assert sum(gpt["cost_usd"]) == pytest.approx(0.03)
    assert min(v for v in gpt["tokens_remaining"] if v is not None) == 400  # the lowest a provider reported
    assert [v for v in gpt["requests_remaining"] if v is not None] == [7]
    assert all(len(gpt[k]) == 10 for k in ("calls", "latency_p50_ms", "latency_p95_ms", "cost_usd"))
    assert (sum(claude["errors"]), sum(claude["rate_limited"])) == (1, 0)


@pytest.mark.parametrize("params", [{"window": "soon"}, {"step": "0s"}, {"window": "30d", "step": "1s"}])
def test_bad_windows_are_refused(oracle_server, params):
    response = oracle_server.client().get("/api/v1/dashboard/llm-series", params=params)
    assert response.status_code == 400
