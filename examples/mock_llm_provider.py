"""A local OpenAI-compatible LLM provider over real HTTP, for demos, tests and benchmarks.

Answers are deterministic (derived from the prompt), usage is counted, and every response carries
``x-ratelimit-*`` headers from a real per-minute window. Faults are injected by model name
(``mock-429``, ``mock-500``, ``mock-slow-<ms>``) or through ``POST /control/faults``.

    python examples/mock_llm_provider.py --host 127.0.0.1 --port 8089
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import math
import os
import random
import secrets
import socket
import string
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

_ID_ALPHABET = string.ascii_letters + string.digits
_MODELS = ("mock-gpt-4o-mini", "mock-gpt-4o", "mock-embed-small", "mock-429", "mock-500", "mock-slow-250")
_WORDS = (
    "agents coordinate through queues while the orchestrator tracks progress and cost "
    "each tool call returns structured results that the writer turns into clear prose "
    "latency budgets matter because retries multiply load on shared rate limits "
    "observability means the state of every task is visible before it finishes"
).split()


@dataclass
class ProviderConfig:
    """Limits of the simulated account; the window is one wall-clock minute."""

    requests_per_minute: int = 10_000
    tokens_per_minute: int = 2_000_000
    embedding_dimensions: int = 16


@dataclass
class Faults:
    """Injected failures, changed at run time through ``POST /control/faults``."""

    next_429: int = 0
    next_500: int = 0
    latency_ms: float = 0.0
    error_rate: float = 0.0
    stream_chunk_delay_ms: float = 0.0
    seed: int = 0


@dataclass
class _Window:
    started: float = 0.0
    requests: int = 0
    tokens: int = 0


@dataclass
class ProviderState:
    config: ProviderConfig
    faults: Faults = field(default_factory=Faults)
    window: _Window = field(default_factory=_Window)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def _roll_window(self, now: float) -> None:
        start = math.floor(now / 60.0) * 60.0
        if start != self.window.started:
            self.window = _Window(started=start)

    def admit(self, tokens: int) -> tuple[bool, dict[str, str]]:
        """Charge one request and ``tokens`` to the current window; False when over the limit."""
        with self.lock:
            now = time.time()
            self._roll_window(now)
            cfg, w = self.config, self.window
            over = w.requests + 1 > cfg.requests_per_minute or w.tokens + tokens > cfg.tokens_per_minute
            if not over:
                w.requests += 1
                w.tokens += tokens
            return not over, self._headers(now)

    def _headers(self, now: float) -> dict[str, str]:
        cfg, w = self.config, self.window
        reset = _duration(max(0.0, w.started + 60.0 - now))
        return {
            "x-ratelimit-limit-requests": str(cfg.requests_per_minute),
            "x-ratelimit-remaining-requests": str(max(0, cfg.requests_per_minute - w.requests)),
            "x-ratelimit-reset-requests": reset,
            "x-ratelimit-limit-tokens": str(cfg.tokens_per_minute),
            "x-ratelimit-remaining-tokens": str(max(0, cfg.tokens_per_minute - w.tokens)),
            "x-ratelimit-reset-tokens": reset,
        }

    def headers_now(self) -> dict[str, str]:
        with self.lock:
            now = time.time()
            self._roll_window(now)
            return self._headers(now)

    def take_fault(self, model: str) -> int | None:
        """The HTTP status to fail this request with, if any (model-name faults first)."""
        if model == "mock-429":
            return 429
        if model == "mock-500":
            return 500
        with self.lock:
            f = self.faults
            if f.next_429 > 0:
                f.next_429 -= 1
                return 429
            if f.next_500 > 0:
                f.next_500 -= 1
                return 500
            if f.error_rate > 0 and self.rng.random() < f.error_rate:
                return 500
        return None


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1s``, ``6m0s``."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    minutes, secs = divmod(int(math.ceil(seconds)), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _new_id(prefix: str, length: int = 29) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def count_tokens(text: str) -> int:
    """About four characters a token, like the usual English estimate."""
    return max(1, (len(text) + 3) // 4)


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _prompt_tokens(messages: list[dict]) -> int:
    return sum(count_tokens(_text_of(m.get("content"))) + 4 for m in messages) + 3


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def deterministic_reply(model: str, prompt: str, max_words: int | None = None) -> tuple[str, str]:
    """A reply that depends only on model and prompt, and its finish reason."""
    d = _digest(model, prompt)
    n_words = 12 + d[0] % 24
    words = [_WORDS[b % len(_WORDS)] for b in (d * 2)[1 : 1 + n_words]]
    words[0] = words[0].capitalize()
    finish = "stop"
    if max_words is not None and max_words < len(words):
        words, finish = words[:max_words], "length"
    return " ".join(words) + ".", finish


def _wants_tool(prompt: str, tools: list[dict], tool_choice: Any) -> dict | None:
    if not tools or tool_choice == "none":
        return None
    functions = [t.get("function", {}) for t in tools if t.get("type", "function") == "function"]
    if isinstance(tool_choice, dict):
        wanted = tool_choice.get("function", {}).get("name")
        return next((f for f in functions if f.get("name") == wanted), None)
    lowered = prompt.lower()
    named = next((f for f in functions if f.get("name", "").lower() in lowered), None)
    if named:
        return named
    if tool_choice == "required" or any(w in lowered for w in ("use a tool", "use the tool", "call the tool")):
        return functions[0] if functions else None
    return None


def _tool_arguments(function: dict, prompt: str) -> str:
    params = function.get("parameters") or {}
    props: dict = params.get("properties") or {}
    required = params.get("required") or list(props)
    args: dict[str, Any] = {}
    for name in required:
        kind = (props.get(name) or {}).get("type", "string")
        if kind in ("integer", "number"):
            args[name] = _digest(prompt, name)[0] % 10 + 1
        elif kind == "boolean":
            args[name] = True
        else:
            args[name] = " ".join(prompt.split()[:6])
    return json.dumps(args)


def create_app(config: ProviderConfig | None = None) -> FastAPI:
    """The FastAPI application; ``config`` sets the simulated account limits."""
    state = ProviderState(config=config or ProviderConfig())
    app = FastAPI(title="Telemetron mock LLM provider")
    app.state.provider = state

    def error(status: int, message: str, kind: str, headers: dict[str, str]) -> JSONResponse:
        code = {429: "rate_limit_exceeded", 500: "server_error", 401: "invalid_api_key"}.get(status)
        if status == 429:
            headers = {**headers, "retry-after": "1"}
        return JSONResponse(
            {"error": {"message": message, "type": kind, "param": None, "code": code}},
            status_code=status,
            headers=headers,
        )

    async def preflight(request: Request, model: str, tokens: int) -> JSONResponse | dict[str, str]:
        """Auth, latency, faults and the rate window; returns an error response or the headers."""
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return error(401, "Missing bearer token.", "invalid_request_error", {})
        delay = state.faults.latency_ms
        if model.startswith("mock-slow-"):
            try:
                delay += float(model.removeprefix("mock-slow-"))
            except ValueError:
                pass
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        status = state.take_fault(model)
        if status == 429:
            state.count("fault_429")
            return error(429, "Rate limit reached (injected).", "requests", state.headers_now())
        if status is not None:
            state.count(f"fault_{status}")
            return error(status, "The server had an error (injected).", "server_error", state.headers_now())
        admitted, headers = state.admit(tokens)
        if not admitted:
            state.count("limit_429")
            return error(429, "Rate limit reached for requests per minute.", "requests", headers)
        headers["x-request-id"] = "req_" + secrets.token_hex(16)
        return headers

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 1700000000, "owned_by": "telemetron"} for m in _MODELS],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        model = str(body.get("model", "mock-gpt-4o-mini"))
        messages: list[dict] = body.get("messages") or []
        state.count("chat")
        prompt_tokens = _prompt_tokens(messages)
        max_out = body.get("max_completion_tokens") or body.get("max_tokens")
        pre = await preflight(request, model, prompt_tokens + int(max_out or 64))
        if isinstance(pre, JSONResponse):
            return pre
        last = messages[-1] if messages else {"role": "user", "content": ""}
        prompt = _text_of(last.get("content"))
        tool = (
            None
            if last.get("role") == "tool"
            else _wants_tool(prompt, body.get("tools") or [], body.get("tool_choice"))
        )
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if tool is not None:
            call: dict[str, Any] = {
                "id": _new_id("call_", 24),
                "type": "function",
                "function": {"name": tool.get("name", ""), "arguments": _tool_arguments(tool, prompt)},
            }
            message["tool_calls"] = [call]
            finish, completion_tokens = "tool_calls", count_tokens(call["function"]["arguments"]) + 8
        else:
            if last.get("role") == "tool":
                prompt = "tool result: " + prompt
            content, finish = deterministic_reply(model, prompt, int(max_out) if max_out else None)
            message["content"] = content
            completion_tokens = count_tokens(content)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }
        base = {
            "id": _new_id("chatcmpl-"),
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_" + _digest(model).hex()[:10],
        }
        if not body.get("stream"):
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "service_tier": "default",
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                    "usage": usage,
                },
                headers=pre,
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            _stream_chat(state, base, message, finish, usage, include_usage),
            media_type="text/event-stream",
            headers=pre,
        )

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await request.json()
        model = str(body.get("model", "mock-gpt-4o-mini"))
        prompts = body.get("prompt") or ""
        prompts = prompts if isinstance(prompts, list) else [prompts]
        state.count("completions")
        prompt_tokens = sum(count_tokens(str(p)) for p in prompts)
        pre = await preflight(request, model, prompt_tokens + int(body.get("max_tokens") or 16))
        if isinstance(pre, JSONResponse):
            return pre
        choices, completion_tokens = [], 0
        for i, p in enumerate(prompts):
            text, finish = deterministic_reply(model, str(p), body.get("max_tokens"))
            completion_tokens += count_tokens(text)
            choices.append({"index": i, "text": " " + text, "logprobs": None, "finish_reason": finish})
        return JSONResponse(
            {
                "id": _new_id("cmpl-"),
                "object": "text_completion",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
            headers=pre,
        )

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        body = await request.json()
        model = str(body.get("model", "mock-embed-small"))
        raw = body.get("input")
        inputs = raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
        texts = [" ".join(map(str, x)) if isinstance(x, list) else str(x) for x in inputs]
        state.count("embeddings")
        tokens = sum(count_tokens(t) for t in texts)
        pre = await preflight(request, model, tokens)
        if isinstance(pre, JSONResponse):
            return pre
        dims = int(body.get("dimensions") or state.config.embedding_dimensions)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(texts):
            vector = _embedding(model, text, dims)
            value: Any = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": i, "embedding": value})
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
            headers=pre,
        )

    @app.get("/control/faults")
    async def get_faults() -> dict:
        return asdict(state.faults)

    @app.post("/control/faults")
    async def set_faults(request: Request) -> dict:
        """Merge the given fields into the fault state, e.g. ``{"next_429": 3, "latency_ms": 200}``."""
        body = await request.json()
        with state.lock:
            for key, value in body.items():
                if hasattr(state.faults, key):
                    setattr(state.faults, key, type(getattr(state.faults, key))(value))
            if "seed" in body:
                state.rng.seed(state.faults.seed)
        return asdict(state.faults)

    @app.post("/control/reset")
    async def reset() -> dict:
        """Clear faults, counters and the rate window."""
        with state.lock:
            state.faults, state.window, state.counts = Faults(), _Window(), {}
            state.rng.seed(0)
        return {"status": "reset"}

    @app.get("/control/stats")
    async def stats() -> dict:
        return {"counts": dict(state.counts), "window": asdict(state.window), "limits": asdict(state.config)}

    return app


async def _stream_chat(state: ProviderState, base: dict, message: dict, finish: str, usage: dict, include_usage: bool):
    delay = state.faults.stream_chunk_delay_ms / 1000.0

    def chunk(delta: dict, finish_reason: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        payload = {**base, "object": "chat.completion.chunk", "choices": [choice], **extra}
        if include_usage:
            payload["usage"] = None
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    if message.get("tool_calls"):
        calls = [{"index": 0, **c} for c in message["tool_calls"]]
        yield chunk({"tool_calls": calls})
    else:
        for i, word in enumerate(message["content"].split(" ")):
            if delay:
                await asyncio.sleep(delay)
            yield chunk({"content": word if i == 0 else " " + word})
    yield chunk({}, finish)
    if include_usage:
        payload = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
        yield f"data: {json.dumps(payload)}\n\n"
    yield "data: [DONE]\n\n"


def _embedding(model: str, text: str, dims: int) -> list[float]:
    rng = random.Random(_digest(model, text))
    vector = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class MockProviderProcess:
    """Runs this provider as a subprocess on a free port; a context manager for tests and scripts."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.host, self.port = host, port or free_port(host)
        self._args = extra_args
        self._proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + "/v1"

    def start(self, timeout: float = 20.0) -> MockProviderProcess:
        cmd = [sys.executable, os.path.abspath(__file__), "--host", self.host, "--port", str(self.port), *self._args]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"mock provider exited: {self._proc.communicate()[1].decode()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("mock provider did not become healthy in time")

    def control(self, path: str, body: dict | None = None) -> dict:
        """POST (with a body) or GET one of the /control endpoints."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._proc and self._proc.stderr:
            self._proc.stderr.close()

    def __enter__(self) -> MockProviderProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("MOCK_LLM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOCK_LLM_PORT", "8089")))
    parser.add_argument("--rpm", type=int, default=ProviderConfig.requests_per_minute, help="requests per minute")
    parser.add_argument("--tpm", type=int, default=ProviderConfig.tokens_per_minute, help="tokens per minute")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    import uvicorn

    app = create_app(ProviderConfig(requests_per_minute=args.rpm, tokens_per_minute=args.tpm))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
