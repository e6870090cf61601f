"""Publishes committed outbox rows from a background thread, in batches.

A request or a saga step hands the ids of the events its transaction committed to `submit` and
returns at once: the client's answer does not wait for the bus, and the events of many requests
share one PutEvents call (up to `BATCH_MAX` entries). The rows of published events are deleted
in one statement for many batches (`forget`), at most `FORGET_INTERVAL_SECONDS` after their
publication, instead of a transaction per batch. What this thread cannot publish (the bus is
down, the process dies) stays in the outbox, and `relay-outbox` publishes it on its schedule;
what it published but had not yet deleted when the process died is published again by the relay,
once, and consumers are idempotent on the event id.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

__all__ = [
    "BATCH_MAX",
    "FORGET_BATCH_MAX",
    "FORGET_INTERVAL_SECONDS",
    "LINGER_SECONDS",
    "QUEUE_LENGTH_MAX",
    "BackgroundPublisher",
]

logger = logging.getLogger("paystream.outbox")

# PutEvents takes at most 10 entries.
BATCH_MAX = 10
# How long the thread waits for more events to fill a batch once it has one.
LINGER_SECONDS = 0.005
# Ids waiting beyond this are dropped here and left to the relay: memory stays bounded when the
# bus is down for long.
QUEUE_LENGTH_MAX = 10_000
# Published rows are deleted at most this long after their publication, or as soon as this many
# wait. Far below the relay's age bound (30 s), so the relay never sees a published row.
FORGET_INTERVAL_SECONDS = 1.0
FORGET_BATCH_MAX = 500


class BackgroundPublisher:
    """One daemon thread per process that publishes submitted event ids in batches."""

    def __init__(
        self,
        publish: Callable[[Sequence[str]], Sequence[str] | None],
        forget: Callable[[Sequence[str]], object] | None = None,
    ) -> None:
        """`publish(ids)` sends one batch and returns the ids the bus accepted; `forget(ids)`
        deletes their outbox rows, many batches at a time."""
        self._publish = publish
        self._forget = forget
        self._published: list[str] = []
        self._forget_at: float | None = None
        self._queue: queue.Queue[str] = queue.Queue(maxsize=QUEUE_LENGTH_MAX)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, event_ids: Sequence[str]) -> None:
        """Queue committed events for publication; never blocks and never raises."""
        self._ensure_started()
        for event_id in event_ids:
            try:
                self._queue.put_nowait(event_id)
            except queue.Full:
                logger.warning("publish queue full; event %s is left to the relay", event_id)

    def _ensure_started(self) -> None:
        # Started on first use, not at import: a forking server (gunicorn) must start it in the
        # worker that submits, since threads do not survive a fork.
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)
                self._thread.start()

    def _next_batch(self) -> list[str]:
        """The next batch, or none when the published rows are due to be deleted first."""
        wait = None if self._forget_at is None else max(0.0, self._forget_at - time.monotonic())
        try:
            batch = [self._queue.get(timeout=wait)]
        except queue.Empty:
            return []
        while len(batch) < BATCH_MAX:
            try:
                batch.append(self._queue.get(timeout=LINGER_SECONDS))
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch:
                try:
                    self._published += self._publish(batch) or ()
                except Exception:  # the relay publishes what this could not; the thread lives on
                    logger.exception("publishing %d events failed; the relay will retry", len(batch))
                if self._published and self._forget_at is None:
                    self._forget_at = time.monotonic() + FORGET_INTERVAL_SECONDS
            due = self._forget_at is not None and time.monotonic() >= self._forget_at
            if self._published and (due or len(self._published) >= FORGET_BATCH_MAX):
                self._forget_published()

    def _forget_published(self) -> None:
        published, self._published, self._forget_at = self._published, [], None
        if self._forget is None:
            return
        try:
            self._forget(published)
        except Exception:  # they stay in the outbox; the relay publishes them again, harmlessly
            logger.exception("deleting %d published outbox rows failed", len(published))
