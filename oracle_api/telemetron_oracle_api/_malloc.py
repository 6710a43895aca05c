"""Let the server reuse freed memory instead of giving it back to the kernel after every large response.

A trace of 1,000 spans is a JSON text of about 1 MiB, and a request builds, wraps and encodes it a
few times. glibc serves blocks that large with ``mmap``, or trims them off the top of the heap,
and returns them to the kernel on free, so the next request page-faults its buffers in again.
On a 2-core VM that cost about 1 ms per 1 MiB buffer: 2 to 3 ms of a 15 ms trace view
(``bench/bench_queries.py``). Raising the two thresholds keeps up to 64 MiB of freed heap for reuse.
Elsewhere (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD_BYTES = 64 << 20


def keep_freed_memory() -> bool:
    """Apply the thresholds in this process; False when the C library is not glibc."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - present only in glibc
    except (OSError, AttributeError):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
