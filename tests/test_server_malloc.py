"""The server keeps freed memory for reuse, so large responses do not page-fault their buffers in every time,
and gives it back once a burst of work is over (the server and its decoder and writer processes alike)."""

from __future__ import annotations

import subprocess
import sys
import time

from telemetron_oracle_api import child

# Runs in a fresh interpreter: mallopt settings are process-wide and the test process's own heap
# history would blur the numbers. mallinfo2 (glibc >= 2.33) reports the heap as malloc sees it.
PROBE = """
import ctypes, sys
from telemetron_oracle_api._malloc import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
block = bytearray(8 << 20)
in_mmap = libc.mallinfo2().hblkhd
del block
print(in_mmap, libc.mallinfo2().fordblks)
"""


def probe(mode: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    in_mmap, free_in_heap = map(int, out.split())
    return in_mmap, free_in_heap


def test_a_large_block_comes_from_the_heap_and_stays_there_once_freed():
    in_mmap, free_in_heap = probe("default")
    assert in_mmap >= 8 << 20  # glibc's default: a separate mapping, unmapped again on free
    assert free_in_heap < 8 << 20

    in_mmap, free_in_heap = probe("tuned")
    assert in_mmap < 8 << 20
    assert free_in_heap >= 8 << 20  # kept for the next response


# Threads that allocate, then glibc's own per-arena report (malloc_stats, on stderr).
ARENA_PROBE = """
import ctypes, sys, threading
from telemetron_oracle_api._malloc import keep_freed_memory

if sys.argv[1] == "tuned":
    assert keep_freed_memory()
barrier = threading.Barrier(8)

def allocate():
    barrier.wait()
    blocks = [bytearray(4096) for _ in range(200)]
    barrier.wait()

threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


def arenas(mode: str) -> int:
    err = subprocess.run([sys.executable, "-c", ARENA_PROBE, mode], capture_output=True, text=True, check=True).stderr
    return sum(1 for line in err.splitlines() if line.startswith("Arena "))


def test_threads_share_two_arenas_instead_of_one_each():
    assert arenas("default") > 2  # glibc's default: new threads get arenas of their own
    assert arenas("tuned") <= 2


# Many small blocks freed except the last one, so the free memory sits inside the heap, not at its top.
TRIM_PROBE = """
import sys
from telemetron_oracle_api._malloc import give_back_free_memory, keep_freed_memory

def resident_kib():
    return int(open("/proc/self/statm").read().split()[1]) * 4

assert keep_freed_memory()
blocks = [bytearray(1000) for _ in range(100_000)]
keep = bytearray(1000)
del blocks
before = resident_kib()
assert give_back_free_memory()
print(before, resident_kib())
"""


def test_the_free_memory_inside_the_heap_goes_back_to_the_kernel():
    out = subprocess.run([sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, check=True).stdout
    before_kib, after_kib = map(int, out.split())
    assert before_kib - after_kib > 50_000  # most of the ~100 MB the blocks took


# Work (allocating ~100 MB in small blocks, then freeing them), then quiet: the give-back thread,
# whose period is far longer than the wait here, gives the freed memory back because the work stopped.
QUIET_PROBE = """
import time
from telemetron_oracle_api._malloc import give_back_free_memory_every, keep_freed_memory

def resident_kib():
    return int(open("/proc/self/statm").read().split()[1]) * 4

assert keep_freed_memory()
give_back_free_memory_every(600)
blocks = [bytearray(1000) for _ in range(100_000)]
keep = bytearray(1000)
end = time.process_time() + 1.0
while time.process_time() < end:  # a burst of work the thread sees as CPU time
    pass
del blocks
before = resident_kib()
deadline = time.monotonic() + 20
while resident_kib() > before - 50_000 and time.monotonic() < deadline:
    time.sleep(0.1)
print(before, resident_kib())
"""


def test_freed_memory_goes_back_once_the_process_goes_quiet_after_work():
    out = subprocess.run([sys.executable, "-c", QUIET_PROBE], capture_output=True, text=True, check=True).stdout
    before_kib, after_kib = map(int, out.split())
    assert before_kib - after_kib > 50_000  # given back long before the 600 s period


def test_a_child_gives_memory_back_when_its_messages_stop_and_not_while_they_come():
    free_memory = child.FreeMemoryEvery(seconds=600)
    assert free_memory.wait() == child.IDLE_WAKEUP_S  # nothing owed: wait long
    free_memory.answered()
    assert free_memory.wait() == child.QUIET_S
    free_memory.quiet()  # a wait cut short (by the writer's retention timer) is not yet quiet
    assert free_memory.given_back == 0
    time.sleep(child.QUIET_S)
    free_memory.quiet()
    assert free_memory.given_back == 1
    free_memory.quiet()  # nothing answered since: nothing more to give back
    assert free_memory.given_back == 1 and free_memory.wait() == child.IDLE_WAKEUP_S
