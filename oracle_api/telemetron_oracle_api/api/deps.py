"""What the HTTP routes share: the process's services, and the API token check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from ..hub import Hub
from ..receiver.grpc_server import ReceiverStats
from ..settings import Settings
from ..store.queries import run_here
from ..store.sqlite import Store

if TYPE_CHECKING:
    from .render_pool import RenderPool


@dataclass
class Services:
    """Everything a route may need, built once in ``server.py`` and kept on ``app.state``."""

    settings: Settings
    store: Store
    hub: Hub
    receiver_stats: ReceiverStats = field(default_factory=ReceiverStats)
    render_pool: RenderPool | None = None  # without one, traces render in the request's thread only
    # Later stages (the Oracle, live streams) attach themselves here by name.
    extras: dict = field(default_factory=dict)

    @property
    def run_reads(self):
        """What runs a trace's reads and rendering (``queries.run_here``'s signature): split over the render pool's helpers when there are."""
        return self.render_pool.run if self.render_pool else run_here


def get_services(request: Request) -> Services:
    return request.app.state.services


def _presented_token(headers, query_params) -> str:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-telemetron-token") or query_params.get("token") or ""


def token_ok(settings: Settings, headers, query_params) -> bool:
    """True when no token is configured, or the request carries the configured one."""
    if not settings.api_token:
        return True
    return hmac.compare_digest(_presented_token(headers, query_params), settings.api_token)


def _public(scope: Scope) -> bool:
    """The dashboard page and its static files hold no data; the page sends the token on its API calls."""
    path = scope.get("path", "")
    return scope["type"] == "http" and (path == "/" or path.startswith("/static/"))


class TokenMiddleware:
    """Checks the API token on every HTTP request and WebSocket handshake (ASGI level, so no route is missed)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.settings.api_token and not _public(scope):
            headers, query = Headers(scope=scope), QueryParams(scope.get("query_string", b""))
            if not token_ok(self.settings, headers, query):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008, "reason": "missing or wrong API token"})
                    return
                response = JSONResponse(
                    {"detail": "missing or wrong API token: send 'Authorization: Bearer <TELEMETRON_API_TOKEN>'"},
                    status_code=401,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
