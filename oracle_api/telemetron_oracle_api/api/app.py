"""The FastAPI application: routes are assembled here, in one visible place."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import FastAPI

from .. import __doc__ as _about
from ..store.writer_process import WriterProcess
from . import (
    dashboard,
    dashboard_data,
    errors,
    graph,
    jaeger,
    jaeger_metrics,
    logs,
    metrics,
    oracle,
    simulate,
    stream,
    timeline,
    traces,
)  # trace viewing
from .deps import Services
from .security import SecurityMiddleware


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Telemetron oracle_api",
        description=_about,
        version="0.1.0",
    )
    app.add_middleware(SecurityMiddleware, settings=services.settings, refusals=services.http_refusals)
    app.state.services = services
    errors.install(app, services.settings)  # 400 for bad parameters, in each API's own error shape

    @app.get("/health", tags=["ops"])
    def health() -> dict:
        """Liveness plus the receiver's counters, so rejected data is visible.

        ``subscriber_errors`` counts committed batches a live consumer (the Oracle, the WebSocket
        stream) failed on: the data is stored, but that consumer's view may lack it.
        ``auth_refusals`` counts
        requests and OTLP exports refused by the access rules (api/security.py, receiver/auth.py).
        ``store_retention`` is what SQLite's retention has done (``RetentionStats``; null on PostgreSQL).
        ``processes`` lists the decoder and writer processes (``child.py``): a ``starts`` above 1 means
        one ended and was started again (the requests it had were answered UNAVAILABLE and retried).
        """
        return {
            "status": "ok",
            "committed_spans": services.store.committed_spans,
            "store_write_errors": services.store.write_errors,
            "subscriber_errors": services.hub.subscriber_errors,
            "receiver": asdict(services.receiver_stats),
            "auth_refusals": {"http": asdict(services.http_refusals), "grpc": asdict(services.grpc_refusals)},
            "processes": _processes(services),
            "store_retention": _retention(services),
        }

    app.include_router(traces.router)
    app.include_router(timeline.router)
    app.include_router(graph.router)
    app.include_router(metrics.router)
    app.include_router(logs.router)
    app.include_router(simulate.router, responses=errors.documented("rest", 403, 415, 502))
    app.include_router(jaeger.router)
    app.include_router(stream.router)
    dashboard.mount(app)  # the page at / and its files at /static
    app.include_router(dashboard_data.router)
    app.include_router(oracle.router)
    jaeger_metrics.register(app)  # Jaeger's metrics API, prettyPrint, its envelope for unknown /api/ paths
    return app


def _processes(services: Services) -> list[dict]:
    decoders = services.decoders.status() if services.decoders is not None else []
    writer = getattr(services.store, "writer", None)
    return [*decoders, *([writer.process_status()] if isinstance(writer, WriterProcess) else [])]


def _retention(services: Services) -> dict | None:
    writer_status = getattr(services.store, "writer_status", None)  # SQLite's; PostgreSQL drops partitions
    return writer_status()["retention"] if writer_status is not None else None
