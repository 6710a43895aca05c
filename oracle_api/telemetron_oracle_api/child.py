"""Worker processes of oracle_api: started as ``python -m <module>``, one request at a time over a socket.

The receiver's decoding and the store's writing each run in a process of their own (their Python work
then holds another GIL than the server's, on another core). The parent side is ``Child``; a child
module reads its socket and arguments with ``connect_from_argv``, says ``ready`` (or why it cannot
start) and then answers each message with one reply. Messages and replies are bytes; what they mean
is the module's. ``python -m`` with the parent's import path, never a fork (the server runs gRPC's
threads) nor multiprocessing's spawn (which imports the caller's main module again in the child).
"""

from __future__ import annotations

import builtins
import json
import marshal
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

from ._malloc import give_back_free_memory


class ChildGone(Exception):
    """The child process ended (or could not start) without answering."""


class Child:
    """One worker process; ``call`` is safe from several threads (one message at a time)."""

    def __init__(self, module: str, arguments: dict, what: str, start_timeout_s: float = 600.0) -> None:
        self.what = what
        self._command = [sys.executable, "-m", module]
        self._arguments = json.dumps(arguments)
        self._start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._process: subprocess.Popen | None = None
        self.starts = 0  # more than 1: it ended and was started again
        self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            environment = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
                "TELEMETRON_CHILD_PROCESS": self.what,  # what the child is, for tools that look at processes
            }
            process = subprocess.Popen(
                [*self._command, str(theirs.fileno()), self._arguments],
                pass_fds=(theirs.fileno(),),
                env=environment,
                stdin=subprocess.DEVNULL,
            )
            conn = Connection(os.dup(ours.fileno()))
        try:
            if not conn.poll(self._start_timeout_s):
                process.kill()
                raise ChildGone(f"the {self.what} did not start in {self._start_timeout_s:.0f} s")
            reply = marshal.loads(conn.recv_bytes())
        except EOFError:
            conn.close()
            raise ChildGone(f"the {self.what} ended while starting (exit code {process.wait()})") from None
        except BaseException:
            conn.close()
            process.wait()
            raise
        if reply[0] != "ready":
            conn.close()
            process.wait()
            raise child_exception(*reply[1:])
        self._conn, self._process = conn, process
        self.starts += 1

    def call(self, message: bytes) -> bytes:
        """Send one message and return the reply; a child that ended is started again first."""
        with self._lock:
            return self._exchange(message)

    def call_if_idle(self, message: bytes) -> bytes | None:
        """``call``, or None at once while another message is being answered."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self._exchange(message)
        finally:
            self._lock.release()

    def _exchange(self, message: bytes) -> bytes:
        if self._process is None or self._process.poll() is not None:
            if self._conn is not None:  # it ended while idle
                self._conn.close()
                self._conn = None
            self._start()
        assert self._conn is not None and self._process is not None
        try:
            self._conn.send_bytes(message)
            return self._conn.recv_bytes()
        except (EOFError, OSError) as exc:
            code = self._process.wait()
            self._conn.close()
            self._process = self._conn = None
            raise ChildGone(f"the {self.what} ended (exit code {code})") from exc

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def status(self) -> dict:
        """What ``/health`` shows of it: its process id while it runs (else None) and how often it was started."""
        return {"what": self.what, "pid": self.pid, "starts": self.starts}

    def close(self, goodbye: bytes, timeout_s: float = 30.0) -> None:
        """Send ``goodbye`` (the module's message to finish), wait for its reply and for the process to end."""
        with self._lock:
            if self._process is None or self._conn is None:
                return
            try:
                self._conn.send_bytes(goodbye)
                self._conn.recv_bytes()
            except (EOFError, OSError):
                pass
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._conn.close()
            self._process = self._conn = None


def child_exception(module: str, name: str, message: str) -> Exception:
    """An exception a child reported, again in this process: sqlite3's and built-in types as themselves."""
    source = {"sqlite3": sqlite3, "builtins": builtins}.get(module)
    kind = getattr(source, name, None) if source is not None else None
    if isinstance(kind, type) and issubclass(kind, Exception):
        return kind(message)
    return RuntimeError(f"{module}.{name}: {message}")


def error_reply(exc: BaseException) -> bytes:
    """The reply a child sends for an exception: ``child_exception`` makes it again in the parent."""
    kind = type(exc)
    return marshal.dumps(("error", kind.__module__, kind.__name__, str(exc)))


def connect_from_argv() -> tuple[Connection, dict]:
    """In a child: its socket to the parent and its arguments, as ``Child`` passed them."""
    return Connection(int(sys.argv[1])), json.loads(sys.argv[2])


IDLE_WAKEUP_S = 5.0  # how long a child's loop waits for a message before it looks after itself
QUIET_S = 0.5  # no message for this long after some: the burst is over, give freed memory back now


class FreeMemoryEvery:
    """In a child's loop: glibc's free heap pages back to the kernel (``_malloc.py``), every ``seconds``
    while messages keep coming and as soon as they stop: each message builds and frees thousands of
    records, which glibc would otherwise keep resident.

    The loop waits ``wait()`` for a message, calls ``answered()`` after each one and ``quiet()`` when
    the wait ran out.
    """

    def __init__(self, seconds: float = IDLE_WAKEUP_S) -> None:
        self._seconds = seconds
        self._due = time.monotonic() + seconds
        self._last_message = 0.0
        self._owed = False  # messages answered since the last give-back
        self.given_back = 0

    def wait(self) -> float:
        return QUIET_S if self._owed else IDLE_WAKEUP_S

    def answered(self) -> None:
        self._owed = True
        self._last_message = now = time.monotonic()
        if now >= self._due:
            self._give_back(now)

    def quiet(self) -> None:
        now = time.monotonic()
        if (self._owed and now - self._last_message >= QUIET_S) or now >= self._due:
            self._give_back(now)

    def _give_back(self, now: float) -> None:
        give_back_free_memory()
        self.given_back += 1
        self._due = now + self._seconds
        self._owed = False


def ready(conn: Connection) -> None:
    """In a child: tell the parent it can take messages."""
    conn.send_bytes(marshal.dumps(("ready",)))
