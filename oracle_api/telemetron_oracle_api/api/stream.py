"""WebSocket ``/ws/debug/{client_id}``: spans, work in progress and Oracle issues, live, as they are committed.

Messages are JSON objects with a ``type``: ``span`` (an ended span), ``pending`` (a span that has
started and not yet ended), ``issue`` (an Oracle issue opened or resolved), ``gap`` (this many
messages were dropped for this client) and ``subscribed`` (the filters in force).

Filters come as query parameters and/or JSON messages from the client at any time:
``agent``, ``trace_id``, ``kind`` (agent | tool | llm | handoff | queue | other, comma-separated),
``types`` (span, pending, issue), ``errors_only``.

Ingestion never waits for a client: the hub subscriber, on the hub's thread, only hands
the committed batch to the event loop (``call_soon_threadsafe``). Each client has a bounded
buffer; a client that does not keep up loses messages and is told how many by a ``gap`` message,
and one that stays stalled for ``stall_timeout_s`` is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect

from ..formats import STATUS_CODES, iso, span_kind_name
from ..hub import Committed
from ..model import SpanRecord
from . import steps

log = logging.getLogger(__name__)

IssueSource = Callable[[], list[dict]]  # the open issues now (``Oracle.issues``)
router = APIRouter(tags=["stream"])

MESSAGE_TYPES = ("span", "pending", "issue")
_AGENT_OPERATIONS = frozenset(("invoke_agent", "create_agent"))
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


@dataclass
class Filters:
    agent: str | None = None
    trace_id: str | None = None
    kinds: frozenset[str] | None = None
    types: frozenset[str] = frozenset(MESSAGE_TYPES)
    errors_only: bool = False

    @classmethod
    def parse(cls, raw: dict, base: Filters | None = None) -> Filters:
        """Filters from query parameters or a client message; unknown values raise ValueError."""
        filters = Filters(**vars(base)) if base else Filters()
        if "agent" in raw:
            filters.agent = str(raw["agent"]) or None if raw["agent"] is not None else None
        if "trace_id" in raw:
            filters.trace_id = str(raw["trace_id"]).lower() or None if raw["trace_id"] is not None else None
        if "kind" in raw:
            kinds = _names(raw["kind"])
            unknown = kinds - set(steps.STEP_KINDS)
            if unknown:
                raise ValueError(f"unknown kind {sorted(unknown)}: use {', '.join(steps.STEP_KINDS)}")
            filters.kinds = frozenset(kinds) or None
        if "types" in raw:
            types = _names(raw["types"])
            unknown = types - set(MESSAGE_TYPES)
            if unknown:
                raise ValueError(f"unknown types {sorted(unknown)}: use {', '.join(MESSAGE_TYPES)}")
            filters.types = frozenset(types) or frozenset(MESSAGE_TYPES)
        if "errors_only" in raw:
            value = raw["errors_only"]
            filters.errors_only = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        return filters

    def accepts(self, message: dict) -> bool:
        mtype = message["type"]
        if mtype not in self.types:
            return False
        if mtype == "issue":
            if self.trace_id and self.trace_id not in message.get("trace_ids", ()):
                return False
            return not self.agent or self.agent == message.get("entity_name") or self.agent in message.get("agents", ())
        if self.trace_id and message["trace_id"] != self.trace_id:
            return False
        if self.kinds and message["step"] not in self.kinds:
            return False
        if self.errors_only and not message.get("error"):
            return False
        return not self.agent or self.agent in (message.get("agent"), message.get("handoff_target"))

    def takes_all(self) -> bool:
        """True when only the message type matters (no agent, trace, kind or error filter)."""
        return not (self.agent or self.trace_id or self.kinds or self.errors_only)

    def json(self) -> dict:
        return {
            "agent": self.agent,
            "trace_id": self.trace_id,
            "kind": sorted(self.kinds) if self.kinds else None,
            "types": sorted(self.types),
            "errors_only": self.errors_only,
        }


def _names(value) -> set[str]:
    if isinstance(value, str):
        return {v.strip().lower() for v in value.split(",") if v.strip()}
    if isinstance(value, (list, tuple)):
        return {str(v).strip().lower() for v in value if str(v).strip()}
    raise ValueError(f"expected a name or a list of names, got {value!r}")


@dataclass(eq=False)
class _Client:
    client_id: str
    websocket: WebSocket
    filters: Filters
    limit: int
    buffer: deque = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    dropped_total: int = 0
    sent: int = 0
    full_since: float | None = None

    def full(self) -> bool:
        return len(self.buffer) >= self.limit

    def drop(self, count: int = 1) -> None:
        self.dropped += count
        self.dropped_total += count
        if self.full_since is None:
            self.full_since = time.monotonic()

    def offer(self, text: str) -> None:
        if len(self.buffer) >= self.limit:
            self.drop()
            return
        self.full_since = None
        if self.dropped:
            # The loss is reported where it happened, before the next message that does get through.
            self.flush_gap()
        self.buffer.append(text)
        self.wakeup.set()

    def flush_gap(self) -> None:
        self.buffer.append(_encode({"type": "gap", "dropped": self.dropped, "dropped_total": self.dropped_total}))
        self.dropped = 0

    def control(self, message: dict) -> None:
        """Replies to the client itself (never dropped)."""
        self.buffer.append(_encode(message))
        self.wakeup.set()


class _Lru(OrderedDict):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.limit:
            self.popitem(last=False)


class LiveStream:
    """Fans committed data out to WebSocket clients without ever blocking the store's writer.

    Subscribe ``on_committed`` to the hub; ``issues`` (the Oracle's, when it runs here) is polled for issue messages.
    """

    def __init__(
        self,
        *,
        client_buffer: int = 1000,
        backlog_batches: int = 256,
        stall_timeout_s: float = 60.0,
        issue_poll_s: float = 2.0,
        issues: IssueSource | None = None,
    ) -> None:
        self.client_buffer = client_buffer
        self.backlog_batches = backlog_batches
        self.stall_timeout_s = stall_timeout_s
        self.issue_poll_s = issue_poll_s
        self.clients: set[_Client] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        # What is polled for open issues (the Oracle's ``issues``), when the Oracle runs in this process.
        self.issues = issues
        self._lock = threading.Lock()
        self._scheduled = 0
        self._overflow = 0
        self.batches_dropped = 0
        # What a span's ancestors were, so that a span can be attributed to its agent live.
        self._agent_of: _Lru = _Lru(100_000)
        self._parent_of: _Lru = _Lru(200_000)
        self._issues: dict[str, dict] = {}
        self._issue_task: asyncio.Task | None = None

    # --- the hub thread's side: hand over and return ----------------------------------------------

    def on_committed(self, batch: Committed) -> None:
        loop = self.loop
        if loop is None or not self.clients or not (batch.spans or batch.pending):
            return
        with self._lock:
            if self._scheduled >= self.backlog_batches:
                # The event loop is behind: drop the batch for everyone and say so.
                self._overflow += len(batch.spans) + len(batch.pending)
                self.batches_dropped += 1
                return
            self._scheduled += 1
        try:
            loop.call_soon_threadsafe(self._dispatch, batch)
        except RuntimeError:  # the loop has closed
            with self._lock:
                self._scheduled -= 1

    # --- the event loop's side --------------------------------------------------------------------

    def _dispatch(self, batch: Committed) -> None:
        with self._lock:
            self._scheduled -= 1
            overflow, self._overflow = self._overflow, 0
        if overflow:
            for client in self.clients:
                client.dropped += overflow
                client.dropped_total += overflow
        if not self.clients:
            return
        pending = [p for p in batch.pending if p.parent_span_id]
        if all(c.full() and c.filters.takes_all() for c in self.clients):
            # Every client is stalled and would take everything: count the loss, build nothing.
            for client in self.clients:
                types = client.filters.types
                client.drop(("pending" in types) * len(pending) + ("span" in types) * len(batch.spans))
            self._check_stalled()
            return
        self._learn(batch)
        messages = [self._pending_message(record) for record in pending]
        messages += [self._span_message(span) for span in batch.spans]
        texts: list[str | None] = [None] * len(messages)  # encoded once, and only if some client takes it
        for client in list(self.clients):
            filters = client.filters
            for i, message in enumerate(messages):
                if not filters.accepts(message):
                    continue
                if client.full():
                    client.drop()
                    continue
                text = texts[i]
                if text is None:
                    text = texts[i] = _encode(message)
                client.offer(text)
        self._check_stalled()

    def _check_stalled(self) -> None:
        now = time.monotonic()
        for client in list(self.clients):
            if client.full_since is not None and now - client.full_since > self.stall_timeout_s:
                asyncio.ensure_future(self._disconnect_stalled(client))

    async def _disconnect_stalled(self, client: _Client) -> None:
        if client not in self.clients:
            return
        self.clients.discard(client)
        log.warning("live stream: disconnecting stalled client %s (%d dropped)", client.client_id, client.dropped_total)
        with contextlib.suppress(Exception):
            await client.websocket.close(code=1008, reason="client too slow: buffer stayed full")

    def _learn(self, batch: Committed) -> None:
        """Remember parents and agent spans first: a batch often holds a child before its agent span."""
        for p in batch.pending:
            if p.parent_span_id:
                key = (p.trace_id, p.parent_span_id)
                if p.pending_parent_id:
                    self._parent_of.put(key, p.pending_parent_id)
                if p.operation in _AGENT_OPERATIONS:
                    self._agent_of.put(key, p.agent_name or p.name.partition(" ")[2] or p.name)
        for s in batch.spans:
            key = (s.trace_id, s.span_id)
            if s.parent_span_id:
                self._parent_of.put(key, s.parent_span_id)
            if s.operation in _AGENT_OPERATIONS:
                self._agent_of.put(key, s.agent_name or s.name.partition(" ")[2] or s.name)

    def _owner(self, trace_id: str, span_id: str | None) -> str | None:
        for _ in range(64):
            if span_id is None:
                return None
            key = (trace_id, span_id)
            agent = self._agent_of.get(key)
            if agent:
                return agent
            span_id = self._parent_of.get(key)
        return None

    def _span_message(self, span: SpanRecord) -> dict:
        attrs = span.attributes
        step = steps.step_kind(span.operation, span.name, span.kind, attrs, span.request_model, span.provider)
        agent = self._owner(span.trace_id, span.span_id)
        message = {
            "type": "span",
            "step": step,
            "agent": agent,
            "trace_id": span.trace_id,
            "span_id": span.span_id,
            "parent_span_id": span.parent_span_id,
            "name": span.name,
            "span_kind": span_kind_name(span.kind),
            "service_name": span.resource.service_name,
            "start_time": iso(span.start_ns),
            "start_ns": span.start_ns,
            "end_ns": span.end_ns,
            "duration_ms": (span.end_ns - span.start_ns) / 1e6,
            "status": STATUS_CODES[span.status_code] if 0 <= span.status_code < 3 else str(span.status_code),
            "status_message": span.status_message,
            "error": span.status_code == 2,
            "model": span.request_model,
            "input_tokens": span.input_tokens,
            "output_tokens": span.output_tokens,
            "attributes": attrs,
        }
        if step == steps.HANDOFF:
            source, target = steps.handoff_ends(span.name, attrs) or (None, None)
            message["agent"] = source or agent
            message["handoff_target"] = target
        return message

    def _pending_message(self, pending: SpanRecord) -> dict:
        real_id = pending.parent_span_id
        attrs = pending.attributes
        step = steps.step_kind(
            pending.operation, pending.name, pending.kind, attrs, pending.request_model, pending.provider
        )
        return {
            "type": "pending",
            "step": step,
            "agent": self._owner(pending.trace_id, real_id),
            "trace_id": pending.trace_id,
            "span_id": real_id,
            "parent_span_id": pending.pending_parent_id,
            "name": pending.name,
            "service_name": pending.resource.service_name,
            "start_time": iso(pending.start_ns),
            "start_ns": pending.start_ns,
            "last_seen": iso(max(pending.end_ns, pending.start_ns)),
            "model": pending.request_model,
            "error": False,
            "attributes": {k: v for k, v in attrs.items() if not k.endswith("span_type")},
        }

    # --- Oracle issues ----------------------------------------------------------------------------

    async def _poll_issues(self) -> None:
        while self.clients:
            issues = self.issues
            if issues is not None:
                try:
                    current = await asyncio.to_thread(issues)
                except Exception:
                    log.exception("live stream: reading Oracle issues failed")
                    current = None
                if current is not None:
                    self._publish_issues(current)
            await asyncio.sleep(self.issue_poll_s)
        self._issue_task = None

    def _publish_issues(self, current: list[dict]) -> None:
        now = {i["id"]: i for i in current}
        changes = []
        for issue_id, issue in now.items():
            before = self._issues.get(issue_id)
            if before is None or before.get("severity") != issue.get("severity"):
                changes.append(("opened" if before is None else "changed", issue))
        for issue_id, issue in self._issues.items():
            if issue_id not in now:
                changes.append(("resolved", issue))
        self._issues = now
        for status, issue in changes:
            self._offer_issue(status, issue)

    def _offer_issue(self, status: str, issue: dict, only: _Client | None = None) -> None:
        entity = issue.get("entity", {})
        message = {
            "type": "issue",
            "status": status,
            "id": issue.get("id"),
            "severity": issue.get("severity"),
            "kind": issue.get("kind"),
            "entity_name": entity.get("name"),
            "agents": issue.get("evidence", {}).get("agents", []),
            "trace_ids": issue.get("evidence", {}).get("trace_ids", []),
            "issue": issue,
        }
        text = _encode(message)
        for client in [only] if only else list(self.clients):
            if client.filters.accepts(message):
                client.offer(text)

    # --- one connection ---------------------------------------------------------------------------

    async def serve(self, websocket: WebSocket, client_id: str) -> None:
        try:
            filters = Filters.parse(dict(websocket.query_params))
        except ValueError as exc:
            await websocket.close(code=1008, reason=str(exc)[:120])
            return
        await websocket.accept()
        self.loop = asyncio.get_running_loop()
        client = _Client(client_id, websocket, filters, self.client_buffer)
        client.control(
            {"type": "subscribed", "client_id": client_id, "filters": filters.json(), "buffer": self.client_buffer}
        )
        self.clients.add(client)
        for issue in self._issues.values():  # what is open now, for a client that just arrived
            self._offer_issue("open", issue, only=client)
        if self._issue_task is None and self.issues is not None:
            self._issue_task = asyncio.ensure_future(self._poll_issues())
        sender = asyncio.ensure_future(self._send(client))
        try:
            while True:
                text = await websocket.receive_text()
                try:
                    raw = json.loads(text)
                    if not isinstance(raw, dict):
                        raise ValueError("send a JSON object of filters")
                    client.filters = Filters.parse(raw.get("filters", raw), client.filters)
                    client.control({"type": "subscribed", "client_id": client_id, "filters": client.filters.json()})
                except ValueError as exc:
                    client.control({"type": "error", "message": str(exc)})
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    async def _send(self, client: _Client) -> None:
        try:
            while True:
                while not client.buffer:
                    if client.dropped:
                        client.flush_gap()  # caught up: report the loss now, not at the next message
                        break
                    client.wakeup.clear()
                    await client.wakeup.wait()
                await client.websocket.send_text(client.buffer.popleft())
                client.sent += 1
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            self.clients.discard(client)

    def stats(self) -> dict:
        return {
            "clients": [
                {
                    "client_id": c.client_id,
                    "buffered": len(c.buffer),
                    "sent": c.sent,
                    "dropped": c.dropped_total,
                    "filters": c.filters.json(),
                }
                for c in self.clients
            ],
            "batches_dropped": self.batches_dropped,
        }


@router.websocket("/ws/debug/{client_id}")
async def debug_stream(websocket: WebSocket, client_id: str) -> None:
    stream: LiveStream | None = websocket.app.state.services.stream
    if stream is None:
        await websocket.close(code=1011, reason="live stream is not running")
        return
    await stream.serve(websocket, client_id)


@router.get("/api/v1/stream/stats", tags=["stream"])
def stream_stats(request: Request) -> dict:
    """Connected live-stream clients: buffered, sent and dropped messages."""
    stream: LiveStream | None = request.app.state.services.stream  # api.deps.Services, which imports this module
    return stream.stats() if stream else {"clients": [], "batches_dropped": 0}
