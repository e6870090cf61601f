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

DynamoDB's `TransactWriteItems` in moto deep-copies every table it writes to, once per item of
the transaction, so that it can put the copy back if the transaction is cancelled: a
transaction costs time in proportion to the table (213 ms an item at 3,000 audit records), and
the audit chain appends with one transaction per event. `install()` keeps a copy of just the
items the transaction names instead, and puts those back on a cancellation: the same outcome,
since a transaction changes nothing but the items it names.
"""

from __future__ import annotations

import copy
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
    _transactions_copy_only_their_items()
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


def _transactions_copy_only_their_items() -> None:
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    class TablesNotCopied:
        """The `copy` module as moto's DynamoDB backend sees it: a table is not copied (its
        transaction's rollback then puts the same table back), anything else is."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    dynamodb_models.copy = TablesNotCopied()  # type: ignore[assignment]
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = []
        for item in transact_items:
            operation = next(iter(item.values()), None)
            if not isinstance(operation, dict) or operation.get("TableName") not in self.tables:
                continue
            key = _key_of(self.get_table(operation["TableName"]), operation)
            if key is None:
                continue
            found = self.get_item(operation["TableName"], key)
            before.append((operation["TableName"], key, copy.deepcopy(found)))
        try:
            return original(self, transact_items)
        except Exception:
            # Put back what the cancelled transaction wrote, last write first.
            for table_name, key, found in reversed(before):
                if found is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, found.to_json()["Attributes"])
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


def _key_of(table: Any, operation: dict[str, Any]) -> dict[str, Any] | None:
    """The key a transaction item names: its `Key`, or the key attributes of a Put's `Item`."""
    if "Key" in operation:
        return operation["Key"]
    attributes = operation.get("Item") or {}
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    if not all(name in attributes for name in names):
        return None
    return {name: attributes[name] for name in names}


def main(argv: list[str] | None = None) -> None:
    """moto's server command line, with `install()` applied."""
    from moto.server import main as moto_main

    install()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
