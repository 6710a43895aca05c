"""The SQLite writer in a process of its own, so its Python work runs beside the receiver's, not under its GIL.

Under load one oracle_api process spent about as much of its single GIL writing batches (building rows,
hashing attribute values, encoding documents) as decoding requests and folding them into the Oracle,
while the machine's second core stayed mostly idle. ``WriterProcess`` runs a ``SqliteWriter`` in a
child process (``child.py``) and gives it each batch as bytes (``record_packing.py``): the decoder
process's bytes as they came when a batch is whole requests, else the records packed here.

The guarantees are the writer thread's: ``write`` returns only once the child has committed the batch,
and raises what the child's write raised (the same sqlite3 or built-in exception type, so a data error
still rejects only its records and a database error still fails the batch for a retry). A child that
ends without answering (killed, out of memory) loses only its open transaction, which SQLite rolls
back: ``write`` raises ``sqlite3.OperationalError`` (the senders retry) and the next write starts a new
child. Retention runs in the child, between batches and while it waits for one, as on the thread.
"""

from __future__ import annotations

import logging
import marshal
import signal
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from .. import child
from ..hub import Committed
from ..record_packing import pack, unpack_all
from .retention import RetentionPolicy

if TYPE_CHECKING:
    from .sqlite_writer import SqliteWriter

log = logging.getLogger(__name__)

_WRITE, _STATUS, _CLOSE = b"W", b"S", b"C"
_OK = marshal.dumps(("ok",))


class WriterProcess:
    """``SqliteWriter``'s methods, carried out by a child process."""

    def __init__(self, path: Path, retention: RetentionPolicy | None, cache_mb: int) -> None:
        arguments = {"path": str(path), "retention": asdict(retention or RetentionPolicy()), "cache_mb": cache_mb}
        try:
            self._child = child.Child(__spec__.name, arguments, "store's writer process")
        except child.ChildGone as exc:
            raise sqlite3.OperationalError(str(exc)) from exc
        self._status: dict = self._call(_STATUS)[1]

    def _call(self, message: bytes, *, wait: bool = True) -> tuple:
        try:
            answer = self._child.call(message) if wait else self._child.call_if_idle(message)
            reply = ("busy",) if answer is None else marshal.loads(answer)
        except child.ChildGone as exc:
            log.warning("%s; the next write starts another", exc)
            raise sqlite3.OperationalError(str(exc)) from exc
        if reply[0] == "error":
            raise child.child_exception(*reply[1:])
        return reply

    def write(self, c: Committed) -> None:
        self._call(_WRITE + marshal.dumps(c.packed if c.packed is not None else [pack(c)]))

    def status(self) -> dict:
        """The child's answer, or while it commits a batch the last one it gave: /health never waits for a commit."""
        reply = self._call(_STATUS, wait=False)
        if reply[0] == "ok":
            self._status = reply[1]
        return self._status

    @property
    def pid(self) -> int | None:
        return self._child.pid

    def process_status(self) -> dict:
        return self._child.status()

    def close(self) -> None:
        self._child.close(_CLOSE)

    # Retention runs in the child, between its batches and while it waits for one.
    def idle_timeout(self) -> float | None:
        return None

    def idle(self) -> None:
        pass

    def after_batch(self) -> None:
        pass


def _serve() -> None:
    """The child: open the writer, then answer requests until told to close or the parent is gone."""
    from .._gc import collect_less
    from .sqlite_writer import SqliteWriter  # only the child writes (and loads what writing needs)

    conn, arguments = child.connect_from_argv()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group: the parent closes us
    collect_less()
    try:
        retention = RetentionPolicy(**arguments["retention"])
        writer = SqliteWriter(Path(arguments["path"]), retention, arguments["cache_mb"])
    except Exception as exc:
        conn.send_bytes(child.error_reply(exc))
        return
    child.ready(conn)
    free_memory = child.FreeMemoryEvery()
    try:
        while True:
            wait = writer.idle_timeout()
            retention_due = None if wait is None else time.monotonic() + wait
            if not conn.poll(free_memory.wait() if wait is None else min(wait, free_memory.wait())):
                if retention_due is not None and time.monotonic() >= retention_due:
                    writer.idle()
                free_memory.quiet()
                continue
            message = conn.recv_bytes()
            command = message[:1]
            if command == _WRITE:
                conn.send_bytes(_write(writer, message[1:]))
                writer.after_batch()
                free_memory.answered()
            elif command == _STATUS:
                conn.send_bytes(marshal.dumps(("ok", writer.status())))
            else:  # _CLOSE
                writer.close()
                conn.send_bytes(_OK)
                return
    except (EOFError, BrokenPipeError, ConnectionResetError):  # the parent is gone; what it acknowledged is committed
        writer.close()


def _write(writer: SqliteWriter, packed: bytes) -> bytes:
    """Commit one batch; the reply for the parent."""
    try:
        writer.write(unpack_all(marshal.loads(packed)))
    except Exception as exc:
        return child.error_reply(exc)
    return _OK


if __name__ == "__main__":  # python -m telemetron_oracle_api.store.writer_process FD ARGUMENTS
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _serve()
