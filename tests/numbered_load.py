"""Numbered OTLP load for fault and overload runs: every span carries a unique sequence number, so
what was acknowledged, stored and put on Kafka can be counted span by span.

Used by tests/test_faults.py and bench/bench_faults.py.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal, TypeVar

import grpc
import httpx
from confluent_kafka import Consumer, TopicPartition
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status, TracesData
from otlp_builders import TRACE_EXPORT, kv
from telemetron_oracle_api.store import span_documents

SEQ_ATTRIBUTE = "load.seq"
SPANS_PER_TRACE = 10
# Every ERROR_EVERY-th span has error status, so the Collector also routes it to the errors topic.
ERROR_EVERY = 10

_log = logging.getLogger("telemetron.numbered_load")


@functools.cache
def _span_template(attributes: int) -> bytes:
    span = Span(name="chat numbered", kind=Span.SPAN_KIND_CLIENT)
    span.attributes.extend(kv(f"gen_ai.load.attr_{i}", f"value-{i}-" + "x" * 16) for i in range(attributes))
    return span.SerializeToString()


def numbered_request(run: bytes, seqs: Iterable[int], attributes: int = 12) -> bytes:
    """An ExportTraceServiceRequest with one span per sequence number.

    The span id is the sequence number (+1, ids must not be zero); ``run`` (8 bytes) starts every
    trace id, so two runs never share a span. ``attributes`` GenAI-like attributes give the spans
    a realistic size (about 690 bytes with 12); they are parsed from a template, three times
    faster than building each span's attributes. Every ``ERROR_EVERY``-th span has error status.
    """
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "numbered-load")])
    ss = rs.scope_spans.add()
    ss.scope.name = "tests.numbered_load"
    template = _span_template(attributes)
    now = time.time_ns()
    for seq in seqs:
        span = ss.spans.add()
        span.MergeFromString(template)
        span.trace_id = run + (seq // SPANS_PER_TRACE).to_bytes(8, "big")
        span.span_id = (seq + 1).to_bytes(8, "big")
        span.start_time_unix_nano, span.end_time_unix_nano = now, now + 1_000_000
        span.attributes.add(key=SEQ_ATTRIBUTE).value.int_value = seq
        if seq % ERROR_EVERY == 0:
            span.status.code = Status.STATUS_CODE_ERROR
    return request.SerializeToString()


class NumberedSender:
    """Sends numbered spans to an OTLP gRPC endpoint from background threads, as an SDK would:
    each request is retried until it is acknowledged; ``acked`` holds the sequence numbers of
    every acknowledged request.

    ``rate`` caps spans per second over all threads (None: as fast as the receiver answers).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        per_request: int = 100,
        threads: int = 2,
        rate: float | None = None,
        attributes: int = 12,
        timeout: float = 10.0,
    ) -> None:
        self.endpoint = endpoint
        self.per_request = per_request
        self.rate = rate
        self.attributes = attributes
        self.timeout = timeout
        self.run = uuid.uuid4().bytes[:8]
        self.acked: set[int] = set()
        self.issued = 0  # sequence numbers handed to a thread so far: 0 .. issued - 1
        self.failed_attempts = 0
        self.last_error = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._channel = grpc.insecure_channel(
            endpoint,
            options=[
                ("grpc.max_send_message_length", 64 << 20),
                # Reconnect quickly to a restarted Collector (gRPC's default backoff grows to 120 s).
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
            ],
        )
        self._export = self._channel.unary_unary(
            TRACE_EXPORT, response_deserializer=ExportTraceServiceResponse.FromString
        )
        self._threads = [threading.Thread(target=self._loop, name=f"numbered-{i}", daemon=True) for i in range(threads)]
        self._interval = threads * per_request / rate if rate else 0.0

    @property
    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def start(self) -> NumberedSender:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stops taking new requests; the one in progress on each thread is still retried until acked."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"{thread.name} still retrying after {timeout:.0f}s: {self.last_error}")
        self._channel.close()

    def wait_acked(self, count: int, timeout: float, what: str = "") -> None:
        """Polls until at least ``count`` spans are acknowledged."""
        deadline = time.monotonic() + timeout
        while self.acked_count < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.acked_count} of {count} spans acknowledged after {timeout:.0f}s {what}: "
                    f"last error {self.last_error}"
                )
            time.sleep(0.1)

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                seqs = range(self.issued, self.issued + self.per_request)
                self.issued = seqs.stop
            self._send_until_acked(numbered_request(self.run, seqs, self.attributes))
            with self._lock:
                self.acked.update(seqs)
            if self._interval:
                next_at += self._interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _send_until_acked(self, raw: bytes) -> None:
        backoff = 0.05
        while True:
            try:
                response = self._export(raw, timeout=self.timeout)
            except grpc.RpcError as err:
                with self._lock:
                    self.failed_attempts += 1
                    self.last_error = f"{err.code().name}: {err.details()}"
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            if response.partial_success.rejected_spans:
                raise AssertionError(f"numbered spans rejected: {response.partial_success.error_message}")
            return


# --- counting -----------------------------------------------------------------------------------


