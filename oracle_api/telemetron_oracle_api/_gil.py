"""The store's writer gets the GIL back sooner in the server process.

The writer lets go of the GIL whenever SQLite or zstd runs, dozens of times a batch, and another thread
(the request being decoded, the Oracle folding the last commit) takes it. To get it back the writer
asks, and the holder lets go only at CPython's next switch, 5 ms by default: the writer, the one
thread every acknowledgement waits for, spent about a fifth of its time waiting so. At 0.5 ms the
waits shrink tenfold, for a few thousand more switches a second: through the whole pipeline at 10k
spans/s, oracle_api then kept up (README, "Benchmarks").
"""

from __future__ import annotations

import sys

SWITCH_INTERVAL_S = 0.0005


def switch_threads_sooner() -> None:
    """Set this process's thread switch interval to ``SWITCH_INTERVAL_S``."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
