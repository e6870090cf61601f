"""Publishes committed outbox rows from a background thread, in batches.

A request or a saga step hands the ids of the events its transaction committed to `submit` and
returns at once: the client's answer does not wait for the bus, and the events of many requests
share one PutEvents call (up to `BATCH_MAX` entries). What this thread cannot publish (the bus is
down, the process dies) stays in the outbox, and `relay-outbox` publishes it on its schedule.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

__all__ = ["BackgroundPublisher", "BATCH_MAX", "LINGER_SECONDS", "QUEUE_LENGTH_MAX"]

logger = logging.getLogger("paystream.outbox")

# PutEvents takes at most 10 entries.
BATCH_MAX = 10
# How long the thread waits for more events to fill a batch once it has one.
LINGER_SECONDS = 0.005
# Ids waiting beyond this are dropped here and left to the relay: memory stays bounded when the
# bus is down for long.
QUEUE_LENGTH_MAX = 10_000


class BackgroundPublisher:
    """One daemon thread per process that publishes submitted event ids in batches."""

    def __init__(self, publish: Callable[[Sequence[str]], object]) -> None:
        self._publish = publish
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
        batch = [self._queue.get()]
        while len(batch) < BATCH_MAX:
            try:
                batch.append(self._queue.get(timeout=LINGER_SECONDS))
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            try:
                self._publish(batch)
            except Exception:  # the relay publishes what this could not; the thread lives on
                logger.exception("publishing %d events failed; the relay will retry", len(batch))
