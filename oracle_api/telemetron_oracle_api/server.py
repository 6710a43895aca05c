"""The oracle_api process: store, OTLP receiver and HTTP API wired together (the pipeline, in one place)."""

from __future__ import annotations

import logging
import signal
import threading

import uvicorn

from ._gc import collect_less
from ._gil import switch_threads_sooner
from ._malloc import give_back_free_memory_every, keep_freed_memory
from .api.app import create_app
from .api.deps import Services
from .api.security import redact_tokens_in_logs
from .api.stream import LiveStream
from .api.trace_cache import rendered as rendered_traces
from .hub import Hub
from .oracle import Oracle
from .receiver.auth import GrpcRefusals, TokenInterceptor
from .receiver.decode_process import DecoderProcesses
from .receiver.grpc_server import OtlpReceiver
from .receiver.kafka_feed import KafkaFeed
from .receiver.kafka_ingest import KafkaIngest
from .settings import Settings
from .store.open import open_store

INGEST_MODES = ("grpc", "kafka", "none")
# How often the heap's free pages go back to the kernel (_malloc.give_back_free_memory): a trim
# of a few hundred MiB heap takes milliseconds.
FREE_MEMORY_EVERY_S = 5.0
LIVE_FEEDS = ("store", "kafka")

log = logging.getLogger("telemetron")


class OracleApi:
    """Builds every stage from one Settings; ``start``/``stop`` run the receiver and the store."""

    def __init__(self, settings: Settings) -> None:
        settings.validate()  # e.g. no listener beyond loopback without a token, however Settings was made
        _check_modes(settings)
        self.settings = settings
        rendered_traces.resize(settings.rendered_trace_cache_mb << 20)
        # The Oracle and the live stream fold each commit on the hub's thread: the writer acknowledges
        # and starts its next batch meanwhile, instead of waiting for them.
        self.hub = Hub(own_thread=True)
        # Fed from Kafka, the Oracle must not also see this process's own commits (there are none
        # in an API replica; the store publishes to a hub nobody reads).
        self.store = open_store(settings, Hub() if settings.live_feed == "kafka" else self.hub)
        grpc_refusals = GrpcRefusals()
        decode_elsewhere = settings.ingest == "grpc" and settings.decode_processes > 0
        self.decoders = DecoderProcesses(settings.decode_processes) if decode_elsewhere else None
        self.receiver = OtlpReceiver(
            self.store,
            settings.grpc_host,
            settings.grpc_port if settings.ingest == "grpc" else 0,
            workers=settings.grpc_workers,
            max_message_bytes=settings.grpc_max_message_bytes,
            interceptors=[TokenInterceptor(settings.api_token, grpc_refusals)] if settings.api_token else [],
            decoders=self.decoders,
        )
        self.feed = (
            KafkaFeed(
                self.hub,
                self.store.rejections,
                settings.kafka_bootstrap,
                settings.kafka_spans_topic,
                settings.kafka_metrics_topic,
                settings.kafka_logs_topic,
            )
            if settings.live_feed == "kafka"
            else None
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
            decoders=self.decoders,
        )
        self.app = create_app(self.services)

    def start(self) -> None:
        self.oracle.start()  # rebuilds from the store before new data arrives
        if self.settings.ingest == "grpc":
            self.receiver.start()
        if self.feed is not None:
            self.feed.start()

    def stop(self) -> None:
        if self.settings.ingest == "grpc":
            self.receiver.stop()
        if self.decoders is not None:
            self.decoders.close()
        if self.feed is not None:
            self.feed.stop()
        self.oracle.stop()
        self.store.close()
        self.hub.close()  # after the store's last commits, so they are delivered too


def _check_modes(settings: Settings) -> None:
    if settings.ingest not in INGEST_MODES:
        raise ValueError(f"TELEMETRON_INGEST must be one of {', '.join(INGEST_MODES)} (got {settings.ingest!r})")
    if settings.live_feed not in LIVE_FEEDS:
        raise ValueError(f"TELEMETRON_LIVE_FEED must be one of {', '.join(LIVE_FEEDS)} (got {settings.live_feed!r})")


def run_worker(settings: Settings) -> None:
    """``--ingest kafka``: consume the telemetry topics as one member of the group until SIGINT/SIGTERM."""
    store = open_store(settings)
    ingest = KafkaIngest(
        store,
        settings.kafka_bootstrap,
        settings.kafka_group_id,
        settings.kafka_spans_topic,
        settings.kafka_metrics_topic,
        settings.kafka_logs_topic,
    )
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    log.info(
        "oracle_api worker: group %s on %s, store %s", settings.kafka_group_id, settings.kafka_bootstrap, store.path
    )
    try:
        ingest.run(stop)
    finally:
        store.close()
        log.info("oracle_api worker stopped: %s", ingest.stats)


def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then stop taking OTLP, finish writes and exit."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    keep_freed_memory()
    give_back_free_memory_every(FREE_MEMORY_EVERY_S)
    redact_tokens_in_logs()
    collect_less()
    switch_threads_sooner()
    if settings.ingest == "kafka":
        run_worker(settings)
        return
    oracle = OracleApi(settings)
    oracle.start()
    log.info(
        "oracle_api: OTLP gRPC on %s:%d, HTTP on http://%s:%d, store %s, %s",
        settings.grpc_host,
        oracle.receiver.port,
        settings.http_host,
        settings.http_port,
        oracle.store.path,
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
