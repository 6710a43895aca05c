"""Time-bucketed counters and small bounded collections the Oracle keeps in memory."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, cast

NS = 1_000_000_000


class Rolling:
    """Count and sum of values per time bucket over a horizon; older buckets fall away.

    Events are bucketed by their own timestamp, so a late or replayed event lands where it
    happened and an event older than the horizon is ignored.
    """

    __slots__ = ("_bucket_ns", "_max_buckets", "_buckets", "_newest")

    def __init__(self, bucket_s: float, horizon_s: float) -> None:
        self._bucket_ns = max(1, int(bucket_s * NS))
        self._max_buckets = max(1, int(horizon_s / bucket_s) + 1)
        self._buckets: dict[int, list[float]] = {}  # bucket index -> [count, sum]
        self._newest = 0

    def add(self, t_ns: int, value: float = 1.0) -> None:
        index = t_ns // self._bucket_ns
        bucket = self._buckets.get(index)
        if bucket is not None:
            bucket[0] += 1
            bucket[1] += value
            return
        if index <= self._newest - self._max_buckets:
            return  # older than the horizon
        self._buckets[index] = [1, value]
        if index > self._newest:
            self._newest = index
            oldest = index - self._max_buckets
            if len(self._buckets) > self._max_buckets:
                for stale in [i for i in self._buckets if i <= oldest]:
                    del self._buckets[stale]

    def count(self, since_ns: int, until_ns: int | None = None) -> int:
        return int(self._fold(since_ns, until_ns, 0))

    def total(self, since_ns: int, until_ns: int | None = None) -> float:
        return self._fold(since_ns, until_ns, 1)

    def _fold(self, since_ns: int, until_ns: int | None, field: int) -> float:
        first = since_ns // self._bucket_ns
        end = self._newest + 1 if until_ns is None else until_ns // self._bucket_ns
        if end - first <= len(self._buckets):  # a short window: look up its buckets
            get = self._buckets.get
            return sum(b[field] for b in map(get, range(first, end)) if b)
        return sum(b[field] for i, b in self._buckets.items() if first <= i < end)


class Lru(OrderedDict):
    """An insertion-ordered dict that forgets its oldest entries past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key, value) -> None:
        if key in self:
            self.move_to_end(key)
        self[key] = value
        if len(self) > self.limit:
            self.popitem(last=False)


class RecentKeys:
    """The last ``limit`` keys added, to ask "seen before?": a set that forgets its oldest first.

    A third of an ``Lru``'s memory per key, for the Oracle's largest record of spans (see ``id_key``).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._keys: set[Hashable] = set()
        self._order: deque[Hashable] = deque()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; False if it was already remembered."""
        if key in self._keys:
            return False
        self._keys.add(key)
        self._order.append(key)
        if len(self._order) > self.limit:
            self._keys.discard(self._order.popleft())
        return True


class RecentMap:
    """The values of the last ``limit`` keys put, oldest forgotten first: a dict and the order its keys came in.

    Half an ``Lru``'s memory per key (11.6 against 20.1 MiB for 200,000 int keys); a key put again keeps
    its place in line, where an ``Lru`` would move it to the end.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._values: dict[Hashable, object] = {}
        self._order: deque[Hashable] = deque()

    def get(self, key: Hashable) -> Any:
        return self._values.get(key)

    def __len__(self) -> int:
        return len(self._values)

    def put(self, key: Hashable, value: object) -> None:
        if key not in self._values:
            self._order.append(key)
            if len(self._order) > self.limit:
                del self._values[self._order.popleft()]
        self._values[key] = value


def id_key(*hex_ids: str) -> int | str:
    """Fixed-length hex ids (a trace id, a span id) as one int: half the memory of their strings, and
    the records' own strings are not kept alive. Ids that are not hex stay one string."""
    joined = "".join(hex_ids)
    try:
        return int(joined, 16)
    except ValueError:
        return joined


def percentile(values: Iterable[float], q: float, *, ordered: bool = False) -> float | None:
    """Nearest-rank percentile (q in 0..100) of a small sample; None when empty."""
    # cast: ordered=True is the caller's promise that ``values`` is already a sorted sequence.
    sample = cast("Sequence[float]", values) if ordered else sorted(values)
    if not sample:
        return None
    rank = max(1, -(-len(sample) * q // 100))  # ceil
    return sample[int(rank) - 1]
