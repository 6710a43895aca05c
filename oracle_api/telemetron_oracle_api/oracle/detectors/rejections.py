"""Telemetry the receiver refused: acknowledged as partial success, so the sender never sees it."""

from __future__ import annotations

from ...formats import iso
from ...model import RECORD_UNITS
from ..issues import MAX_LISTED, Issue
from ..view import StateView
from ..window import NS

_REJECTION_WINDOW_S = 3600  # a reason not seen for this long no longer keeps the issue open


def rejected_telemetry(view: StateView, now_ns: int) -> list[Issue]:
    """What the receiver refused: acknowledged to the Collector as partial success, so the sender never sees it."""
    if view.rejections is None:
        return []
    out = []
    since = now_ns - _REJECTION_WINDOW_S * NS
    for service, refused in view.rejections.by_service().items():
        recent = [r for r in refused if r.last_seen_ns >= since]
        if not recent:
            continue
        records = sum(r.count for r in recent if r.what in RECORD_UNITS)
        summary = "; ".join(f"{r.count} {r.what}(s): {r.reason}" for r in recent[:3])
        out.append(
            Issue(
                "telemetry_rejected",
                "warning",
                "service",
                service,
                f"oracle_api refused telemetry from {service}: {summary}"
                + (f"; and {len(recent) - 3} more reasons" if len(recent) > 3 else ""),
                trace_ids=[t for r in recent if (t := r.example.get("trace_id", "")).strip("0")],  # not empty/zero ids
                numbers={"rejected_records": records, "dropped_parts": sum(r.count for r in recent) - records},
                details={
                    "reasons": [
                        {
                            "what": r.what,
                            "reason": r.reason,
                            "count": r.count,
                            "example": r.example,
                            "first_seen": iso(r.first_seen_ns),
                            "last_seen": iso(r.last_seen_ns),
                        }
                        for r in recent[:MAX_LISTED]
                    ]
                },
                hint="fix the instrumentation that sends it; counters per reason: GET /health (receiver.*.by_reason)",
            )
        )
    return out
