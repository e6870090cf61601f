"""Per-wallet ordering on a real moto server: one message group per ordering partition.

Events name the wallet whose order matters (`partitionkey`); the publisher adds its partition,
one EventBridge rule per partition sends it to the consumer's queue in the group "p-<n>". These
tests publish real payment events (built by `new_cloud_event`, as the producers do) and read
the queues and the deliveries back.
"""

from __future__ import annotations

import itertools
import json
import sys
from datetime import UTC, datetime
from typing import Any

import functions_framework
import pytest

from schemas.cloudevent import new_cloud_event
from schemas.events import PaymentApproved
from shared import topology
from shared.adapters.aws import EventPublisher, aws_client, cloud_event_from_envelope
from shared.ids import new_event_id
from shared.provision import ProvisionedTopology, provision
from shared.runner.deliverer import Deliverer, WsgiTransport
from tests.integration.test_event_path import FUNCTION_MODULE, FUNCTION_SOURCE, drain, queue_depth, wait_until

pytestmark = pytest.mark.integration

# How many events each wallet sends in the tests below.
EVENTS_PER_WALLET = 4
THREAD_WAIT_SECONDS_MAX = 30


def payers_in_different_partitions(count: int) -> list[str]:
    """User ids whose USD wallets hash to `count` different partitions (deterministic)."""
    chosen: dict[int, str] = {}
    for number in itertools.count():
        user_id = f"usr_{number:032x}"
        partition = topology.partition_of(f"wallet:{user_id}:USD")
        chosen.setdefault(partition, user_id)
        if len(chosen) == count:
            return list(chosen.values())
    raise AssertionError("unreachable")


def approved(payer_id: str, sequence: int) -> dict[str, Any]:
    """A payment.approved CloudEvent as score-fraud publishes it."""
    payment_id = f"pay_{payer_id[-8:]}{sequence:024x}"
    return new_cloud_event(
        event_type="payment.approved",
        source_function="score-fraud",
        subject=payment_id,
        data=PaymentApproved(
            payment_id=payment_id,
            payer_id=payer_id,
            payee_id="usr_" + "e" * 32,
            amount_minor=100 + sequence,
            currency="USD",
            fraud_score=0,
            reasons=[],
        ),
        event_id=new_event_id(),
        time=datetime(2026, 3, 1, 12, 0, sequence, tzinfo=UTC),
    )


def load_recording_function() -> tuple[Any, Any]:
    app = functions_framework.create_app("record", str(FUNCTION_SOURCE), "cloudevent")
    return app, sys.modules[FUNCTION_MODULE]


