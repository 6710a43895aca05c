"""The SQLite store: a writer commits decoded requests in batches; readers use their own connections.

The queue, the batches, the acknowledgement after commit and the rejection of only the records at
fault are ``batch_writer.py``'s; what a commit writes is ``sqlite_writer.py``'s. The writer runs on
the store's writer thread, or (``writer_process=True``, what the server uses) in a process of its own
fed by that thread (``writer_process.py``): the writer's Python work then holds another GIL than the
receiver's decoding and the Oracle's folding, on another core. A data error (a value SQLite cannot
bind, a constraint) rejects records; an error of the database itself (disk full, I/O, read-only,
locked, the writer process gone) fails the whole batch and the sender retries it.
"""

from __future__ import annotations

from pathlib import Path

from ..hub import Committed, Hub
from ..receiver.rejections import RejectionLog
from .batch_writer import BatchWriter
from .retention import RetentionPolicy
from .sqlite_oracle import SqliteOracle
from .sqlite_reads import connect
from .sqlite_writer import WRITER_CACHE_MB, SqliteWriter, is_transient
from .writer_process import WriterProcess

__all__ = ["Store", "connect"]


class Store(SqliteOracle, BatchWriter):
    """Owns the database file: the writer (``BatchWriter`` feeding a ``SqliteWriter``); the reads come from ``SqliteOracle``."""

    def __init__(
        self,
        path: Path,
        hub: Hub | None = None,
        *,
        queue_limit: int = 200_000,
        batch_limit: int = 20_000,
        retention: RetentionPolicy | None = None,
        cache_mb: int = WRITER_CACHE_MB,
        writer_process: bool = False,
    ) -> None:
        super().__init__(path)
        self.writer: SqliteWriter | WriterProcess = (
            WriterProcess(self.path, retention, cache_mb)
            if writer_process
            else SqliteWriter(self.path, retention, cache_mb)
        )
        self.rejections = RejectionLog()  # what the receiver refused, for the Oracle's issues
        self._start_writer(hub, queue_limit, batch_limit)

    def close(self) -> None:
        self._stop_writer()
        self.writer.close()
        self.close_snapshots()

    def writer_status(self) -> dict:
        """The writer connection's page cache (KiB) and what retention has done (``RetentionStats`` as a dict)."""
        return self.writer.status()

    # --- what BatchWriter asks of a backend --------------------------------------------------------

    def _write(self, c: Committed) -> None:
        self.writer.write(c)

    def _is_transient(self, exc: BaseException) -> bool:
        return is_transient(exc)

    def _idle_timeout(self) -> float | None:
        return self.writer.idle_timeout()

    def _idle(self) -> None:
        self.writer.idle()

    def _after_batch(self) -> None:
        self.writer.after_batch()
