"""The Oracle's cost per committed span: records folded through ``Oracle.on_committed``, in one process.

    python bench/bench_oracle_fold.py                  # 200,000 spans, 5 rounds
    python bench/bench_oracle_fold.py --spans 50000 --profile

The spans are agent traces as the receiver hands them over (``normalize.promote`` already run):
invoke_agent, two chat calls, a tool call, a handoff, a queue send and its processing, with
pending-span records for the agent span. No store, no network: only the Oracle's fold.
Prints microseconds per span (best round and median) for the fold and, apart, for ``promote``
(the receiver's share: what it reads once, the trackers no longer read). Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time

from telemetron_oracle_api.hub import Committed
from telemetron_oracle_api.model import Resource, SpanRecord
from telemetron_oracle_api.oracle import Oracle
from telemetron_oracle_api.receiver.normalize import promote
from telemetron_oracle_api.settings import Settings

AGENTS = [f"agent-{n:03d}" for n in range(100)]
RESOURCES = [
    Resource(f"r{n}", f"svc-{n}", {"service.name": f"svc-{n}", "k8s.deployment.name": f"deploy-{n}"}) for n in range(10)
]


def record(trace: int, span: int, parent: int | None, name: str, kind: int, start: int, attrs: dict) -> SpanRecord:
    result = SpanRecord(
        trace_id=f"{trace:032x}",
        span_id=f"{span:016x}",
        parent_span_id=None if parent is None else f"{parent:016x}",
        name=name,
        kind=kind,
        start_ns=start,
        end_ns=start + 500_000_000,
        status_code=0,
        status_message="",
        attributes=attrs,
        events=[],
        links=[],
        resource=RESOURCES[trace % len(RESOURCES)],
        scope_name="bench",
        scope_version="",
        trace_state="",
        flags=0,
        dropped=(0, 0, 0),
    )
    promote(result)
    return result


def trace_records(trace: int, t0: int) -> tuple[list[SpanRecord], list[SpanRecord]]:
    """One agent trace: (ended spans, pending records)."""
    agent, other = AGENTS[trace % len(AGENTS)], AGENTS[(trace + 1) % len(AGENTS)]
    task = f"task-{trace}"
    root = trace * 16
    agent_attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "telemetron.task.id": task}
    pending = record(
        trace,
        root + 15,
        None,
        f"invoke_agent {agent}",
        1,
        t0,
        {
            "gen_ai.agent.name": agent,
            "telemetron.task.id": task,
            "telemetron.span.type": "pending_span",
            "telemetron.pending.operation.name": "invoke_agent",
        },
    )
    pending.parent_span_id = f"{root:016x}"
    spans = [
        record(
            trace,
            root + 1 + n,
            root,
            "chat gpt-4o",
            3,
            t0 + n,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 500,
                "gen_ai.usage.output_tokens": 100,
                "telemetron.llm.cost.usd": 0.001,
            },
        )
        for n in range(2)
    ]
    spans.append(
        record(
            trace,
            root + 3,
            root,
            "execute_tool search_web",
            1,
            t0 + 3,
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search_web"},
        )
    )
    spans.append(
        record(
            trace,
            root + 4,
            root,
            f"execute_tool transfer_to_{other}",
            1,
            t0 + 4,
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": f"transfer_to_{other}",
                "gen_ai.handoff.source": agent,
                "gen_ai.handoff.target": other,
                "telemetron.task.id": task,
            },
        )
    )
    message = {"messaging.destination.name": "review", "messaging.message.id": f"m-{trace}", "telemetron.task.id": task}
    spans.append(
        record(trace, root + 5, root, "send review", 4, t0 + 5, {"messaging.operation.type": "send", **message})
    )
    spans.append(
        record(
            trace, root + 6, root + 5, "process review", 5, t0 + 6, {"messaging.operation.type": "process", **message}
        )
    )
    spans.append(record(trace, root, None, f"invoke_agent {agent}", 1, t0, agent_attrs))
    return spans, [pending]


def batches(total_spans: int, batch_spans: int = 500) -> list[Committed]:
    out, current, trace = [], Committed(), 0
    t0 = time.time_ns() - 600 * 10**9
    while trace * 7 < total_spans:
        trace += 1
        spans, pending = trace_records(trace, t0 + trace * 1000)
        current.spans.extend(spans)
        current.pending.extend(pending)
        if len(current.spans) >= batch_spans:
            out.append(current)
            current = Committed()
    if current.spans:
        out.append(current)
    return out


def fold(committed: list[Committed]) -> float:
    """Seconds to fold every batch into a fresh Oracle (no store, no background threads)."""
    oracle = Oracle(Settings())
    started = time.perf_counter()
    for batch in committed:
        oracle.on_committed(batch)
    return time.perf_counter() - started


def promote_all(committed: list[Committed]) -> float:
    """Seconds to normalize every record again: the receiver's share of reading the attributes."""
    started = time.perf_counter()
    for batch in committed:
        for record in [*batch.pending, *batch.spans]:
            promote(record)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=200_000, help="ended spans per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the top functions of one round")
    args = parser.parse_args()
    committed = batches(args.spans)
    spans = sum(len(b.spans) for b in committed)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(fold, committed)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return
    fold_us = [fold(committed) / spans * 1e6 for _ in range(args.rounds)]
    promote_us = [promote_all(committed) / spans * 1e6 for _ in range(args.rounds)]
    print(f"{spans:,} spans (+{sum(len(b.pending) for b in committed):,} pending records) per round")
    print(f"oracle fold:       best {min(fold_us):.2f} us/span, median {statistics.median(fold_us):.2f} us/span")
    print(f"receiver promote:  best {min(promote_us):.2f} us/span, median {statistics.median(promote_us):.2f} us/span")


if __name__ == "__main__":
    main()
