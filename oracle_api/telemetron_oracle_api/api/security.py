"""Who may use the HTTP API: the Host allow-list, the API token, browser origins and JSON bodies.

One ASGI middleware checks every HTTP request and WebSocket handshake before any route runs, so a
new route cannot miss a rule. Without a token, loopback is the only barrier, and any web page the
user visits can reach loopback: the Host allow-list stops DNS rebinding, the Origin check stops
cross-site writes and WebSocket reads, and requiring JSON bodies stops form-like cross-site POSTs
(a browser only sends ``application/json`` cross-site after a CORS preflight, which we never grant).
Starlette's TrustedHostMiddleware covers only the first rule, with a message that does not say
what to configure; each refusal here says why and is counted for ``/health``.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..settings import Settings, is_loopback, split_list

_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
_WILDCARD_BINDS = frozenset(("", "0.0.0.0", "::"))
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class HttpRefusals:
    """Requests refused before reaching a route, by reason (served at /health)."""

    bad_host: int = 0
    bad_token: int = 0
    bad_origin: int = 0
    not_json: int = 0


@dataclass(frozen=True)
class _Refusal:
    counter: str
    status: int
    detail: str


def _endpoint(netloc: str, scheme: str) -> tuple[str, int | None]:
    """``[::1]:8080`` -> ``("::1", 8080)``; without a port, the scheme's default one.

    A Host or Origin is host[:port] only: user info (``evil.example@127.0.0.1``), a path or a query
    is not a name this server has, so it yields the whole text, which no allow-list holds.
    """
    if any(c in netloc for c in "@/?#\\"):
        return netloc.lower(), None
    parts = urlsplit("//" + netloc.strip())
    try:
        port = parts.port
    except ValueError:  # not a number
        return netloc.lower(), None
    return parts.hostname or "", port or _DEFAULT_PORTS.get(scheme)


def presented_token(headers: Headers, query: QueryParams | None = None) -> str:
    """The token a request carries: ``Authorization: Bearer``, ``X-Telemetron-Token``, or ``?token=``
    when ``query`` is given (the WebSocket handshake only: a browser cannot set its headers)."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-telemetron-token") or (query.get("token") if query is not None else None) or ""


def token_matches(expected: str, presented: str) -> bool:
    """Constant-time comparison, of bytes: ``compare_digest`` raises TypeError on non-ASCII str."""
    return hmac.compare_digest(presented.encode("utf-8", "replace"), expected.encode("utf-8"))


class SecurityMiddleware:
    """Refuses, before any route runs, what the rules in this module's docstring forbid."""

    def __init__(self, app: ASGIApp, settings: Settings, refusals: HttpRefusals) -> None:
        self.app = app
        self.settings = settings
        self.refusals = refusals
        self.allowed_hosts = set(split_list(settings.allowed_hosts))
        if settings.http_host.lower() not in _WILDCARD_BINDS:
            self.allowed_hosts.add(settings.http_host.strip("[]").lower())
        self.allowed_origins = {o.rstrip("/") for o in split_list(settings.allowed_origins)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._check(scope, Headers(scope=scope))
        if refusal is None:
            await self.app(scope, receive, send)
            return
        setattr(self.refusals, refusal.counter, getattr(self.refusals, refusal.counter) + 1)
        if scope["type"] == "websocket":
            # Closing before accepting makes uvicorn answer 403. A denial response could carry the
            # status and message, but uvicorn's default WebSocket implementation then logs a spurious
            # ERROR for each refusal (Kludex/uvicorn pull request 3138).
            await send({"type": "websocket.close", "code": 1008, "reason": refusal.detail[:120]})
            return
        await JSONResponse({"detail": refusal.detail}, status_code=refusal.status)(scope, receive, send)

    def _check(self, scope: Scope, headers: Headers) -> _Refusal | None:
        host = headers.get("host")
        # A request without Host is not from a browser (they always send it), so not a rebinding.
        if host is not None and not self._host_allowed(_endpoint(host, "http")[0]):
            return _Refusal(
                "bad_host",
                400,
                (
                    f"Host {host!r} is not served here: oracle_api answers only loopback names (localhost, "
                    "127.0.0.1, [::1]) and the names in TELEMETRON_ALLOWED_HOSTS; add it there if it is this "
                    "server's name (the check stops DNS rebinding)"
                ),
            )
        websocket = scope["type"] == "websocket"
        if self.settings.api_token and not _public(scope):
            query = QueryParams(scope.get("query_string", b"")) if websocket else None
            if not token_matches(self.settings.api_token, presented_token(headers, query)):
                return _Refusal(
                    "bad_token", 401, "missing or wrong API token: send 'Authorization: Bearer <TELEMETRON_API_TOKEN>'"
                )
        method = scope.get("method", "GET")
        origin = headers.get("origin")
        if origin is not None and (websocket or method not in _SAFE_METHODS) and not self._origin_allowed(origin, host):
            what = "open the WebSocket" if websocket else f"send {method} requests"
            return _Refusal(
                "bad_origin",
                403,
                (
                    f"Origin {origin!r} may not {what} here: only pages served by oracle_api itself and "
                    "the origins in TELEMETRON_ALLOWED_ORIGINS may"
                ),
            )
        if method in _BODY_METHODS and _has_body(headers) and not _is_json(headers.get("content-type", "")):
            return _Refusal(
                "not_json",
                415,
                f"{method} takes a JSON body: send 'Content-Type: application/json' "
                f"(got {headers.get('content-type', 'none')!r})",
            )
        return None

    def _host_allowed(self, name: str) -> bool:
        return is_loopback(name) or name in self.allowed_hosts or "*" in self.allowed_hosts

    def _origin_allowed(self, origin: str, host: str | None) -> bool:
        origin = origin.strip().lower().rstrip("/")
        if origin in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in _DEFAULT_PORTS or not parts.netloc or host is None:
            return False  # "null" (sandboxed frames, file: pages) is never the page's own origin
        # Same origin: the page came from the host this request is addressed to (already allowed
        # above). The Origin's scheme gives both their default port, so a TLS proxy in front still matches.
        return _endpoint(parts.netloc, parts.scheme) == _endpoint(host, parts.scheme)


def _public(scope: Scope) -> bool:
    """The dashboard page and its static files hold no data; the page sends the token on its API calls.
    A browser asks for /favicon.ico without it (there is none: 404)."""
    path = scope.get("path", "")
    return scope["type"] == "http" and (path in ("/", "/favicon.ico") or path.startswith("/static/"))


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0").strip() not in ("", "0") or "transfer-encoding" in headers


def _is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]*", re.IGNORECASE)


class RedactTokens(logging.Filter):
    """Blanks ``token=`` query values in uvicorn's access and WebSocket log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_tokens_in_logs() -> None:
    """Install ``RedactTokens`` on the loggers uvicorn writes request lines to."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(RedactTokens())