def test_one_wallets_events_share_a_group_in_order_and_another_wallet_has_its_own(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN two payers in different partitions, each approving several payments, interleaved
    alice, bob = payers_in_different_partitions(2)
    events = {payer: [approved(payer, n) for n in range(EVENTS_PER_WALLET)] for payer in (alice, bob)}
    interleaved = [event for pair in zip(events[alice], events[bob], strict=True) for event in pair]

    # WHEN they are published
    result = publisher.publish(interleaved)

    # THEN debit-wallet's queue holds each payer's events in one group, in their order
    assert result.all_published
    messages = drain(sqs, provisioned.queue_url("debit-wallet"))
    by_group: dict[str, list[str]] = {}
    for message in messages:
        delivered = cloud_event_from_envelope(message["Body"])
        assert delivered["partition"] == message["Attributes"]["MessageGroupId"]
        by_group.setdefault(message["Attributes"]["MessageGroupId"], []).append(delivered["id"])
    for payer in (alice, bob):
        group = topology.partition_group(topology.partition_of(f"wallet:{payer}:USD"))
        assert by_group[group] == [event["id"] for event in events[payer]]
    # AND the two wallets are in two different groups, with nothing else in them
    assert len(by_group) == 2


def test_a_stuck_wallet_holds_up_only_its_own_group(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN debit-wallet failing on the first event of Alice's wallet, and running delivery
    alice, bob = payers_in_different_partitions(2)
    alices = [approved(alice, n) for n in range(EVENTS_PER_WALLET)]
    bobs = [approved(bob, n) for n in range(EVENTS_PER_WALLET)]
    app, function = load_recording_function()
    function.FAIL_IDS.add(alices[0]["id"])
    deliverer = Deliverer(sqs, provisioned, WsgiTransport({"debit-wallet": app}), consumers=["debit-wallet"])
    deliverer.start()
    try:
        # WHEN Alice's events are published first, then Bob's
        publisher.publish(alices)
        publisher.publish(bobs)

        # THEN all of Bob's events are delivered while Alice's head is still failing
        wait_until(
            lambda: {a["id"] for a, _ in function.RECEIVED} >= {e["id"] for e in bobs},
            "Bob's events are delivered",
        )
        assert deliverer.stats().retried >= 1
        # AND none of Alice's events overtook her failing first one
        assert not {a["id"] for a, _ in function.RECEIVED} & {e["id"] for e in alices}

        # WHEN the function recovers
        function.FAIL_IDS.clear()

        # THEN Alice's events follow, in her order, each once
        wait_until(
            lambda: deliverer.stats().delivered == 2 * EVENTS_PER_WALLET,
            "Alice's events are delivered after the backoff",
        )
    finally:
        assert deliverer.stop(timeout=THREAD_WAIT_SECONDS_MAX)
    received = [attributes["id"] for attributes, _ in function.RECEIVED]
    assert [i for i in received if i in {e["id"] for e in alices}] == [e["id"] for e in alices]
    assert [i for i in received if i in {e["id"] for e in bobs}] == [e["id"] for e in bobs]
    assert queue_depth(sqs, provisioned.queue_url("debit-wallet")) == 0


def test_several_workers_deliver_different_wallets_at_once_and_each_wallet_in_order(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN four payers in four partitions and a deliverer with four threads on one queue
    payers = payers_in_different_partitions(4)
    app, function = load_recording_function()
    deliverer = Deliverer(
        sqs,
        provisioned,
        WsgiTransport({"debit-wallet": app}),
        consumers=["debit-wallet"],
        workers_per_queue=4,
    )
    per_payer = {payer: [approved(payer, n) for n in range(EVENTS_PER_WALLET)] for payer in payers}

    # WHEN their events are published interleaved and delivered
    publisher.publish([e for batch in zip(*per_payer.values(), strict=True) for e in batch])
    deliverer.start()
    try:
        wait_until(
            lambda: deliverer.stats().delivered == len(payers) * EVENTS_PER_WALLET,
            "every event is delivered",
        )
    finally:
        assert deliverer.stop(timeout=THREAD_WAIT_SECONDS_MAX)

    # THEN each payer's events arrived in their order, each once
    received = [attributes["id"] for attributes, _ in function.RECEIVED]
    assert len(received) == len(set(received)) == len(payers) * EVENTS_PER_WALLET
    for events in per_payer.values():
        ids = {e["id"] for e in events}
        assert [i for i in received if i in ids] == [e["id"] for e in events]


def test_provisioning_removes_the_rule_of_an_earlier_unpartitioned_layout(
    fresh_moto: str, provisioned: ProvisionedTopology
) -> None:
    # GIVEN the single rule an earlier layout gave settle, still feeding its queue
    events = aws_client("events", endpoint_url=fresh_moto)
    legacy = f"{topology.RESOURCE_PREFIX}-settle"
    events.put_rule(
        Name=legacy,
        EventBusName=topology.BUS_NAME,
        EventPattern=json.dumps({"detail-type": ["payment.debited"]}),
    )
    events.put_targets(
        Rule=legacy,
        EventBusName=topology.BUS_NAME,
        Targets=[
            {
                "Id": "legacy",
                "Arn": provisioned.queue("settle").queue_arn,
                "SqsParameters": {"MessageGroupId": "settle"},
            }
        ],
    )

    # WHEN the topology is provisioned again
    provision(endpoint_url=fresh_moto)

    # THEN only the partitioned rules are left, so no event is delivered twice
    names = {rule["Name"] for rule in events.list_rules(EventBusName=topology.BUS_NAME, NamePrefix=legacy)["Rules"]}
    assert names == {rule.rule_name for rule in topology.route_for("settle").rules}


def test_the_audit_chain_gets_every_wallets_events_in_one_group(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN events of two wallets in two partitions
    alice, bob = payers_in_different_partitions(2)
    events = [approved(alice, 0), approved(bob, 0), approved(alice, 1)]

    # WHEN they are published
    publisher.publish(events)

    # THEN audit's queue holds them in one group, in publishing order: the chain is one sequence
    messages = drain(sqs, provisioned.queue_url("audit"))
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"audit"}
    assert [cloud_event_from_envelope(m["Body"])["id"] for m in messages] == [e["id"] for e in events]