def stored_seqs(db_path: Path, run: bytes) -> Counter[int]:
    """How many rows the store holds for each sequence number of one sender's run."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    span_documents.register(conn)
    try:
        rows = conn.execute(
            f"SELECT json_extract(telemetron_json(attributes), '$.\"{SEQ_ATTRIBUTE}\"') AS seq, count(*) FROM spans "
            "WHERE trace_id >= ? AND trace_id < ? GROUP BY seq",
            (run.hex(), run.hex() + "g"),
        ).fetchall()
    finally:
        conn.close()
    return Counter(dict(rows))


def kafka_seqs(bootstrap: str, topic: str, run: bytes, timeout: float = 120.0) -> Counter[int]:
    """How many times each sequence number of one sender's run appears on ``topic``, read from offset 0 to the end."""
    counts: Counter[int] = Counter()
    for span in kafka_spans(bootstrap, topic, timeout):
        if span.trace_id[:8] != run:
            continue
        for attr in span.attributes:
            if attr.key == SEQ_ATTRIBUTE:
                counts[attr.value.int_value] += 1
                break
    return counts


def kafka_spans(bootstrap: str, topic: str, timeout: float = 120.0) -> Iterator[Span]:
    """Every span on ``topic`` (OTLP protobuf messages), read from offset 0 to the end of each partition."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"count-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "logger": _log,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        remaining = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: partitions {sorted(remaining)} not read to their end in {timeout:.0f}s")
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            for resource_spans in TracesData.FromString(message.value()).resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    yield from scope_spans.spans
            if (message.offset() or 0) + 1 >= ends[message.partition()]:  # a consumed message has an offset
                remaining.discard(message.partition())
    finally:
        consumer.close()


T = TypeVar("T")


def wait_for(predicate: Callable[[], T | Literal[False] | None], timeout: float, what: str) -> T:
    """Polls ``predicate`` until it returns something truthy; raises TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.25)


def wait_stored(db_path: Path, sender: NumberedSender, timeout: float) -> Counter[int]:
    """The store's counts of the sender's run once every sequence number it acknowledged is in it."""
    acked = sender.acked

    def complete() -> Counter[int] | None:
        stored = stored_seqs(db_path, sender.run)
        return stored if acked.issubset(stored) else None

    try:
        return wait_for(complete, timeout, "every acknowledged span stored")
    except TimeoutError:
        missing = len(acked - set(stored_seqs(db_path, sender.run)))
        raise TimeoutError(f"{missing} of {len(acked)} acknowledged spans not stored within {timeout:.0f}s") from None


# --- memory -------------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """The process's children, theirs, and so on (oracle_api's decoder and writer processes)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    todo.extend(int(c) for c in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
        if parent != pid:
            found.append(parent)
    return found


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (state first), or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds one process has used (0 when it is gone)."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ended(pid: int) -> bool:
    """The process is gone, or ended and not yet reaped by its parent (a zombie)."""
    fields = _stat_fields(pid)
    return fields is None or fields[0] == "Z"


def process_environ(pid: int) -> dict[str, str]:
    """The environment a running process was started with."""
    items = Path(f"/proc/{pid}/environ").read_text().split("\0")
    return dict(item.split("=", 1) for item in items if "=" in item)


def own_rss_bytes(pid: int, field: str = "VmRSS") -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """Resident set size of a process and its descendants, added up (0 when it is gone); ``field="RssAnon"``
    leaves out mapped files, such as the Collector's memory-mapped queue files. Pages the processes share
    (the Python interpreter's) count once per process: an upper bound."""
    return sum(own_rss_bytes(p, field) for p in [pid, *descendants(pid)])


def pss_bytes(pid: int) -> int:
    """Proportional set size of a process and its descendants, added up (0 when it is gone): each page
    counted once, shared ones split among the processes that map them, so the pages oracle_api's
    processes share (the interpreter, the C libraries) count once in all."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


class Sampling:
    """A background thread that calls ``sample()`` every ``interval`` seconds inside a ``with`` block."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=type(self).__name__, daemon=True)

    def __enter__(self: S) -> S:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()


S = TypeVar("S", bound=Sampling)


class PeakRss(Sampling):
    """Samples the RSS of named processes every ``interval`` seconds and keeps each one's peak.

    Each process is given as a callable returning its current pid (None while it is down), so the
    peak follows a process across restarts.
    """

    def __init__(self, pids: dict[str, Callable[[], int | None]], interval: float = 0.2) -> None:
        super().__init__(interval)
        self.peak: dict[str, int] = dict.fromkeys(pids, 0)
        self.peak_anon: dict[str, int] = dict.fromkeys(pids, 0)
        self._pids = pids

    def sample(self) -> None:
        for name, pid in self._pids.items():
            current = pid()
            if current:
                self.peak[name] = max(self.peak[name], rss_bytes(current))
                self.peak_anon[name] = max(self.peak_anon[name], rss_bytes(current, "RssAnon"))


def collector_metric(metrics_url: str, name: str, **labels: str) -> float:
    """Sum of a Collector Prometheus metric's samples whose labels include ``labels`` (0 if none)."""
    total = 0.0
    for line in httpx.get(metrics_url, timeout=5).text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total
