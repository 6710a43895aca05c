"""What ingest refused, per sending service and reason: the source of the Oracle's telemetry_rejected issue.

The receiver answers the Collector with OTLP partial success, which the sender never sees; this
log keeps the reasons, a count and one example each where a user looks (issues, CLI, /health).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..model import Rejection

_MAX_SERVICES = 1000
_MAX_REASONS = 50  # per service; store errors carry their message, so reasons are not a closed set
_MAX_EXAMPLE_CHARS = 200  # a hostile span name or attribute key can be megabytes long
UNKNOWN_SENDER = "unknown_service"


@dataclass(slots=True)
class Refused:
    """One reason something from one service was refused: how often, an example, first and last time."""

    what: str
    reason: str
    count: int
    example: dict
    first_seen_ns: int
    last_seen_ns: int


class RejectionLog:
    """Thread-safe: the receiver's handler threads record, the Oracle's thread reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_service: dict[str, dict[tuple[str, str], Refused]] = {}

    def record(self, rejections: list[Rejection], now_ns: int) -> None:
        with self._lock:
            for r in rejections:
                service = str(r.example.get("service") or UNKNOWN_SENDER)[:_MAX_EXAMPLE_CHARS]
                reasons = self._by_service.get(service)
                if reasons is None:
                    if len(self._by_service) >= _MAX_SERVICES:
                        continue
                    reasons = self._by_service[service] = {}
                entry = reasons.get((r.what, r.reason))
                if entry is None:
                    if len(reasons) >= _MAX_REASONS:
                        continue
                    reasons[(r.what, r.reason)] = Refused(r.what, r.reason, r.count, _short(r.example), now_ns, now_ns)
                else:
                    entry.count += r.count
                    entry.last_seen_ns = now_ns

    def restore(self, service: str, refused: Refused) -> None:
        """Put back what an earlier run recorded (from the last Oracle snapshot), unless seen again already."""
        with self._lock:
            reasons = self._by_service.setdefault(service, {})
            reasons.setdefault((refused.what, refused.reason), refused)

    def by_service(self) -> dict[str, list[Refused]]:
        """A copy: each service's reasons, most frequent first."""
        with self._lock:
            return {
                service: sorted(
                    (
                        Refused(e.what, e.reason, e.count, dict(e.example), e.first_seen_ns, e.last_seen_ns)
                        for e in reasons.values()
                    ),
                    key=lambda e: -e.count,
                )
                for service, reasons in self._by_service.items()
            }


def _short(example: dict) -> dict:
    return {k: v[:_MAX_EXAMPLE_CHARS] if isinstance(v, str) else v for k, v in example.items()}
