"""moto, the local AWS-compatible endpoint, with one fix that keeps it usable under load.

moto 5 answers `get_queue_attributes(queue, ["ContentBasedDeduplication"])` by computing every
attribute of the queue, approximate message counts included, each a scan of all the queue's
messages. It asks that of itself for every event EventBridge sends to a FIFO queue, and
`MessageRetentionPeriod` for every message it receives, so each delivery costs time linear in the
queue's backlog: a burst of payments builds a backlog, and the emulator then slows down the more
it falls behind, until nothing finishes. (A profile of the local services mode under 300
concurrent payments showed over 40 % of moto's time in those scans.)

`install()` makes a request for those two attributes read just them, with the same values moto
would have returned, and counts a queue's visible, in-flight and delayed messages reading the
clock once per count rather than once per message (where the scans that remain spent their
time). It changes nothing in what moto answers, only how long it takes. `python -m shared.runner.moto_endpoint -H HOST -p PORT`
runs moto's server with it, as the services mode does.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["CHEAP_ATTRIBUTES", "install", "main"]

# Attributes stored on the queue as plain fields: reading one needs no scan of the messages.
CHEAP_ATTRIBUTES = {
    "ContentBasedDeduplication": "content_based_deduplication",
    "MessageRetentionPeriod": "message_retention_period",
}

_installed = False


def install() -> None:
    """Patch moto's SQS backend once per process (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.sqs.models import SQSBackend

    original = SQSBackend.get_queue_attributes

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        if not attribute_names or not all(name in CHEAP_ATTRIBUTES for name in attribute_names):
            return original(self, queue_name, attribute_names)
        queue = self.get_queue(queue_name)
        result: dict[str, Any] = {}
        for name in attribute_names:
            # As Queue.attributes does: FIFO attributes exist on FIFO queues only, booleans are
            # the strings "true" and "false", and unset values are left out.
            if name in queue.FIFO_ATTRIBUTES and not queue.fifo_queue:
                continue
            value = getattr(queue, CHEAP_ATTRIBUTES[name])
            if value is None:
                continue
            result[name] = str(value).lower() if isinstance(value, bool) else value
        return result

    SQSBackend.get_queue_attributes = get_queue_attributes
    _count_with_one_clock_reading()
    _installed = True


def _count_with_one_clock_reading() -> None:
    # Message.visible is `now > visible_at` and Message.delayed is `now < delayed_until`, each
    # reading the clock; these counts read it once and compare integers.
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Queue

    def visible_not_delayed(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if now > m.visible_at and not now < m.delayed_until)

    def not_visible(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    def delayed(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    Queue.approximate_number_of_messages = property(visible_not_delayed)
    Queue.approximate_number_of_messages_not_visible = property(not_visible)
    Queue.approximate_number_of_messages_delayed = property(delayed)


def main(argv: list[str] | None = None) -> None:
    """moto's server command line, with `install()` applied."""
    from moto.server import main as moto_main

    install()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
