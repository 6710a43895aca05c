"""What the receiver, the APIs and the Oracle need from storage: one typed interface, two backends behind it.

SQLite (``sqlite.py``) and PostgreSQL (``postgres.py``) implement ``TelemetryStore``; the routes do not
change with the backend (``open.py`` picks it). The rows it returns
are plain dicts, tuples and lists with the column names of ``schema.sql``; rendering them for a
client is the API's part (``api/rest_model.py``, ``api/jaeger_model.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

from ..model import Decoded
from ..receiver.rejections import RejectionLog
from .search import SpanSearch, TraceFilter
from .telemetry_reads import LogFilter, MetricFilter

# The stored JSON documents of a span (span_documents.py); the reads return them parsed.
SPAN_DOCUMENTS = ("attributes", "events", "links", "dropped_counts", "scope_attributes")

# Every column a span is written with, in the order of the writers' rows (``sqlite.span_row``).
SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "service_name",
    "start_ns",
    "end_ns",
    "duration_ns",
    "status_code",
    "status_message",
    "operation",
    "agent_name",
    "provider",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "conversation_id",
    "error_type",
    "attributes",
    "events",
    "links",
    "resource_key",
    "scope_name",
    "scope_version",
    "trace_state",
    "flags",
    "dropped_counts",
    "received_ns",
    "scope_attributes",
)

# The span columns ``recent_span_rows`` yields, in order: what the Oracle folds in again at startup.
# ``attributes`` and ``links`` come as stored (JSON text, or compressed: span_documents.py) and may be
# None for spans whose attributes it never reads.
ORACLE_SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "status_code",
    "status_message",
    "operation",
    "agent_name",
    "provider",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "conversation_id",
    "error_type",
    "resource_key",
    "scope_name",
    "scope_version",
    "trace_state",
    "flags",
    "attributes",
    "links",
)


class TelemetryStore(Protocol):
    """Writes (the receiver's submit path) and the named reads every API and the Oracle use."""

    path: Path
    committed_spans: int
    write_errors: int
    rejections: RejectionLog  # what the receiver refused, for the Oracle's issues

    # --- writing: a future per request, completed once its batch is committed (or failed) -------
    def submit(self, decoded: Decoded) -> Future[None]: ...
    def write(self, decoded: Decoded, timeout: float | None = 60.0) -> None: ...
    def close(self) -> None: ...

    # --- search (REST, Jaeger v1 and api_v3) -----------------------------------------------------
    def list_traces(
        self, f: TraceFilter, *, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[dict], str | None]: ...
    def find_trace_ids(self, q: SpanSearch) -> list[str]: ...

    # --- one trace ---------------------------------------------------------------------------------
    def trace_spans(self, trace_id: str) -> list[dict]: ...
    def jaeger_span_rows(self, trace_ids: list[str]) -> list[list]: ...
    def active_spans(self, trace_id: str) -> list[dict]: ...
    def trace_summary(self, trace_id: str) -> dict | None: ...
    def trace_summaries(self, trace_ids: list[str]) -> list[dict]: ...
    def resources(self, keys: Iterable[str]) -> dict[str, dict]: ...
    def service_span_stats(self, trace_id: str) -> list[tuple[str, int, int]]: ...
    def orphan_span_count(self, trace_id: str) -> int: ...

    # --- services, dependencies and windows ------------------------------------------------------
    def services(self) -> list[str]: ...
    def operations(self, service: str | None, span_kind: int | None = None) -> list[tuple[str, int]]: ...
    def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]: ...
    def spans_in_window(self, since_ns: int, until_ns: int) -> Iterator[Mapping]: ...
    def red_spans(
        self, services: Sequence[str], kinds: Sequence[int], since_ns: int, until_ns: int
    ) -> list[tuple[str, str, int, int, int]]: ...
    def llm_spans(self, since_ns: int, until_ns: int) -> list[Mapping]: ...

    # --- log records and metric points (newest first; cursor: the previous page's next_cursor) --
    def log_records(
        self, f: LogFilter, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict], str | None]: ...
    def trace_log_records(self, trace_id: str, limit: int) -> list[dict]: ...
    def log_counts(self, trace_ids: Sequence[str]) -> dict[str, int]: ...
    def metric_points(
        self, f: MetricFilter, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict], str | None]: ...

    # --- the Oracle's startup history (oracle/rebuild.py) -----------------------------------------
    def span_marker(self) -> int: ...  # grows with every stored span: the newest spans are those above it minus N
    def open_span_rows(self) -> list[dict]: ...  # active_spans rows, oldest first
    def recent_span_rows(self, after_marker: int, since_received_ns: int) -> Iterator[list[tuple]]: ...
    def recent_metric_rows(self, names: Sequence[str], since_ns: int) -> Iterator[list[dict]]: ...

    # --- the Oracle's snapshots (oracle/snapshots.py): rows with id, taken_ns, reason, state, issues --
    def save_snapshot(self, taken_ns: int, reason: str, state: bytes, issues: str, keep: int) -> int: ...
    def snapshot_by_id(self, snapshot_id: int) -> dict | None: ...
    def snapshot_at(self, t_ns: int) -> dict | None: ...
    def latest_snapshot(self) -> dict | None: ...
    def snapshot_listing(self, limit: int, before_id: int | None) -> list[dict]: ...
    def snapshot_count(self) -> int: ...
    def close_snapshots(self) -> None: ...
