"""The ordering key and partition of events: stable, bounded, and the same for one wallet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from events.catalogue import SAMPLES_DIR
from schemas.cloudevent import short_type
from schemas.events import (
    EVENT_PAYLOADS,
    PaymentApproved,
    PaymentCompleted,
    parse_payload,
    partition_key,
)
from shared import topology
from shared.adapters.aws import with_partition

_identifiers = st.from_regex(r"usr_[0-9a-f]{32}", fullmatch=True)
_currencies = st.sampled_from(["USD", "EUR", "GBP", "JPY"])


@given(st.text(min_size=1, max_size=200))
def test_every_key_lands_in_one_of_the_partitions(key: str) -> None:
    partition = topology.partition_of(key)
    assert 0 <= partition < topology.ORDERING_PARTITIONS
    assert topology.partition_of(key) == partition


def test_the_partition_of_a_key_is_the_same_in_every_process() -> None:
    # Python's own hash() is salted per process; the partition must not be.
    keys = [f"wallet:usr_{n:032x}:USD" for n in range(20)]
    here = [topology.partition_of(key) for key in keys]
    for seed in ("1", "2"):
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from shared.topology import partition_of; print([partition_of(k) for k in sys.argv[1:]])",
                *keys,
            ],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert completed.stdout.strip() == str(here)


@given(_identifiers, _identifiers, _currencies, st.integers(min_value=1, max_value=10**9))
def test_every_step_of_a_payment_is_keyed_by_the_payers_wallet(
    payer_id: str, payee_id: str, currency: str, amount_minor: int
) -> None:
    parties: dict[str, Any] = {
        "payment_id": "pay_" + "1" * 32,
        "payer_id": payer_id,
        "payee_id": payee_id,
        "amount_minor": amount_minor,
        "currency": currency,
    }
    approved = PaymentApproved(**parties, fraud_score=0, reasons=[])
    completed = PaymentCompleted(**parties, transfer_id="pay_" + "1" * 32 + ":post")
    assert partition_key(approved) == partition_key(completed) == f"wallet:{payer_id}:{currency}"


def test_every_event_type_names_the_wallet_or_user_it_is_about() -> None:
    # A type without a key would be partitioned by its subject: still delivered, but not in its
    # wallet's order. The samples are real events of every type.
    for path in sorted(SAMPLES_DIR.glob("*.json")):
        sample = json.loads(path.read_text())
        key = partition_key(parse_payload(short_type(sample["type"]), sample["data"]))
        assert key == sample["partitionkey"]
        assert key.startswith(("wallet:", "user:")), path.name
    assert {path.stem for path in SAMPLES_DIR.glob("*.json")} == set(EVENT_PAYLOADS)


def test_the_publisher_adds_the_partition_of_the_key_and_falls_back_to_the_subject() -> None:
    keyed = {"id": "evt_1", "subject": "pay_1", "partitionkey": "wallet:usr_1:USD"}
    assert with_partition(keyed)["partition"] == (f"p-{topology.partition_of('wallet:usr_1:USD')}")
    unkeyed = {"id": "evt_2", "subject": "pay_2"}
    assert with_partition(unkeyed)["partition"] == f"p-{topology.partition_of('pay_2')}"
    assert "partition" not in unkeyed  # the caller's event is left as it was
