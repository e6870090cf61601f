"""The hash-chained audit record against DynamoDB on a real moto server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from shared import topology
from shared.adapters.audit_chain import (
    GENESIS_HASH,
    AuditChain,
    AuditRecord,
    audit_table_definition,
    canonical_json,
    chain_hash,
)
from shared.adapters.aws import aws_client

pytestmark = pytest.mark.integration

TABLE = topology.AUDIT_TABLE_NAME
CHAIN_LENGTH = 50
WRITER_THREADS = 4
EVENTS_PER_WRITER = 5


@pytest.fixture
def dynamodb(fresh_moto: str) -> Any:
    client = aws_client("dynamodb", endpoint_url=fresh_moto)
    client.create_table(**audit_table_definition(TABLE))
    return client


@pytest.fixture
def chain(dynamodb: Any) -> AuditChain:
    return AuditChain(dynamodb, TABLE)


def cloud_event(number: int = 0) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "payment.completed",
        "source": "/paystream/settle",
        "subject": f"pay_{number:04d}",
        "time": "2026-03-01T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {
            "payment_id": f"pay_{number:04d}",
            "amount_minor": 100 + number,
            "currency": "EUR",
        },
    }


def test_moto_refuses_a_conditional_put_on_a_taken_key(dynamodb: Any) -> None:
    # The chain relies on this: a record's seq is claimed by a put conditional on its absence.
    key = {"pk": {"S": "probe"}, "sk": {"N": "0"}}
    dynamodb.put_item(TableName=TABLE, Item={**key, "v": {"S": "first"}})
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.put_item(
            TableName=TABLE,
            Item={**key, "v": {"S": "second"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    assert dynamodb.get_item(TableName=TABLE, Key=key)["Item"]["v"] == {"S": "first"}


def test_the_first_record_links_to_the_genesis_hash(chain: AuditChain) -> None:
    event = cloud_event()

    record = chain.append(event)

    assert record.seq == 1
    assert record.prev_hash == GENESIS_HASH
    assert record.event_json == canonical_json(event)
    assert record.hash == chain_hash(GENESIS_HASH, canonical_json(event))
    assert (record.event_id, record.event_type, record.subject) == (
        event["id"],
        event["type"],
        "pay_0000",
    )
    assert chain.head() == (1, record.hash)


def test_a_redelivered_event_is_appended_only_once(chain: AuditChain) -> None:
    event = cloud_event()
    first = chain.append(event)
    chain.append(cloud_event(1))

    again = chain.append(dict(event))

    assert again == first
    assert chain.head()[0] == 2
    assert [r.event_id for r in chain.records(limit=10)].count(event["id"]) == 1


def test_fifty_appends_verify_and_page_in_order(chain: AuditChain) -> None:
    events = [cloud_event(n) for n in range(CHAIN_LENGTH)]

    for event in events:
        chain.append(event)

    assert chain.verify().ok
    assert chain.verify().length == CHAIN_LENGTH
    page = chain.records(limit=20, after_seq=20)
    assert [r.seq for r in page] == list(range(21, 41))
    assert [r.event_id for r in page] == [e["id"] for e in events[20:40]]


def _stored_record(chain: AuditChain, seq: int) -> AuditRecord:
    """A record the test appended: present, so its fields can be read and changed."""
    record = chain.record(seq)
    assert record is not None, seq
    return record


def _set_attribute(dynamodb: Any, seq: int, name: str, value: str) -> None:
    dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "record"}, "sk": {"N": str(seq)}},
        UpdateExpression="SET #name = :value",
        ExpressionAttributeNames={"#name": name},
        ExpressionAttributeValues={":value": {"S": value}},
    )


def test_verify_finds_a_record_whose_event_was_changed(chain: AuditChain, dynamodb: Any) -> None:
    # GIVEN a chain of ten records, and record 4's amount changed in place
    for n in range(10):
        chain.append(cloud_event(n))
    tampered = _stored_record(chain, 4)
    _set_attribute(
        dynamodb,
        4,
        "event",
        tampered.event_json.replace('"amount_minor":103', '"amount_minor":9999'),
    )

    # WHEN the chain is verified
    verification = chain.verify()

    # THEN it is broken at record 4
    assert (verification.ok, verification.length, verification.first_broken_seq) == (False, 10, 4)


def test_verify_finds_a_change_even_when_the_forger_rehashed_the_record(chain: AuditChain, dynamodb: Any) -> None:
    for n in range(10):
        chain.append(cloud_event(n))
    tampered = _stored_record(chain, 6)
    forged_json = tampered.event_json.replace('"amount_minor":105', '"amount_minor":1')
    _set_attribute(dynamodb, 6, "event", forged_json)
    _set_attribute(dynamodb, 6, "hash", chain_hash(tampered.prev_hash, forged_json))

    verification = chain.verify()

    # The forged record is consistent in itself; the next one no longer links to it.
    assert (verification.ok, verification.first_broken_seq) == (False, 7)


def test_verify_finds_a_removed_record(chain: AuditChain, dynamodb: Any) -> None:
    for n in range(5):
        chain.append(cloud_event(n))
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "record"}, "sk": {"N": "3"}})

    assert chain.verify().first_broken_seq == 3


def test_verify_finds_a_truncated_chain(chain: AuditChain, dynamodb: Any) -> None:
    for n in range(5):
        chain.append(cloud_event(n))
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "record"}, "sk": {"N": "5"}})

    assert chain.verify().first_broken_seq == 5


def test_verify_finds_an_indexed_field_that_disagrees_with_the_event(chain: AuditChain, dynamodb: Any) -> None:
    for n in range(3):
        chain.append(cloud_event(n))
    _set_attribute(dynamodb, 2, "event_type", "payment.refunded")

    assert chain.verify().first_broken_seq == 2


class _InterleavingClient:
    """The real DynamoDB client, except that `before_first_record_write` runs just before the
    first write of a record (alone, or in a transaction): another writer slips in between the
    read and the write."""

    def __init__(self, client: Any, before_first_record_write: Callable[[], Any]) -> None:
        self._client = client
        self._hook: Callable[[], Any] | None = before_first_record_write
        self.exceptions = client.exceptions
        self.record_writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _writing(self, item: dict[str, Any]) -> None:
        if item["pk"] == {"S": "record"}:
            self.record_writes += 1
            if self._hook is not None:
                hook, self._hook = self._hook, None
                hook()

    def put_item(self, **kwargs: Any) -> Any:
        self._writing(kwargs["Item"])
        return self._client.put_item(**kwargs)

    def transact_write_items(self, **kwargs: Any) -> Any:
        for item in kwargs["TransactItems"]:
            if "Put" in item:
                self._writing(item["Put"]["Item"])
        return self._client.transact_write_items(**kwargs)


def in_another_process(chain: AuditChain) -> AuditChain:
    # Appends in one process share a lock; a writer in another process does not.
    chain._append_lock = threading.Lock()
    return chain


def test_a_writer_that_lost_the_race_for_the_head_appends_after_the_winner(dynamodb: Any) -> None:
    # GIVEN a chain of one, and another process that appends between our read and our write
    AuditChain(dynamodb, TABLE).append(cloud_event(0))
    winner_event, our_event = cloud_event(1), cloud_event(2)
    other = in_another_process(AuditChain(dynamodb, TABLE))
    client = _InterleavingClient(dynamodb, lambda: other.append(winner_event))

    # WHEN we append
    record = AuditChain(client, TABLE).append(our_event)

    # THEN our first write was refused and the retry went after the winner
    assert client.record_writes == 2
    assert record.seq == 3
    assert [r.event_id for r in other.records(limit=10)][1:] == [
        winner_event["id"],
        our_event["id"],
    ]
    assert other.verify().ok


def test_a_writer_racing_another_for_the_same_event_returns_the_winners_record(
    dynamodb: Any,
) -> None:
    event = cloud_event()
    other = in_another_process(AuditChain(dynamodb, TABLE))
    client = _InterleavingClient(dynamodb, lambda: other.append(event))

    record = AuditChain(client, TABLE).append(event)

    assert client.record_writes == 1  # refused: the winner holds the seq, and the marker says so
    assert record == other.record(1)
    assert other.head()[0] == 1


def test_an_event_whose_append_was_interrupted_is_not_appended_again_after_others(
    chain: AuditChain, dynamodb: Any
) -> None:
    # GIVEN an event appended (record and marker together) whose head update was lost, and
    # other events appended after it by another writer
    event = cloud_event(0)
    chain.append(event)
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "head"}, "sk": {"N": "0"}})
    other = in_another_process(AuditChain(dynamodb, TABLE))
    for number in (1, 2):
        other.append(cloud_event(number))

    # WHEN the event is delivered again
    again = in_another_process(AuditChain(dynamodb, TABLE)).append(event)

    # THEN it is found where it is, not appended a second time
    assert again.seq == 1
    assert other.head()[0] == 3
    assert other.verify().ok


def test_a_crash_after_the_record_is_finished_by_the_redelivery(chain: AuditChain, dynamodb: Any) -> None:
    # GIVEN an append that wrote its record and then died before the head and the marker
    chain.append(cloud_event(0))
    event = cloud_event(1)
    record = chain.append(event)
    for pk in ("head", f"event#{event['id']}"):
        dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"N": "0"}})
    dynamodb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": "head"}, "sk": {"N": "0"}, "seq": {"N": "1"}, "hash": {"S": _stored_record(chain, 1).hash}},
    )
    # WHEN the event is delivered again
    again = chain.append(event)
    # THEN nothing is appended twice and the chain is whole
    assert again == record
    assert chain.verify() == chain.verify().__class__(ok=True, length=2, first_broken_seq=None)


def test_a_crash_between_the_claim_and_the_record_appends_the_event_once_after_others(
    chain: AuditChain, dynamodb: Any
) -> None:
    # GIVEN an event whose marker claimed seq 2 when its writer died before the record, and
    # another writer that appended two events since, the first of them at seq 2
    chain.append(cloud_event(0))
    event = cloud_event(1)
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": f"event#{event['id']}"}, "sk": {"N": "0"}, "seq": {"N": "2"}})
    other = in_another_process(AuditChain(dynamodb, TABLE))
    for number in (2, 3):
        other.append(cloud_event(number))
    # WHEN the event is delivered again, twice
    record = in_another_process(AuditChain(dynamodb, TABLE)).append(event)
    again = in_another_process(AuditChain(dynamodb, TABLE)).append(event)
    # THEN it is appended once, at the end, and the chain is whole
    assert record.seq == 4 and again == record
    assert [r.event_id for r in other.records(limit=10)].count(event["id"]) == 1
    assert other.verify() == other.verify().__class__(ok=True, length=4, first_broken_seq=None)


def test_a_record_past_the_head_is_a_link_of_the_chain_not_a_break(chain: AuditChain, dynamodb: Any) -> None:
    # GIVEN a chain whose last head update was lost (the writer died after the record)
    for n in range(3):
        chain.append(cloud_event(n))
    dynamodb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": "head"}, "sk": {"N": "0"}, "seq": {"N": "2"}, "hash": {"S": _stored_record(chain, 2).hash}},
    )
    # THEN it verifies with all three records, and the next append goes after the third
    assert chain.verify() == chain.verify().__class__(ok=True, length=3, first_broken_seq=None)
    assert in_another_process(AuditChain(dynamodb, TABLE)).append(cloud_event(3)).seq == 4


def test_verifying_while_others_append_never_reports_a_break(dynamodb: Any) -> None:
    # GIVEN writers appending without pause (in turn, as one audit process's threads do)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        chain = AuditChain(dynamodb, TABLE)
        number = 0
        try:
            while not stop.is_set() and number < 40:
                chain.append(cloud_event(writer * 1000 + number))
                number += 1
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITER_THREADS)]
    for thread in threads:
        thread.start()
    # WHEN the chain is verified again and again meanwhile
    verifier = AuditChain(dynamodb, TABLE)
    verifications = []
    while any(thread.is_alive() for thread in threads):
        verifications.append(verifier.verify())
    stop.set()
    for thread in threads:
        thread.join(60)
    # THEN every verification found a sound chain
    assert errors == []
    assert len(verifications) > 1
    assert [v for v in verifications if not v.ok] == []
    assert verifier.verify().length == WRITER_THREADS * 40


def test_an_empty_chain_verifies(chain: AuditChain) -> None:
    assert chain.verify() == chain.verify().__class__(ok=True, length=0, first_broken_seq=None)


@pytest.mark.parametrize("in_batches", [False, True], ids=["one-by-one", "in-batches"])
def test_concurrent_writers_each_append_once_into_one_sound_chain(dynamodb: Any, in_batches: bool) -> None:
    # GIVEN several writers, each with its own events, appending at the same time
    events = [[cloud_event(w * 100 + n) for n in range(EVENTS_PER_WRITER)] for w in range(WRITER_THREADS)]
    errors: list[BaseException] = []

    def write(batch: list[dict[str, Any]]) -> None:
        chain = in_another_process(AuditChain(dynamodb, TABLE))
        try:
            if in_batches:
                chain.append_all(batch)
                chain.append_all(batch)  # the batch redelivered
            for event in batch:
                chain.append(event)
                chain.append(event)  # a redelivery right behind it
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=write, args=(batch,)) for batch in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # THEN every event is in the chain exactly once and the chain verifies
    assert errors == []
    chain = AuditChain(dynamodb, TABLE)
    verification = chain.verify()
    assert verification.ok, verification
    ids = [r.event_id for r in chain.records(limit=1000)]
    assert sorted(ids) == sorted(e["id"] for batch in events for e in batch)


class _CountingClient:
    """The real DynamoDB client, counting its transactions."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.exceptions = client.exceptions
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        return self._client.transact_write_items(**kwargs)


