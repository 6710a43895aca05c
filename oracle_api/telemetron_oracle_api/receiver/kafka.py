"""What the Collector's kafka exporter writes (``otlp_proto``), read back as the receiver's records.

Shared by the ingest workers (``kafka_ingest.py``, one consumer group writing the store) and an
API replica's live feed (``kafka_feed.py``, the whole stream for its Oracle). A ``TracesData`` /
``MetricsData`` / ``LogsData`` message has the wire layout of the matching Export request, so the
receiver's own decoders read it, with the same per-record rejections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..model import Decoded
from .decode import MalformedRequest, ResourceCache, decode_logs, decode_metrics, decode_traces

Decoder = Callable[[bytes, ResourceCache], Decoded]

# Fail over quickly: a SIGKILLed member's partitions move once the broker misses its heartbeats
# for this long (6 s is the broker's default minimum).
SESSION_TIMEOUT_MS = 6000


def decoders(spans_topic: str, metrics_topic: str, logs_topic: str) -> dict[str, Decoder]:
    return {spans_topic: decode_traces, metrics_topic: decode_metrics, logs_topic: decode_logs}


def decode_messages(messages: Iterable, by_topic: dict[str, Decoder], resources: ResourceCache) -> Decoded:
    """One Decoded holding every record of ``messages``; a message that cannot be parsed is one rejection."""
    out = Decoded()
    for message in messages:
        value = message.value()
        if value is None:  # a null-valued record (tombstone) carries no telemetry
            continue
        try:
            decoded = by_topic[message.topic()](value, resources)
        except MalformedRequest as exc:
            where = {"topic": message.topic(), "partition": message.partition(), "offset": message.offset()}
            out.reject("kafka message", f"not an OTLP message: {exc}", where)
            continue
        out.spans.extend(decoded.spans)
        out.metric_points.extend(decoded.metric_points)
        out.logs.extend(decoded.logs)
        for r in decoded.rejections:
            out.reject(r.what, r.reason, r.example, r.count)
    return out
