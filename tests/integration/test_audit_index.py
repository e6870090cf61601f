"""The audit chain's index (an entity's records, a day's records) and the verification of part
of the chain, against DynamoDB on a real moto server."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import topology
from shared.adapters.audit_chain import (
    ENTITIES_PER_RECORD_MAX,
    TRANSACT_ITEMS_MAX,
    AuditChain,
    audit_table_definition,
    day_of,
    entity_ids_of,
)
from shared.adapters.aws import aws_client

pytestmark = pytest.mark.integration

TABLE = topology.AUDIT_TABLE_NAME
PAYER = "usr_" + "a" * 32
PAYEE = "usr_" + "b" * 32


@pytest.fixture
def dynamodb(fresh_moto: str) -> Any:
    client = aws_client("dynamodb", endpoint_url=fresh_moto)
    client.create_table(**audit_table_definition(TABLE))
    return client


@pytest.fixture
def chain(dynamodb: Any) -> AuditChain:
    return AuditChain(dynamodb, TABLE)


def payment_event(payment_id: str, *, time: str = "2026-03-01T12:00:00Z", payer: str = PAYER) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "payment.completed",
        "source": "/paystream/settle",
        "subject": payment_id,
        "time": time,
        "data": {
            "payment_id": payment_id,
            "payer_id": payer,
            "payee_id": PAYEE,
            "amount_minor": 100,
            "currency": "EUR",
            "note": "usr_" + "c" * 32 + " is only mentioned",
        },
    }


def test_an_event_is_indexed_under_its_subject_and_the_ids_of_its_data_never_under_free_text() -> None:
    event = payment_event("pay_" + "1" * 32)

    assert entity_ids_of(event) == ("pay_" + "1" * 32, PAYEE, PAYER)
    assert day_of(event["time"]) == date(2026, 3, 1)
    assert day_of("2026-03-01T23:30:00-02:00") == date(2026, 3, 2)
    assert day_of("not a time") is None and day_of(None) is None


def test_an_entitys_records_come_back_in_chain_order_with_their_position_and_in_pages(chain: AuditChain) -> None:
    # GIVEN two payers' payments, interleaved, appended one by one and in batches
    other_payer = "usr_" + "d" * 32
    events = [payment_event(f"pay_{n:032d}", payer=PAYER if n % 2 else other_payer) for n in range(12)]
    for event in events[:4]:
        chain.append(event)
    chain.append_all(events[4:])

    # WHEN PAYER's records are read, three at a time
    pages, after, has_more = [], None, True
    while has_more:
        page, has_more = chain.records_of_entity(PAYER, limit=3, after_seq=after)
        pages.append(page)
        after = page[-1].seq

    # THEN they are exactly PAYER's six, in chain order, each with its seq and hash
    records = [record for page in pages for record in page]
    assert [record.event_id for record in records] == [e["id"] for n, e in enumerate(events) if n % 2]
    assert [record.seq for record in records] == [2, 4, 6, 8, 10, 12]
    assert all(record == chain.record(record.seq) for record in records)
    assert [len(page) for page in pages] == [3, 3]
    # and the payee, named by every event, has all twelve; an unknown entity none
    assert len(chain.records_of_entity(PAYEE, limit=100)[0]) == 12
    assert chain.records_of_entity("pay_unknown0000", limit=10) == ([], False)
    assert chain.verify().ok


def test_a_days_records_are_one_query(chain: AuditChain) -> None:
    chain.append_all(
        [
            payment_event("pay_" + "1" * 32, time="2026-03-01T23:59:59Z"),
            payment_event("pay_" + "2" * 32, time="2026-03-02T00:00:00Z"),
            payment_event("pay_" + "3" * 32, time="2026-03-01T10:00:00Z"),
        ]
    )

    first, _ = chain.records_of_day(date(2026, 3, 1), limit=10)
    second, _ = chain.records_of_day(date(2026, 3, 2), limit=10)

    assert [record.seq for record in first] == [1, 3] and [record.seq for record in second] == [2]


def test_a_batch_whose_links_exceed_one_transaction_is_split_and_still_one_sound_chain(chain: AuditChain) -> None:
    # GIVEN events that each name the most entities: 2 + 8 + 1 items, so 9 of them per transaction
    def crowded(n: int) -> dict[str, Any]:
        event = payment_event(f"pay_{n:032d}")
        event["data"].update({f"x{k}_id": f"usr_{n:028d}{k:04d}" for k in range(ENTITIES_PER_RECORD_MAX)})
        return event

    events = [crowded(n) for n in range(30)]
    assert (2 + ENTITIES_PER_RECORD_MAX + 1) * 30 > TRANSACT_ITEMS_MAX

    # WHEN they are appended as one batch
    records = chain.append_all(events)

    # THEN each is appended once, in order, and indexed
    assert [record.seq for record in records] == list(range(1, 31))
    assert chain.verify().ok
    assert len(chain.records_of_entity(events[7]["subject"], limit=10)[0]) == 1


def test_part_of_the_chain_verifies_and_a_tampered_record_is_named_with_what_is_wrong(
    chain: AuditChain, dynamodb: Any
) -> None:
    # GIVEN ten records, and record 6's event changed in place
    for n in range(10):
        chain.append(payment_event(f"pay_{n:032d}"))
    assert chain.verify(from_seq=3, to_seq=5) == chain.verify(from_seq=3, to_seq=5).__class__(True, 3, None)
    record = chain.record(6)
    assert record is not None
    dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "record"}, "sk": {"N": "6"}},
        UpdateExpression="SET #event = :event",
        ExpressionAttributeNames={"#event": "event"},
        ExpressionAttributeValues={
            ":event": {"S": record.event_json.replace('"amount_minor":100', '"amount_minor":1')}
        },
    )

    # WHEN parts of it, and the whole, are verified
    before, through, after, whole = (
        chain.verify(from_seq=1, to_seq=5),
        chain.verify(from_seq=4, to_seq=8),
        chain.verify(from_seq=7),
        chain.verify(),
    )

    # THEN the parts that hold record 6 break there, and say why; the others pass
    assert before.ok and before.length == 5
    assert (through.ok, through.first_broken_seq) == (False, 6)
    assert through.reason == "its hash is not sha256(prev_hash + its event)"
    assert after.ok and after.length == 4  # anchored on record 6's stored hash
    assert (whole.ok, whole.first_broken_seq) == (False, 6)
    with pytest.raises(ValueError):
        chain.verify(from_seq=5, to_seq=4)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    subject=st.text(max_size=40),
    data=st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=70), st.integers()), max_size=20),
)
def test_the_entities_of_any_event_are_few_unique_and_shaped_like_ids(subject: str, data: dict[str, Any]) -> None:
    entities = entity_ids_of({"subject": subject, "data": data})

    assert len(entities) <= ENTITIES_PER_RECORD_MAX
    assert len(set(entities)) == len(entities)
    assert all(" " not in entity and "_" in entity for entity in entities)
