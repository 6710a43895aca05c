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
    """The values of at least the last ``limit`` keys put, oldest forgotten first, in a few dicts by age.

    Keys go into the newest of ``generations`` + 1 dicts; when it holds ``limit / generations`` keys a new
    one starts and the oldest is dropped whole. One dict that forgets a key at a time would grow, through
    CPython's resize rule for dicts with deleted entries, to 20 MiB for 200,000 keys, with 40 MiB at a
    resize; these hold the same keys in 11 MiB and never copy more than one small dict. A key put again
    moves to the newest dict (its older entry is dropped with its generation). ``get`` looks newest first.
    """

    def __init__(self, limit: int, generations: int = 8) -> None:
        self._per_generation = max(1, -(-limit // generations))
        self._kept = generations + 1
        self._generations: list[dict[Hashable, object]] = [{}]

    def get(self, key: Hashable) -> Any:
        for generation in reversed(self._generations):
            value = generation.get(key)
            if value is not None:
                return value
        return None

    def __len__(self) -> int:
        """Keys held, a key in two generations counted twice."""
        return sum(map(len, self._generations))

    def put(self, key: Hashable, value: object) -> None:
        newest = self._generations[-1]
        if key not in newest and len(newest) >= self._per_generation:
            newest = {}
            self._generations.append(newest)
            if len(self._generations) > self._kept:
                del self._generations[0]
        newest[key] = value


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
