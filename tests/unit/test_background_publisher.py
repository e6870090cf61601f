"""The background publisher batches committed events and survives a failing bus."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from shared.adapters.background_publisher import BATCH_MAX, BackgroundPublisher

WAIT_SECONDS_MAX = 5


def _wait_for(predicate) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_events_submitted_together_are_published_in_batches_of_at_most_ten():
    batches: list[list[str]] = []
    gate = threading.Event()

    def publish(ids):
        gate.wait(WAIT_SECONDS_MAX)  # hold the first call so that the rest queue up
        batches.append(list(ids))

    publisher = BackgroundPublisher(publish)
    publisher.submit(["e0"])
    publisher.submit([f"e{n}" for n in range(1, 25)])
    gate.set()
    assert _wait_for(lambda: sum(len(b) for b in batches) == 25)
    assert all(1 <= len(batch) <= BATCH_MAX for batch in batches)
    assert [event for batch in batches for event in batch] == [f"e{n}" for n in range(25)]


def test_a_failing_bus_does_not_stop_the_publisher():
    published: list[str] = []
    calls = {"count": 0}

    def publish(ids):
        calls["count"] += 1
        if calls["count"] == 1:
            raise ConnectionError("the bus is down")
        published.extend(ids)

    publisher = BackgroundPublisher(publish)
    publisher.submit(["lost-to-the-relay"])
    assert _wait_for(lambda: calls["count"] == 1)
    publisher.submit(["next"])
    assert _wait_for(lambda: published == ["next"])


def test_published_rows_are_forgotten_together_a_moment_later():
    # GIVEN a publisher whose bus accepts everything
    forgotten: list[Sequence[str]] = []
    publisher = BackgroundPublisher(lambda ids: list(ids), forgotten.append)
    # WHEN events are published in three batches in quick succession
    for batch in (["a"], ["b", "c"], ["d"]):
        publisher.submit(batch)
    # THEN their rows are deleted in one call, once the interval has passed
    assert _wait_for(lambda: forgotten)
    assert forgotten == [["a", "b", "c", "d"]]


def test_events_the_bus_refused_are_not_forgotten():
    forgotten: list[str] = []
    publisher = BackgroundPublisher(lambda ids: [i for i in ids if i != "refused"], forgotten.extend)
    publisher.submit(["kept", "refused"])
    assert _wait_for(lambda: forgotten)
    time.sleep(0.1)
    assert forgotten == ["kept"]
