"""The oracle_api process: store, OTLP receiver and HTTP API wired together (the pipeline, in one place)."""

from __future__ import annotations

import logging

import uvicorn

from ._gc import collect_less
from ._malloc import keep_freed_memory
from .api.app import create_app
from .api.deps import Services
from .api.security import redact_tokens_in_logs
from .api.stream import LiveStream
from .hub import Hub
from .oracle import Oracle
from .receiver.auth import GrpcRefusals, TokenInterceptor
from .receiver.grpc_server import OtlpReceiver
from .settings import Settings
from .store.retention import RetentionPolicy
from .store.sqlite import Store

log = logging.getLogger("telemetron")


class OracleApi:
    """Builds every stage from one Settings; ``start``/``stop`` run the receiver and the store."""

    def __init__(self, settings: Settings) -> None:
        settings.validate()  # e.g. no listener beyond loopback without a token, however Settings was made
        self.settings = settings
        self.hub = Hub()
        self.store = Store(
            settings.db_path,
            self.hub,
            queue_limit=settings.write_queue_spans,
            batch_limit=settings.write_batch_spans,
            retention=RetentionPolicy.from_settings(settings),
        )
        grpc_refusals = GrpcRefusals()
        self.receiver = OtlpReceiver(
            self.store,
            settings.grpc_host,
            settings.grpc_port,
            workers=settings.grpc_workers,
            max_message_bytes=settings.grpc_max_message_bytes,
            interceptors=[TokenInterceptor(settings.api_token, grpc_refusals)] if settings.api_token else [],
        )
        # What the store commits goes to the Oracle and to the live stream, which also streams the Oracle's issues.
        self.oracle = Oracle(settings, self.store)
        self.hub.subscribe(self.oracle.on_committed)
        self.stream = LiveStream(issues=self.oracle.issues)
        self.hub.subscribe(self.stream.on_committed)
        self.services = Services(
            settings=settings,
            store=self.store,
            hub=self.hub,
            receiver_stats=self.receiver.stats,
            grpc_refusals=grpc_refusals,
            oracle=self.oracle,
            stream=self.stream,
        )
        self.app = create_app(self.services)

    def start(self) -> None:
        self.oracle.start()  # rebuilds from the store before new data arrives
        self.receiver.start()

    def stop(self) -> None:
        self.receiver.stop()
        self.oracle.stop()
        self.store.close()


def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then stop taking OTLP, finish writes and exit."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    keep_freed_memory()
    redact_tokens_in_logs()
    collect_less()
    oracle = OracleApi(settings)
    oracle.start()
    log.info(
        "oracle_api: OTLP gRPC on %s:%d, HTTP on http://%s:%d, store %s, %s",
        settings.grpc_host,
        oracle.receiver.port,
        settings.http_host,
        settings.http_port,
        settings.db_path,
        "API token required" if settings.api_token else "no API token (loopback only)",
    )
    try:
        uvicorn.run(
            oracle.app,
            host=settings.http_host,
            port=settings.http_port,
            log_level=settings.log_level.lower(),
            ws_ping_interval=20,
        )
    finally:
        oracle.stop()
