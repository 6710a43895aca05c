"""Trace summary rows folded from each batch's new spans equal a full re-aggregation of the stored spans.

Real SQLite files through the real Store writer; traces arrive in many batches, out of order and
with spans delivered twice (in a later batch and within one batch).
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from telemetron_oracle_api.model import Decoded, Resource, SpanRecord
from telemetron_oracle_api.store.sqlite import Store
from telemetron_oracle_api.store.trace_summaries import FULL_REAGGREGATION

NOW = time.time_ns()
SERVICES = [Resource(key=f"r{i}", service_name=f"svc-{i}", attributes={"service.name": f"svc-{i}"}) for i in range(4)]


def span(trace: int, n: int, parent: int | None, rng: random.Random) -> SpanRecord:
    start = NOW - rng.randrange(10**12)
    return SpanRecord(
        trace_id=f"{trace:032x}",
        span_id=f"{trace * 1000 + n:016x}",
        parent_span_id=None if parent is None else f"{trace * 1000 + parent:016x}",
        name=f"op-{n}",
        kind=1,
        start_ns=start,
        end_ns=start + rng.randrange(1, 10**9),
        status_code=rng.choice((0, 1, 2)),
        status_message="",
        attributes={},
        events=[],
        links=[],
        resource=rng.choice(SERVICES),
        scope_name="",
        scope_version="",
        trace_state="",
        flags=0,
        dropped=(0, 0, 0),
    )


def summaries(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT trace_id, start_ns, end_ns, span_count, error_count, root_name, root_service, services"
                " FROM traces ORDER BY trace_id"
            )
        ]


def test_summaries_folded_batch_by_batch_equal_a_full_reaggregation(tmp_path: Path) -> None:
    rng = random.Random(13)
    spans = []
    for trace in range(1, 6):
        spans.append(span(trace, 0, None, rng))  # the root
        spans.append(span(trace, 1, None, rng))  # a second parentless span: the earliest one names the trace
        spans += [span(trace, n, rng.randrange(n), rng) for n in range(2, 40)]
    rng.shuffle(spans)  # children before their parents, roots late
    store = Store(tmp_path / "t.db")
    try:
        delivered: list[SpanRecord] = []
        for i in range(0, len(spans), 7):
            batch = spans[i : i + 7]
            batch += rng.sample(delivered, min(3, len(delivered)))  # delivered again in a later batch
            batch.append(batch[0])  # twice within one batch
            store.write(Decoded(spans=batch))
            delivered += spans[i : i + 7]
            with sqlite3.connect(store.path) as conn:
                assert summaries(store.path) == [tuple(r) for r in conn.execute(FULL_REAGGREGATION)]
        final = summaries(store.path)
    finally:
        store.close()
    assert [row[3] for row in final] == [40] * 5  # each span counted once
    assert all(row[5] is not None for row in final)
    assert sum(row[4] for row in final) == sum(s.status_code == 2 for s in spans)
