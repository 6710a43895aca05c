"""Let the server reuse freed memory instead of giving it back to the kernel after every large response.

A trace of 1,000 spans is a JSON text of about 1 MiB, and a request builds, wraps and encodes it a
few times. glibc serves blocks that large with ``mmap``, or trims them off the top of the heap,
and returns them to the kernel on free, so the next request page-faults its buffers in again.
On a 2-core VM that cost about 1 ms per 1 MiB buffer: 2 to 3 ms of a 15 ms trace view
(``bench/bench_queries.py``). Raising the two thresholds keeps up to 64 MiB of freed heap for reuse.
glibc also gives each new thread an arena of its own, up to 8 per core, each keeping its freed
memory: two arenas are shared by all threads instead (the GIL lets few of them allocate at once),
which kept about 30 MiB less resident with 1M spans stored (``bench/bench_ingest.py --memory-report``).
Elsewhere (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import threading
import time

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
ARENAS = 2
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD_BYTES = 64 << 20


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (loaded once), else None."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - present only in glibc
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Apply the thresholds and the arena limit in this process (before it starts threads); False when the C library is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    return all(
        libc.mallopt(parameter, value)
        for parameter, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
            (_M_ARENA_MAX, ARENAS),
        )
    )


def give_back_free_memory() -> bool:
    """Return the free pages inside the heap to the kernel (glibc's ``malloc_trim``); False elsewhere.

    The trim threshold only returns the top of the heap, and a heap that millions of short-lived
    records went through is free mostly in its middle: with 1M spans stored, 50-120 MiB of it.
    """
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


# The process is quiet when it used less than this share of a core over QUIET_S (an idle server's
# own timers stay far below it; ingesting or answering queries goes far above).
QUIET_S = 0.5
QUIET_CPU_SHARE = 0.1


def give_back_free_memory_every(seconds: float) -> threading.Thread:
    """A daemon thread that calls ``give_back_free_memory`` every ``seconds``, and as soon as the process
    goes quiet after work (its CPU time stops growing), for the life of the process: memory that a burst
    of ingest or queries freed goes back within a second of it, not up to ``seconds`` later."""

    def loop() -> None:
        last = time.monotonic()
        cpu = time.process_time()
        worked = False
        while True:
            time.sleep(QUIET_S)
            now, now_cpu = time.monotonic(), time.process_time()
            busy = now_cpu - cpu > QUIET_S * QUIET_CPU_SHARE
            cpu, worked = now_cpu, worked or busy
            if (worked and not busy) or now - last >= seconds:
                give_back_free_memory()
                last, worked = time.monotonic(), False
                cpu = time.process_time()  # the give-back's own CPU is not work

    thread = threading.Thread(target=loop, name="malloc-trim", daemon=True)
    thread.start()
    return thread
