"""Decoding OTLP trace requests in processes of their own, off the server's GIL.

Decoding a span (OTLP bytes to a ``SpanRecord``, its attributes a dict) costs ~13 µs of Python, the
largest share of the server's GIL under load. A decoder process does it and answers with the records
packed (``record_packing.py``, ~4 µs a span to unpack here), plus the rejections and dropped parts
decode counted. The packed bytes travel on with the ``Decoded`` (``Decoded.packed``): a writer process
(``store/writer_process.py``) takes them as they are, so the server neither decodes nor packs a span.

Each request goes to an idle decoder; a decoder that ended is started again on its next request, and
the request it had is answered UNAVAILABLE (the sender retries it). Metrics and logs, far fewer, are
decoded in the server as before.
"""

from __future__ import annotations

import logging
import marshal
import queue
import signal

from .. import child
from ..hub import Committed
from ..model import Decoded
from ..record_packing import pack, unpack
from .decode import ResourceCache, decode_traces
from .wire import MalformedRequest

log = logging.getLogger(__name__)

_DECODE, _CLOSE = b"D", b"C"


class DecoderUnavailable(Exception):
    """A decoder process ended while it had the request (or could not start): the sender should retry."""


class DecoderProcesses:
    """``count`` decoder processes; ``decode_traces`` may be called from any number of threads."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("at least one decoder process")
        self._children = [child.Child(__spec__.name, {}, f"trace decoder process {n + 1}") for n in range(count)]
        self._idle: queue.SimpleQueue[child.Child] = queue.SimpleQueue()
        for c in self._children:
            self._idle.put(c)

    @property
    def pids(self) -> list[int]:
        return [pid for c in self._children if (pid := c.pid) is not None]

    def status(self) -> list[dict]:
        return [c.status() for c in self._children]

    def decode_traces(self, raw: bytes) -> Decoded:
        """What ``decode.decode_traces`` returns for ``raw``, with ``packed`` set; raises MalformedRequest as it does."""
        decoder = self._idle.get()
        try:
            reply = marshal.loads(decoder.call(_DECODE + raw))
        except child.ChildGone as exc:
            log.warning("%s; the next request starts another", exc)
            raise DecoderUnavailable(str(exc)) from exc
        finally:
            self._idle.put(decoder)
        if reply[0] == "malformed":
            raise MalformedRequest(reply[1])
        if reply[0] == "error":
            raise child.child_exception(*reply[1:])
        _, packed, rejections = reply
        records = unpack(packed)
        decoded = Decoded(spans=records.spans + records.pending, packed=packed)
        for what, reason, count, example in rejections:
            decoded.reject(what, reason, example, count)
        return decoded

    def close(self) -> None:
        for c in self._children:
            c.close(_CLOSE)


def _answer(raw: bytes, resources: ResourceCache) -> bytes:
    try:
        decoded = decode_traces(raw, resources)
    except MalformedRequest as exc:
        return marshal.dumps(("malformed", str(exc)))
    spans = [s for s in decoded.spans if not s.pending]
    pending = [s for s in decoded.spans if s.pending] if len(spans) < len(decoded.spans) else []
    rejections = [(r.what, r.reason, r.count, r.example) for r in decoded.rejections]
    return marshal.dumps(("ok", pack(Committed(spans=spans, pending=pending)), rejections))


def _serve() -> None:
    from .._gc import collect_less

    conn, _ = child.connect_from_argv()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group: the parent closes us
    collect_less()
    resources = ResourceCache()
    child.ready(conn)
    free_memory = child.FreeMemoryEvery()
    try:
        while True:
            if not conn.poll(free_memory.wait()):
                free_memory.quiet()
                continue
            message = conn.recv_bytes()
            if message[:1] == _CLOSE:
                conn.send_bytes(b"")
                return
            conn.send_bytes(_reply(message[1:], resources))
            free_memory.answered()
    except (EOFError, BrokenPipeError, ConnectionResetError):  # the parent is gone
        return


def _reply(raw: bytes, resources: ResourceCache) -> bytes:
    try:
        return _answer(raw, resources)
    except Exception as exc:  # a bug of decode's, not the sender's: the request is not acknowledged
        log.exception("decoding a trace request failed")
        return child.error_reply(exc)


if __name__ == "__main__":  # python -m telemetron_oracle_api.receiver.decode_process FD ARGUMENTS
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _serve()
