"""Decoded telemetry as plain Python records: what the store writes and the Oracle and streams read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Resource:
    """An OTLP resource (the process that emitted the data), deduplicated by content hash."""

    key: str
    service_name: str
    attributes: dict


@dataclass(slots=True)
class SpanRecord:
    """One span with the fields the product queries promoted out of its attributes.

    ``attributes``, ``events`` and ``links`` keep everything else losslessly. ``scope_attributes``
    are the instrumentation scope's, one dict shared by the spans of a scope (never mutated).
    ``pending`` marks a work-in-progress record: the real span ``parent_span_id`` has started and
    not yet ended.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict
    events: list
    links: list
    resource: Resource
    scope_name: str
    scope_version: str
    trace_state: str
    flags: int
    dropped: tuple[int, int, int]
    operation: str | None = None
    agent_name: str | None = None
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    conversation_id: str | None = None
    error_type: str | None = None
    pending: bool = False
    # For a pending record: the real span's own parent, if the emitter said.
    pending_parent_id: str | None = None
    scope_attributes: dict = field(default_factory=dict)
    # How agents coordinate (our task/handoff conventions, messaging), read once by ``normalize.promote``
    # for the Oracle's trackers; the attributes keep the originals.
    task_id: str | None = None
    blocked_by: str | None = None
    messaging_operation: str | None = None
    tool_name: str | None = None  # execute_tool spans only, as are the handoff fields
    handoff_source: str | None = None
    handoff_target: str | None = None
    is_handoff: bool = False

    @property
    def service_name(self) -> str:
        return self.resource.service_name

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(slots=True)
class MetricPoint:
    """One data point of one metric; histograms keep count, sum and buckets in ``data``."""

    resource: Resource
    scope_name: str
    name: str
    unit: str
    kind: str  # gauge | sum | histogram | exponential_histogram | summary
    time_ns: int
    start_ns: int
    attributes: dict
    value: float | None
    data: dict = field(default_factory=dict)


@dataclass(slots=True)
class LogRecord:
    resource: Resource
    scope_name: str
    time_ns: int
    observed_ns: int
    severity_number: int
    severity_text: str
    body: object
    attributes: dict
    trace_id: str | None
    span_id: str | None
    event_name: str


@dataclass(slots=True)
class Rejection:
    """Why part of a request was refused; reported back through OTLP partial success.

    ``what`` names the unit refused: a record ("span", "data point", "log record") is not stored
    at all; a part ("attribute", "event", "link") is left out of a record that is stored.
    """

    what: str
    reason: str
    count: int
    example: dict  # the first one refused: ids, span name, service, key

    @property
    def is_record(self) -> bool:
        return self.what in RECORD_UNITS

    @property
    def message(self) -> str:
        verb = "rejected" if self.is_record else "dropped"
        return f"{self.count} {self.what}(s) {verb}: {self.reason}"


RECORD_UNITS = frozenset(("span", "data point", "log record"))


@dataclass(slots=True)
class Decoded:
    """The result of decoding one Export request: good records plus counted rejections."""

    spans: list[SpanRecord] = field(default_factory=list)
    metric_points: list[MetricPoint] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    _by_key: dict[tuple, Rejection] = field(default_factory=dict, repr=False)
    # The records as the decoder process packed them (record_packing.py); None once they change or
    # when decoded in this process.
    packed: bytes | None = field(default=None, repr=False)

    @property
    def rejected(self) -> int:
        """Records refused (the partial-success count); dropped parts of kept records are not counted here."""
        return sum(r.count for r in self.rejections if r.is_record)

    def reject(self, what: str, reason: str, example: dict, count: int = 1) -> None:
        """Count a refusal; one Rejection per unit, reason and sending service, so each keeps its own example."""
        key = (what, reason, example.get("service"))
        same = self._by_key.get(key)
        if same is not None:
            same.count += count
            return
        self._by_key[key] = rejection = Rejection(what, reason, count, example)
        self.rejections.append(rejection)

    def error_message(self) -> str:
        # Several distinct reasons are joined; the first few are enough to act on.
        merged: dict[tuple[str, str], Rejection] = {}
        for r in self.rejections:
            same = merged.get((r.what, r.reason))
            if same is None:
                merged[(r.what, r.reason)] = Rejection(r.what, r.reason, r.count, r.example)
            else:
                same.count += r.count
        reasons = list(merged.values())
        head = "; ".join(r.message for r in reasons[:5])
        more = len(reasons) - 5
        return head + (f"; and {more} more" if more > 0 else "")
