"""The mock OpenAI-compatible provider, over real HTTP in a subprocess."""

import json
import time

import httpx
import pytest
from mock_llm_provider import MockProviderProcess, deterministic_reply

AUTH = {"authorization": "Bearer sk-test"}


@pytest.fixture(scope="module")
def provider():
    with MockProviderProcess(extra_args=("--rpm", "50")) as p:
        yield p


@pytest.fixture
def client(provider):
    provider.control("/control/reset", {})
    with httpx.Client(base_url=provider.base_url, headers=AUTH, timeout=10) as c:
        yield c


def chat(client, model="mock-gpt-4o-mini", **body):
    return client.post(
        "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hello"}], **body}
    )


def test_health_and_models(client):
    assert client.get("/health").json() == {"status": "ok"}
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert "mock-gpt-4o-mini" in ids


def test_chat_completion_is_deterministic_with_usage_and_ids(client):
    first, second = chat(client).json(), chat(client).json()
    assert first["choices"][0]["message"]["content"] == second["choices"][0]["message"]["content"]
    assert first["choices"][0]["message"]["content"] == deterministic_reply("mock-gpt-4o-mini", "hello")[0]
    assert first["id"].startswith("chatcmpl-") and first["id"] != second["id"]
    usage = first["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_rate_limit_headers_track_a_real_window(client):
    a, b = chat(client), chat(client)
    assert a.headers["x-ratelimit-limit-requests"] == "50"
    assert int(b.headers["x-ratelimit-remaining-requests"]) == int(a.headers["x-ratelimit-remaining-requests"]) - 1
    assert int(b.headers["x-ratelimit-remaining-tokens"]) < int(a.headers["x-ratelimit-remaining-tokens"])
    assert a.headers["x-ratelimit-reset-requests"].endswith("s")


def test_exhausted_window_answers_429(client):
    statuses = [chat(client).status_code for _ in range(52)]
    assert statuses[:50] == [200] * 50 and statuses[50:] == [429, 429]


def test_streaming_ends_with_usage_chunk_when_asked(client):
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": "mock-gpt-4o-mini",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hello"}],
        },
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == deterministic_reply("mock-gpt-4o-mini", "hello")[0]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_embeddings_float_and_base64(client):
    body = {"model": "mock-embed-small", "input": ["a", "b"]}
    floats = client.post("/v1/embeddings", json=body).json()
    assert len(floats["data"]) == 2 and len(floats["data"][0]["embedding"]) == 16
    encoded = client.post("/v1/embeddings", json={**body, "encoding_format": "base64"}).json()
    assert isinstance(encoded["data"][0]["embedding"], str)
    assert floats["usage"]["prompt_tokens"] > 0


def test_tool_call_when_tools_given_and_prompt_asks(client):
    tool = {
        "type": "function",
        "function": {
            "name": "search_web",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    }
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "mock-gpt-4o-mini",
            "tools": [tool],
            "messages": [{"role": "user", "content": "please search_web for otel"}],
        },
    ).json()
    choice = response["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "search_web" and "query" in json.loads(call["function"]["arguments"])
    plain = chat(client, tools=[tool]).json()["choices"][0]
    assert plain["finish_reason"] == "stop"


def test_faults_by_model_name(client):
    assert chat(client, "mock-429").status_code == 429
    assert chat(client, "mock-500").status_code == 500
    started = time.monotonic()
    assert chat(client, "mock-slow-300").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_faults_by_control_endpoint(client, provider):
    provider.control("/control/faults", {"next_429": 2, "latency_ms": 50})
    assert [chat(client).status_code for _ in range(3)] == [429, 429, 200]
    assert provider.control("/control/stats")["counts"]["fault_429"] == 2
    provider.control("/control/faults", {"latency_ms": 0, "error_rate": 1.0})
    assert chat(client).status_code == 500


def test_missing_key_is_rejected(provider):
    response = httpx.post(provider.base_url + "/v1/chat/completions", json={"model": "m", "messages": []})
    assert response.status_code == 401
