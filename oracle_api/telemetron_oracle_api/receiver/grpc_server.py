"""The OTLP gRPC receiver: Export calls for traces, metrics and logs, acknowledged after a durable commit.

Requests are taken as raw bytes (no generated deserializer) so that a request the strict parser
refuses can still be split and its good spans kept; see ``decode.py``. What is refused (by decode
or by the store) is answered as OTLP partial success, counted per reason in ``stats`` and recorded
in the store's rejection log for the Oracle's telemetry_rejected issue. Only a failure of the
database itself answers UNAVAILABLE, so the Collector never retries data that can never be stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ..model import Decoded
from ..store.batch_writer import StoreClosed, StoreFull
from ..store.interface import TelemetryStore
from .decode import MalformedRequest, ResourceCache, decode_logs, decode_metrics, decode_traces
from .decode_process import DecoderProcesses, DecoderUnavailable

log = logging.getLogger(__name__)

_COMMIT_TIMEOUT_S = 120.0
# Request bytes being decoded or waiting for their commit, across all handler threads. Past it a
# request is answered UNAVAILABLE (the Collector keeps it on disk and retries), so the decoded
# records held in memory stay bounded whatever the senders' request sizes and concurrency.
MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024
_MAX_REASON_COUNTERS = 200  # per signal; store errors carry their message


@dataclass
class SignalStats:
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    malformed_requests: int = 0
    unavailable: int = 0
    busy: int = 0  # answered UNAVAILABLE because MAX_IN_FLIGHT_BYTES were in flight (of ``unavailable``)
    last_error: str = ""
    # "span: invalid trace_id ..." -> records (or dropped parts) refused for that reason
    by_reason: dict[str, int] = field(default_factory=dict)


@dataclass
class ReceiverStats:
    """Counters served at /health so rejections are visible, not silent."""

    traces: SignalStats = field(default_factory=SignalStats)
    metrics: SignalStats = field(default_factory=SignalStats)
    logs: SignalStats = field(default_factory=SignalStats)


@dataclass(frozen=True)
class _Signal:
    service: str
    decode: Callable[[bytes, ResourceCache], Decoded]
    response: type
    partial_field: str  # the response's partial-success counter for this signal
    count: Callable[[Decoded], int]
    stats_name: str


_SIGNALS = (
    _Signal(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        decode_traces,
        ExportTraceServiceResponse,
        "rejected_spans",
        lambda d: len(d.spans),
        "traces",
    ),
    _Signal(
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
        decode_metrics,
        ExportMetricsServiceResponse,
        "rejected_data_points",
        lambda d: len(d.metric_points),
        "metrics",
    ),
    _Signal(
        "opentelemetry.proto.collector.logs.v1.LogsService",
        decode_logs,
        ExportLogsServiceResponse,
        "rejected_log_records",
        lambda d: len(d.logs),
        "logs",
    ),
)


class OtlpReceiver:
    """Serves the three OTLP Export services on one port and writes what it decodes to ``store``."""

    def __init__(
        self,
        store: TelemetryStore,
        host: str = "127.0.0.1",
        port: int = 4319,
        *,
        workers: int = 8,
        max_message_bytes: int = 64 * 1024 * 1024,
        interceptors: list[grpc.ServerInterceptor] | None = None,
        max_in_flight_bytes: int = MAX_IN_FLIGHT_BYTES,
        decoders: DecoderProcesses | None = None,
    ) -> None:
        self.store = store
        self.decoders = decoders  # trace requests are decoded there when given (decode_process.py)
        self.max_in_flight_bytes = max_in_flight_bytes
        self._in_flight = 0  # guarded by _stats_lock
        self.stats = ReceiverStats()
        self._resources = ResourceCache()
        self._lock = threading.Lock()  # the resource cache is shared by the handler threads
        self._stats_lock = threading.Lock()
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp"),
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ],
            interceptors=interceptors,  # the token check (receiver/auth.py), when a token is set
        )
        for signal in _SIGNALS:
            handler = grpc.unary_unary_rpc_method_handler(
                self._export_handler(signal),
                request_deserializer=None,
                response_serializer=lambda message: message.SerializeToString(),
            )
            self._server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(signal.service, {"Export": handler}),)
            )
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot listen for OTLP gRPC on {host}:{port}")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 5.0) -> None:
        self._server.stop(grace).wait()

    def _count_rejections(self, stats: SignalStats, decoded: Decoded) -> None:
        stats.rejected += decoded.rejected
        stats.last_error = decoded.error_message()
        with self._stats_lock:  # copy on write: /health reads by_reason without the lock
            by_reason = dict(stats.by_reason)
            for r in decoded.rejections:
                key = f"{r.what}: {r.reason}"
                if key in by_reason or len(by_reason) < _MAX_REASON_COUNTERS:
                    by_reason[key] = by_reason.get(key, 0) + r.count
            stats.by_reason = by_reason
        self.store.rejections.record(decoded.rejections, time.time_ns())

    def _admit(self, size: int) -> bool:
        """Count ``size`` bytes in flight if they fit; one request alone is always admitted."""
        with self._stats_lock:
            if self._in_flight and self._in_flight + size > self.max_in_flight_bytes:
                return False
            self._in_flight += size
            return True

    def _export_handler(self, signal: _Signal):
        stats: SignalStats = getattr(self.stats, signal.stats_name)
        decoders = self.decoders if signal.decode is decode_traces else None

        def export(raw: bytes, context: grpc.ServicerContext):
            stats.requests += 1
            if not self._admit(len(raw)):
                stats.unavailable += 1
                stats.busy += 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "oracle_api is busy (request bytes in flight), retry")
            try:
                return _export(raw, context)
            finally:
                with self._stats_lock:
                    self._in_flight -= len(raw)

        def _export(raw: bytes, context: grpc.ServicerContext):
            try:
                if decoders is not None:
                    decoded = decoders.decode_traces(raw)
                else:
                    with self._lock:
                        decoded = signal.decode(raw, self._resources)
            except DecoderUnavailable as exc:
                stats.unavailable += 1
                context.abort(grpc.StatusCode.UNAVAILABLE, f"oracle_api could not decode it now, retry: {exc}")
            except MalformedRequest as exc:
                stats.malformed_requests += 1
                stats.last_error = f"malformed request: {exc}"
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed OTLP request: {exc}")
            if signal.count(decoded):
                try:
                    self.store.submit(decoded).result(_COMMIT_TIMEOUT_S)
                except (StoreFull, StoreClosed) as exc:
                    stats.unavailable += 1
                    context.abort(grpc.StatusCode.UNAVAILABLE, f"oracle_api is busy, retry: {exc}")
                except Exception as exc:  # the database failed (not the data): nothing acknowledged, so retry
                    stats.unavailable += 1
                    stats.last_error = f"store write failed: {exc!r}"
                    context.abort(grpc.StatusCode.UNAVAILABLE, stats.last_error)
            stats.accepted += signal.count(decoded)  # the store may have refused records at fault
            response = signal.response()
            if decoded.rejections:
                self._count_rejections(stats, decoded)
                setattr(response.partial_success, signal.partial_field, decoded.rejected)
                response.partial_success.error_message = stats.last_error
                log.warning("%s: %s", signal.stats_name, stats.last_error)
            return response

        return export
