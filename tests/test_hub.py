"""The hub's own thread: committed batches reach every subscriber in commit order, a failing subscriber
is counted and skipped, and a slow subscriber holds the publisher back instead of piling batches up."""

from __future__ import annotations

import threading
import time

from telemetron_oracle_api.hub import Committed, Hub


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _batch(n: int) -> Committed:
    batch = Committed()
    batch.metric_points.extend([None] * n)  # type: ignore[list-item]  # only the count identifies a batch here
    return batch


def test_batches_reach_every_subscriber_in_order_off_the_publishers_thread() -> None:
    hub = Hub(own_thread=True)
    seen: list[tuple[str, int, str]] = []
    hub.subscribe(lambda b: seen.append(("first", len(b.metric_points), threading.current_thread().name)))
    hub.subscribe(lambda b: seen.append(("second", len(b.metric_points), threading.current_thread().name)))
    for n in range(1, 51):
        hub.publish(_batch(n))
    _wait_for(lambda: len(seen) == 100, "100 deliveries")
    assert [(who, n) for who, n, _ in seen] == [(who, n) for n in range(1, 51) for who in ("first", "second")]
    assert {thread for _, _, thread in seen} == {"hub"}


def test_a_failing_subscriber_is_counted_and_the_others_still_get_the_batch() -> None:
    hub = Hub(own_thread=True)
    got: list[int] = []

    def broken(batch: Committed) -> None:
        raise RuntimeError("broken consumer")

    hub.subscribe(broken)
    hub.subscribe(lambda b: got.append(len(b.metric_points)))
    hub.publish(_batch(1))
    hub.publish(_batch(2))
    _wait_for(lambda: got == [1, 2], "both batches at the working subscriber")
    assert hub.subscriber_errors == 2


def test_a_slow_subscriber_makes_publish_wait_once_the_queue_is_full() -> None:
    hub = Hub(own_thread=True, waiting=2)
    release = threading.Event()
    folded: list[int] = []

    def slow(batch: Committed) -> None:
        release.wait(10)  # bounded, so a publish that does not return fails the test instead of hanging it
        folded.append(len(batch.metric_points))

    hub.subscribe(slow)
    hub.publish(_batch(1))  # taken by the hub's thread, which waits in the subscriber
    _wait_for(lambda: hub.waiting() == 0, "the hub thread to take the first batch")
    hub.publish(_batch(2))
    hub.publish(_batch(3))  # the queue (2) is now full
    blocked = threading.Thread(target=hub.publish, args=(_batch(4),))
    blocked.start()
    blocked.join(timeout=0.5)
    assert blocked.is_alive(), "publish returned although the hub's queue was full"
    release.set()
    blocked.join(timeout=10)
    assert not blocked.is_alive()
    _wait_for(lambda: folded == [1, 2, 3, 4], "every batch folded, in order")


def test_without_its_own_thread_subscribers_run_inside_publish() -> None:
    hub = Hub()
    got: list[str] = []
    hub.subscribe(lambda b: got.append(threading.current_thread().name))
    hub.publish(_batch(1))
    assert got == [threading.current_thread().name]


def _hub_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "hub")


def test_close_delivers_what_waits_ends_the_thread_and_later_batches_are_delivered_in_publish() -> None:
    before = _hub_threads()
    hub = Hub(own_thread=True, waiting=4)
    assert _hub_threads() == before + 1
    release = threading.Event()
    got: list[tuple[int, str]] = []

    def slow(batch: Committed) -> None:
        release.wait(10)
        got.append((len(batch.metric_points), threading.current_thread().name))

    hub.subscribe(slow)
    for n in (1, 2, 3):
        hub.publish(_batch(n))
    release.set()
    hub.close()
    assert [n for n, _ in got] == [1, 2, 3]
    assert _hub_threads() == before
    hub.publish(_batch(4))
    assert got[-1] == (4, threading.current_thread().name)
