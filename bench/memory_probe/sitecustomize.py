"""Where a benchmarked oracle_api's memory is, reported from inside it without changing its code.

bench/bench_ingest.py puts this folder on the child's PYTHONPATH and sets
TELEMETRON_BENCH_MEMORY_REPORT to a file path; Python imports ``sitecustomize`` at start. A daemon
thread then writes a report to that path whenever ``<path>.please`` appears: glibc's heap
(mallinfo2), SQLite's allocations, the live objects by type, and, when the process runs with ``-X tracemalloc`` or
PYTHONTRACEMALLOC, the source lines holding the most Python memory.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

MIB = 1024 * 1024


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def _heap() -> str:
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return "glibc heap: mallinfo2 not available"
    mallinfo2.restype = _Mallinfo2
    info = mallinfo2()
    return (
        f"glibc heap: {info.arena / MIB:.1f} MiB in arenas ({info.uordblks / MIB:.1f} in use, "
        f"{info.fordblks / MIB:.1f} free), {info.hblkhd / MIB:.1f} MiB in {info.hblks} mmapped blocks"
    )


def _sqlite() -> str:
    """SQLite's own allocations (page caches, statements), which neither tracemalloc nor Python's
    allocator sees; read from the libsqlite3 that the sqlite3 module loaded."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    paths = sorted({line.split()[-1] for line in maps if "libsqlite3" in line})
    if not paths:
        return "SQLite: no libsqlite3 mapped (linked statically?)"
    lib = ctypes.CDLL(paths[0])
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    lib.sqlite3_memory_highwater.restype = ctypes.c_int64
    used, peak = lib.sqlite3_memory_used(), lib.sqlite3_memory_highwater(0)
    return f"SQLite: {used / MIB:.1f} MiB allocated now, {peak / MIB:.1f} MiB at most"


def _objects(top: int = 15) -> list[str]:
    counts: Counter[str] = Counter(type(o).__name__ for o in gc.get_objects())
    return [f"  {count:>10,}  {name}" for name, count in counts.most_common(top)]


def _python_lines(top: int = 25) -> list[str]:
    if not tracemalloc.is_tracing():
        return ["tracemalloc off (start the process with PYTHONTRACEMALLOC=1 for source lines)"]
    snapshot = tracemalloc.take_snapshot()
    stats = snapshot.statistics("lineno")
    total = sum(stat.size for stat in stats)
    lines = [f"tracemalloc: {total / MIB:.1f} MiB of Python allocations; top {top} source lines:"]
    for stat in stats[:top]:
        frame = stat.traceback[0]
        lines.append(f"  {stat.size / MIB:8.1f} MiB  {stat.count:>9,} blocks  {frame.filename}:{frame.lineno}")
    return lines


def _report(path: Path) -> None:
    text = (
        "\n".join(
            [
                _heap(),
                _sqlite(),
                f"threads: {threading.active_count()}",
                "live objects by type:",
                *_objects(),
                *_python_lines(),
            ]
        )
        + "\n"
    )
    partial = path.with_suffix(".tmp")
    partial.write_text(text)
    partial.rename(path)


def _watch(path: Path) -> None:
    please = Path(f"{path}.please")
    while True:
        if please.exists():
            please.unlink()
            _report(path)
        time.sleep(0.2)


# oracle_api's decoder and writer processes (telemetron_oracle_api/child.py) inherit the environment: the
# report is the server process's own.
_target = None if os.environ.get("TELEMETRON_CHILD_PROCESS") else os.environ.get("TELEMETRON_BENCH_MEMORY_REPORT")
if _target:
    threading.Thread(target=_watch, args=(Path(_target),), name="memory-probe", daemon=True).start()
