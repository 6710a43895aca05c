"""The OTLP gRPC receiver's token check, as a gRPC server interceptor.

The token travels as the metadata ``authorization: Bearer <token>``, which is what the Collector's
``otlp_grpc`` exporter sends with ``headers:`` and an OTel SDK with ``OTEL_EXPORTER_OTLP_HEADERS``.
The check runs before the request reaches a handler, so every service on the port is covered.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass

import grpc

_REFUSED = (
    "missing or wrong token: send the metadata 'authorization: Bearer <TELEMETRON_API_TOKEN>' "
    "(the Collector: headers on its otlp_grpc exporter, see collector-config/otelcol.yaml); "
    "answered UNAVAILABLE so that a sender keeps the data and retries once its token is right"
)


@dataclass
class GrpcRefusals:
    """OTLP calls refused before reaching a handler (served at /health)."""

    unauthenticated: int = 0


class TokenInterceptor(grpc.ServerInterceptor):
    """Refuses every call that does not carry the token, and counts it.

    The status is ``UNAVAILABLE``, not ``UNAUTHENTICATED``: the Collector drops data on the latter
    (a permanent error) although it already acknowledged it to the agents; on ``UNAVAILABLE`` it
    keeps the data in its on-disk queue and retries, so fixing a wrong token loses nothing.
    """

    def __init__(self, token: str, refusals: GrpcRefusals) -> None:
        self._expected = token.encode("utf-8")
        self.refusals = refusals
        self._lock = threading.Lock()  # calls arrive on several threads
        self._refuse = grpc.unary_unary_rpc_method_handler(_abort_unauthenticated)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        if self._authorized(handler_call_details.invocation_metadata or ()):
            return continuation(handler_call_details)
        with self._lock:
            self.refusals.unauthenticated += 1
        return self._refuse

    def _authorized(self, metadata: tuple) -> bool:
        for key, value in metadata:
            if key == "authorization" and isinstance(value, str) and value[:7].lower() == "bearer ":
                # compare bytes: compare_digest raises TypeError on non-ASCII str
                return hmac.compare_digest(value[7:].strip().encode("utf-8", "replace"), self._expected)
        return False


def _abort_unauthenticated(request: bytes, context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.UNAVAILABLE, _REFUSED)