def test_a_batch_of_new_events_is_appended_in_one_transaction(dynamodb: Any) -> None:
    AuditChain(dynamodb, TABLE).append(cloud_event(0))
    client = _CountingClient(dynamodb)
    chain = AuditChain(client, TABLE)
    batch = [cloud_event(n) for n in range(1, 11)]

    records = chain.append_all(batch)

    assert client.transactions == 1
    assert [r.seq for r in records] == list(range(2, 12))
    assert [r.event_id for r in records] == [e["id"] for e in batch]
    assert chain.head() == (11, records[-1].hash)
    assert chain.verify() == chain.verify().__class__(ok=True, length=11, first_broken_seq=None)


def test_a_batch_holding_events_already_appended_appends_each_event_once(chain: AuditChain) -> None:
    # GIVEN two events in the chain
    first, second = cloud_event(0), cloud_event(1)
    chain.append(first)
    chain.append(second)
    # WHEN they are delivered again in a batch with new ones, one of them twice
    new = [cloud_event(n) for n in range(2, 5)]
    records = chain.append_all([new[0], first, new[1], second, new[1], new[2]])
    # THEN the old ones keep their records, the new ones follow in order, each once
    assert [r.seq for r in records] == [3, 1, 4, 2, 4, 5]
    ids = [r.event_id for r in chain.records(limit=10)]
    assert ids == [first["id"], second["id"], *(e["id"] for e in new)]
    assert chain.verify().ok
