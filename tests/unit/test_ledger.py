"""The double-entry ledger: decide(), apply(), the invariants and the in-memory reference model."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from shared.domain.ledger import (
    HISTORY_PAGE_MAX,
    TRANSFER_BATCH_MAX,
    Account,
    AccountFlags,
    HistoryCause,
    InMemoryLedger,
    LedgerInvariantViolated,
    PendingStatus,
    StoredTransfer,
    Transfer,
    TransferFlags,
    TransferOutcome,
    apply,
    check_account_invariants,
    check_history_matches,
    check_ledger_invariants,
    decide,
    expire_pending,
    is_expired,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WALLET = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
FUNDING_USD = "system:USD:funding"
CLEARING_USD = "system:USD:clearing"
PAYOUTS_USD = "system:USD:payouts"
FUNDING_EUR = "system:EUR:funding"
ALICE_USD = "wallet:usr_alice:USD"
BOB_USD = "wallet:usr_bob:USD"
ALICE_EUR = "wallet:usr_alice:EUR"
ALICE_FUNDS_MINOR = 10_000


def make_ledger() -> InMemoryLedger:
    """Alice holds 100.00 USD; Bob holds nothing; the system accounts balance them."""
    ledger = InMemoryLedger()
    for account in (
        Account(id=FUNDING_USD, currency="USD"),
        Account(id=CLEARING_USD, currency="USD"),
        # Payouts may only send back out what was first paid into it.
        Account(id=PAYOUTS_USD, currency="USD", flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
        Account(id=FUNDING_EUR, currency="EUR"),
        Account(id=ALICE_USD, currency="USD", flags=WALLET),
        Account(id=BOB_USD, currency="USD", flags=WALLET),
        Account(id=ALICE_EUR, currency="EUR", flags=WALLET),
    ):
        assert ledger.create_account(account)
    funding = transfer("top_1:fund", FUNDING_USD, ALICE_USD, ALICE_FUNDS_MINOR)
    assert ledger.create_transfer(funding, NOW) is TransferOutcome.OK
    return ledger


def transfer(
    transfer_id: str,
    debit_account_id: str,
    credit_account_id: str,
    amount_minor: int,
    currency: str = "USD",
    flags: TransferFlags = TransferFlags.NONE,
    pending_id: str | None = None,
    timeout_seconds: int = 0,
) -> Transfer:
    return Transfer(
        id=transfer_id,
        debit_account_id=debit_account_id,
        credit_account_id=credit_account_id,
        amount_minor=amount_minor,
        currency=currency,
        flags=flags,
        pending_id=pending_id,
        timeout_seconds=timeout_seconds,
    )


def reserve(ledger: InMemoryLedger, amount_minor: int = 3_000, timeout_seconds: int = 0) -> str:
    """Reserve Alice's money in clearing, as debit-wallet does; return the pending id."""
    pending = transfer(
        "pay_1:debit",
        ALICE_USD,
        CLEARING_USD,
        amount_minor,
        flags=TransferFlags.PENDING,
        timeout_seconds=timeout_seconds,
    )
    assert ledger.create_transfer(pending, NOW) is TransferOutcome.OK
    return pending.id


def settle(amount_minor: int, flags: TransferFlags, **fields: Any) -> Transfer:
    """A post or void of `pay_1:debit`, overridable field by field."""
    defaults: dict[str, Any] = dict(
        transfer_id="pay_1:settle",
        debit_account_id=ALICE_USD,
        credit_account_id=CLEARING_USD,
        amount_minor=amount_minor,
        flags=flags,
        pending_id="pay_1:debit",
    )
    defaults.update(fields)
    return transfer(**defaults)


def account_of(ledger: InMemoryLedger, account_id: str) -> Account:
    """An account the test created: present, so its balances can be read."""
    account = ledger.account(account_id)
    assert account is not None, account_id
    return account


def stored_transfer_of(ledger: InMemoryLedger, transfer_id: str) -> StoredTransfer:
    """A transfer the test stored: present, so its fields can be read."""
    stored = ledger.transfer(transfer_id)
    assert stored is not None, transfer_id
    return stored


POST = TransferFlags.POST_PENDING_TRANSFER
VOID = TransferFlags.VOID_PENDING_TRANSFER
LINKED = TransferFlags.LINKED


# ---------------------------------------------------------------------------------------------
# One scenario per outcome. Each returns the outcome of the transfer under test.


def scenario_ok():
    return make_ledger().create_transfer(transfer("pay_1", ALICE_USD, BOB_USD, 100), NOW)


def scenario_exists():
    ledger = make_ledger()
    ledger.create_transfer(transfer("pay_1", ALICE_USD, BOB_USD, 100), NOW)
    return ledger.create_transfer(transfer("pay_1", ALICE_USD, BOB_USD, 100), NOW)


def _retry_with(**changes):
    ledger = make_ledger()
    reserve(ledger, timeout_seconds=60)
    original = stored_transfer_of(ledger, "pay_1:debit").transfer
    return ledger.create_transfer(replace(original, **changes), NOW)


def scenario_exists_with_different_debit_account_id():
    return _retry_with(debit_account_id=BOB_USD)


def scenario_exists_with_different_credit_account_id():
    return _retry_with(credit_account_id=BOB_USD)


def scenario_exists_with_different_amount():
    return _retry_with(amount_minor=1)


def scenario_exists_with_different_currency():
    return _retry_with(currency="EUR")


def scenario_exists_with_different_flags():
    return _retry_with(flags=TransferFlags.NONE)


def scenario_exists_with_different_pending_id():
    return _retry_with(pending_id="pay_0:debit")


def scenario_exists_with_different_timeout():
    return _retry_with(timeout_seconds=61)


def scenario_amount_must_be_positive():
    return make_ledger().create_transfer(transfer("pay_1", ALICE_USD, BOB_USD, 0), NOW)


def scenario_accounts_must_be_different():
    return make_ledger().create_transfer(transfer("pay_1", ALICE_USD, ALICE_USD, 100), NOW)


def scenario_debit_account_not_found():
    return make_ledger().create_transfer(transfer("pay_1", "wallet:nobody:USD", BOB_USD, 1), NOW)


def scenario_credit_account_not_found():
    return make_ledger().create_transfer(transfer("pay_1", ALICE_USD, "wallet:nobody:USD", 1), NOW)


def scenario_accounts_must_have_the_same_currency():
    return make_ledger().create_transfer(transfer("fx_1", ALICE_USD, ALICE_EUR, 100), NOW)


def scenario_transfer_currency_must_match_accounts():
    return make_ledger().create_transfer(transfer("pay_1", ALICE_USD, BOB_USD, 100, "EUR"), NOW)


def scenario_flags_are_mutually_exclusive():
    flags = TransferFlags.PENDING | POST
    return make_ledger().create_transfer(transfer("pay_1", ALICE_USD, BOB_USD, 100, flags=flags, pending_id="x"), NOW)


def scenario_pending_id_required():
    ledger = make_ledger()
    reserve(ledger)
    return ledger.create_transfer(settle(3_000, POST, pending_id=None), NOW)


def scenario_pending_id_must_be_empty():
    return make_ledger().create_transfer(transfer("pay_1", ALICE_USD, BOB_USD, 100, pending_id="pay_0:debit"), NOW)


def scenario_timeout_reserved_for_pending_transfer():
    return make_ledger().create_transfer(transfer("pay_1", ALICE_USD, BOB_USD, 100, timeout_seconds=60), NOW)


def scenario_pending_transfer_not_found():
    return make_ledger().create_transfer(settle(3_000, POST), NOW)


def scenario_pending_transfer_not_pending():
    # The funding transfer is a plain one: there is nothing reserved to post.
    return make_ledger().create_transfer(
        settle(10_000, POST, debit_account_id=FUNDING_USD, credit_account_id=ALICE_USD,
               pending_id="top_1:fund"),
        NOW,
    )  # fmt: skip


def scenario_pending_transfer_has_different_debit_account_id():
    ledger = make_ledger()
    reserve(ledger)
    return ledger.create_transfer(settle(3_000, POST, debit_account_id=BOB_USD), NOW)


def scenario_pending_transfer_has_different_credit_account_id():
    ledger = make_ledger()
    reserve(ledger)
    return ledger.create_transfer(settle(3_000, POST, credit_account_id=BOB_USD), NOW)


def scenario_pending_transfer_has_different_currency():
    ledger = make_ledger()
    reserve(ledger)
    return ledger.create_transfer(settle(3_000, POST, currency="EUR"), NOW)


def scenario_exceeds_pending_transfer_amount():
    ledger = make_ledger()
    reserve(ledger)
    return ledger.create_transfer(settle(3_001, POST), NOW)


def scenario_pending_transfer_has_different_amount():
    ledger = make_ledger()
    reserve(ledger)
    return ledger.create_transfer(settle(2_999, VOID), NOW)


def scenario_pending_transfer_already_posted():
    ledger = make_ledger()
    reserve(ledger)
    ledger.create_transfer(settle(3_000, POST), NOW)
    return ledger.create_transfer(settle(3_000, VOID, transfer_id="pay_1:void"), NOW)


def scenario_pending_transfer_already_voided():
    ledger = make_ledger()
    reserve(ledger)
    ledger.create_transfer(settle(3_000, VOID), NOW)
    return ledger.create_transfer(settle(3_000, POST, transfer_id="pay_1:post"), NOW)


def scenario_pending_transfer_expired():
    ledger = make_ledger()
    reserve(ledger, timeout_seconds=60)
    return ledger.create_transfer(settle(3_000, POST), NOW + timedelta(seconds=60))


def scenario_insufficient_funds():
    return make_ledger().create_transfer(transfer("pay_1", ALICE_USD, BOB_USD, ALICE_FUNDS_MINOR + 1), NOW)


def scenario_exceeds_debits():
    return make_ledger().create_transfer(transfer("po_1", FUNDING_USD, PAYOUTS_USD, 1), NOW)


def scenario_linked_event_failed():
    # Alice pays Bob 30.00 in a chain whose second leg overdraws Bob: the first leg fails with it.
    ledger = make_ledger()
    outcomes = ledger.create_transfers(
        [
            transfer("chain_1", ALICE_USD, BOB_USD, 3_000, flags=LINKED),
            transfer("chain_2", BOB_USD, ALICE_USD, 3_001),
        ],
        NOW,
    )
    assert outcomes[1] is TransferOutcome.INSUFFICIENT_FUNDS
    return outcomes[0]


def scenario_linked_event_chain_open():
    return make_ledger().create_transfer(transfer("open_1", ALICE_USD, BOB_USD, 1, flags=LINKED), NOW)


SCENARIOS = {outcome: globals()[f"scenario_{outcome.value}"] for outcome in TransferOutcome}


@pytest.mark.parametrize("outcome", list(TransferOutcome), ids=lambda outcome: outcome.value)
def test_every_transfer_outcome_arises_from_its_own_situation(outcome):
    # GIVEN a ledger set up for exactly this outcome
    # WHEN the transfer under test is created
    result = SCENARIOS[outcome]()
    # THEN the ledger answers with that outcome
    assert result is outcome


def test_outcome_values_are_the_lowercased_names():
    # GIVEN every outcome
    # WHEN its value is read (the SQL ledger returns the same strings)
    # THEN it is the lowercased name
    for outcome in TransferOutcome:
        assert outcome.value == outcome.name.lower()


def test_only_ok_and_exists_mean_the_transfer_is_in_the_ledger():
    # GIVEN every outcome
    # WHEN asked whether the transfer is in the ledger
    # THEN only OK and EXISTS say yes
    assert {o for o in TransferOutcome if o.ok_or_exists} == {
        TransferOutcome.OK,
        TransferOutcome.EXISTS,
    }


# ---------------------------------------------------------------------------------------------
# Balances.


def test_a_wallet_is_never_overdrawn():
    # GIVEN Alice with 100.00 USD, 30.00 of it reserved for a payment
    ledger = make_ledger()
    reserve(ledger, amount_minor=3_000)
    # WHEN she tries to send 70.01 USD, then exactly 70.00 USD
    too_much = ledger.create_transfer(transfer("pay_2", ALICE_USD, BOB_USD, 7_001), NOW)
    exactly_enough = ledger.create_transfer(transfer("pay_3", ALICE_USD, BOB_USD, 7_000), NOW)
    # THEN the first is refused and the second leaves her with nothing available
    assert too_much is TransferOutcome.INSUFFICIENT_FUNDS
    assert exactly_enough is TransferOutcome.OK
    assert account_of(ledger, ALICE_USD).available == 0


def test_a_pending_transfer_reserves_the_amount_on_both_sides():
    # GIVEN Alice with 100.00 USD
    ledger = make_ledger()
    # WHEN 30.00 USD is reserved towards clearing
    reserve(ledger, amount_minor=3_000)
    # THEN it is pending on both sides and no longer available to Alice
    alice, clearing = account_of(ledger, ALICE_USD), account_of(ledger, CLEARING_USD)
    assert (alice.debits_pending, alice.debits_posted, alice.available) == (3_000, 0, 7_000)
    assert alice.balance_posted == 10_000
    assert (clearing.credits_pending, clearing.credits_posted) == (3_000, 0)
    assert stored_transfer_of(ledger, "pay_1:debit").pending_status is PendingStatus.PENDING


def test_posting_part_of_a_reservation_releases_the_rest():
    # GIVEN 30.00 USD reserved from Alice
    ledger = make_ledger()
    reserve(ledger, amount_minor=3_000)
    # WHEN 20.00 USD of it is posted
    outcome = ledger.create_transfer(settle(2_000, POST), NOW)
    # THEN 20.00 USD moved, the other 10.00 USD is Alice's again, and the reservation is closed
    assert outcome is TransferOutcome.OK
    alice, clearing = account_of(ledger, ALICE_USD), account_of(ledger, CLEARING_USD)
    assert (alice.debits_pending, alice.debits_posted, alice.available) == (0, 2_000, 8_000)
    assert (clearing.credits_pending, clearing.credits_posted) == (0, 2_000)
    assert stored_transfer_of(ledger, "pay_1:debit").pending_status is PendingStatus.POSTED
    assert stored_transfer_of(ledger, "pay_1:settle").pending_status is None


def test_voiding_a_reservation_gives_the_money_back():
    # GIVEN 30.00 USD reserved from Alice
    ledger = make_ledger()
    reserve(ledger, amount_minor=3_000)
    # WHEN the reservation is voided
    outcome = ledger.create_transfer(settle(3_000, VOID), NOW)
    # THEN Alice has all her money available and clearing holds nothing
    assert outcome is TransferOutcome.OK
    alice, clearing = account_of(ledger, ALICE_USD), account_of(ledger, CLEARING_USD)
    assert (alice.debits_pending, alice.debits_posted, alice.available) == (0, 0, 10_000)
    assert (clearing.credits_pending, clearing.credits_posted) == (0, 0)
    assert stored_transfer_of(ledger, "pay_1:debit").pending_status is PendingStatus.VOIDED


def test_a_post_needs_no_new_funds():
    # GIVEN Alice spends everything she has left after reserving 30.00 USD
    ledger = make_ledger()
    reserve(ledger, amount_minor=3_000)
    assert ledger.create_transfer(transfer("pay_2", ALICE_USD, BOB_USD, 7_000), NOW).ok_or_exists
    # WHEN the reservation is posted
    outcome = ledger.create_transfer(settle(3_000, POST), NOW)
    # THEN it succeeds: the money was set aside when it was reserved
    assert outcome is TransferOutcome.OK
    assert account_of(ledger, ALICE_USD).available == 0


def test_a_reservation_without_timeout_never_expires():
    # GIVEN a reservation with timeout 0
    ledger = make_ledger()
    reserve(ledger, timeout_seconds=0)
    # WHEN it is posted ten years later
    outcome = ledger.create_transfer(settle(3_000, POST), NOW + timedelta(days=3650))
    # THEN it is still live
    assert outcome is TransferOutcome.OK


def test_a_reservation_can_be_settled_until_its_timeout_and_not_at_it():
    # GIVEN a reservation with a 60 s timeout
    ledger = make_ledger()
    reserve(ledger, timeout_seconds=60)
    stored = stored_transfer_of(ledger, "pay_1:debit")
    # WHEN time reaches 59.999999 s, then 60 s
    # THEN it is live just before and expired exactly at the timeout
    assert not is_expired(stored, NOW + timedelta(seconds=60) - timedelta(microseconds=1))
    assert is_expired(stored, NOW + timedelta(seconds=60))
    just_before = NOW + timedelta(seconds=59, microseconds=999_999)
    assert ledger.create_transfer(settle(3_000, VOID), just_before) is TransferOutcome.OK


def test_an_expired_reservation_is_released_and_cannot_be_settled():
    # GIVEN a reservation with a 60 s timeout, and its timeout has passed
    ledger = make_ledger()
    reserve(ledger, amount_minor=3_000, timeout_seconds=60)
    later = NOW + timedelta(seconds=61)
    # WHEN expiry runs
    expired_ids = ledger.expire_pending_transfers(later)
    # THEN the money is Alice's again, the books balance, and a post is refused
    assert expired_ids == ["pay_1:debit"]
    assert account_of(ledger, ALICE_USD).available == ALICE_FUNDS_MINOR
    assert account_of(ledger, CLEARING_USD).credits_pending == 0
    assert stored_transfer_of(ledger, "pay_1:debit").pending_status is PendingStatus.EXPIRED
    check_ledger_invariants(ledger.accounts())
    assert ledger.create_transfer(settle(3_000, POST), later) is (TransferOutcome.PENDING_TRANSFER_EXPIRED)
    assert ledger.expire_pending_transfers(later + timedelta(days=1)) == []


def test_a_live_reservation_cannot_be_expired():
    # GIVEN a reservation whose timeout has not passed
    ledger = make_ledger()
    reserve(ledger, timeout_seconds=60)
    stored = stored_transfer_of(ledger, "pay_1:debit")
    # WHEN someone tries to release it anyway
    # THEN it is a bug, and the ledger's own sweep leaves it alone
    with pytest.raises(LedgerInvariantViolated):
        expire_pending(
            stored,
            debit=account_of(ledger, ALICE_USD),
            credit=account_of(ledger, CLEARING_USD),
            now=NOW + timedelta(seconds=59),
        )
    assert ledger.expire_pending_transfers(NOW + timedelta(seconds=59)) == []


def test_a_refused_transfer_changes_nothing():
    # GIVEN a ledger
    ledger = make_ledger()
    accounts_before, transfers_before = ledger.accounts(), ledger.transfers()
    # WHEN a transfer is refused
    outcome = ledger.create_transfer(transfer("pay_1", ALICE_USD, BOB_USD, 10**9), NOW)
    # THEN no account and no transfer changed
    assert outcome is TransferOutcome.INSUFFICIENT_FUNDS
    assert ledger.accounts() == accounts_before
    assert ledger.transfers() == transfers_before
    assert ledger.transfer("pay_1") is None


# ---------------------------------------------------------------------------------------------
# The order of checks (the SQL ledger mirrors it; these pin the places where two checks meet).


def test_a_retry_is_exists_even_after_the_money_is_gone():
    # GIVEN Alice sent all her money to Bob
    ledger = make_ledger()
    payment = transfer("pay_1", ALICE_USD, BOB_USD, ALICE_FUNDS_MINOR)
    assert ledger.create_transfer(payment, NOW) is TransferOutcome.OK
    # WHEN the same transfer is retried
    outcome = ledger.create_transfer(payment, NOW)
    # THEN it is EXISTS, not INSUFFICIENT_FUNDS
    assert outcome is TransferOutcome.EXISTS


def test_a_retried_post_is_exists_even_after_the_reservation_expired():
    # GIVEN a reservation with a timeout, posted in time
    ledger = make_ledger()
    reserve(ledger, timeout_seconds=60)
    post = settle(3_000, POST)
    assert ledger.create_transfer(post, NOW) is TransferOutcome.OK
    # WHEN the post is retried long after the timeout
    outcome = ledger.create_transfer(post, NOW + timedelta(days=1))
    # THEN it is EXISTS
    assert outcome is TransferOutcome.EXISTS


def test_a_retry_reports_the_first_differing_field_in_enum_order():
    # GIVEN a stored pending transfer
    ledger = make_ledger()
    reserve(ledger, timeout_seconds=60)
    original = stored_transfer_of(ledger, "pay_1:debit").transfer
    # WHEN a retry differs in amount, currency and timeout at once
    outcome = ledger.create_transfer(replace(original, amount_minor=1, currency="EUR", timeout_seconds=1), NOW)
    # THEN the amount, compared first, names the outcome
    assert outcome is TransferOutcome.EXISTS_WITH_DIFFERENT_AMOUNT


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        # flags before amount
        (transfer("t", ALICE_USD, BOB_USD, 0, flags=TransferFlags.PENDING | VOID),
         TransferOutcome.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
        # amount before same accounts
        (transfer("t", ALICE_USD, ALICE_USD, -5), TransferOutcome.AMOUNT_MUST_BE_POSITIVE),
        # same accounts before pending id
        (transfer("t", ALICE_USD, ALICE_USD, 5, pending_id="p"),
         TransferOutcome.ACCOUNTS_MUST_BE_DIFFERENT),
        # pending id before timeout
        (transfer("t", ALICE_USD, BOB_USD, 5, pending_id="p", timeout_seconds=5),
         TransferOutcome.PENDING_ID_MUST_BE_EMPTY),
        # timeout before unknown accounts
        (transfer("t", "nobody", "nobody-else", 5, timeout_seconds=5),
         TransferOutcome.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
        # a post's missing pending transfer before unknown accounts
        (transfer("t", "nobody", "nobody-else", 5, flags=POST, pending_id="missing"),
         TransferOutcome.PENDING_TRANSFER_NOT_FOUND),
        # debit account before credit account
        (transfer("t", "nobody", "nobody-else", 5), TransferOutcome.DEBIT_ACCOUNT_NOT_FOUND),
        # accounts' currencies before the transfer's currency
        (transfer("t", ALICE_USD, ALICE_EUR, 5, currency="GBP"),
         TransferOutcome.ACCOUNTS_MUST_HAVE_THE_SAME_CURRENCY),
        # currency before funds
        (transfer("t", ALICE_USD, BOB_USD, 10**9, currency="EUR"),
         TransferOutcome.TRANSFER_CURRENCY_MUST_MATCH_ACCOUNTS),
        # the debit side's funds before the credit side's floor
        (transfer("t", BOB_USD, PAYOUTS_USD, 5), TransferOutcome.INSUFFICIENT_FUNDS),
    ],
)  # fmt: skip
def test_when_several_checks_fail_the_earliest_one_is_reported(candidate, expected):
    # GIVEN a transfer that breaks more than one rule
    ledger = make_ledger()
    # WHEN it is created
    outcome = ledger.create_transfer(candidate, NOW)
    # THEN the first check in decide()'s documented order names the outcome
    assert outcome is expected


@pytest.mark.parametrize(
    ("candidate", "when", "expected"),
    [
        (settle(3_000, POST, debit_account_id=BOB_USD, currency="EUR"), NOW,
         TransferOutcome.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID),
        (settle(3_001, POST, currency="EUR"), NOW,
         TransferOutcome.PENDING_TRANSFER_HAS_DIFFERENT_CURRENCY),
        (settle(3_001, VOID), NOW + timedelta(days=1),
         TransferOutcome.EXCEEDS_PENDING_TRANSFER_AMOUNT),
        (settle(1, VOID), NOW + timedelta(days=1),
         TransferOutcome.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT),
    ],
)  # fmt: skip
def test_a_settlement_is_checked_against_its_reservation_before_its_expiry(candidate, when, expected):
    # GIVEN a 60 s reservation of 30.00 USD
    ledger = make_ledger()
    reserve(ledger, amount_minor=3_000, timeout_seconds=60)
    # WHEN a mismatched post or void arrives (some of them after the timeout)
    outcome = ledger.create_transfer(candidate, when)
    # THEN the mismatch, checked first, is reported
    assert outcome is expected


# ---------------------------------------------------------------------------------------------
# decide() and apply() called directly.


def test_decide_is_a_pure_function_of_its_arguments():
    # GIVEN a transfer and the state it meets
    candidate = transfer("pay_1", ALICE_USD, BOB_USD, 500)
    alice = Account(id=ALICE_USD, currency="USD", flags=WALLET, credits_posted=500)
    bob = Account(id=BOB_USD, currency="USD", flags=WALLET)
    # WHEN it is decided twice, and once with a little less money
    first = decide(candidate, existing=None, pending=None, debit=alice, credit=bob, now=NOW)
    second = decide(candidate, existing=None, pending=None, debit=alice, credit=bob, now=NOW)
    poorer = replace(alice, credits_posted=499)
    third = decide(candidate, existing=None, pending=None, debit=poorer, credit=bob, now=NOW)
    # THEN the answer depends on the arguments only
    assert first is second is TransferOutcome.OK
    assert third is TransferOutcome.INSUFFICIENT_FUNDS


def test_decide_refuses_rows_that_do_not_belong_to_the_transfer():
    # GIVEN a transfer, and accounts looked up by the wrong ids
    candidate = transfer("pay_1", ALICE_USD, BOB_USD, 500)
    carol = Account(id="wallet:usr_carol:USD", currency="USD")
    bob = Account(id=BOB_USD, currency="USD")
    # WHEN decide() is given them, or a naive clock reading
    # THEN it is a bug in the caller, not an outcome
    with pytest.raises(ValueError):
        decide(candidate, existing=None, pending=None, debit=carol, credit=bob, now=NOW)
    with pytest.raises(ValueError):
        decide(candidate, existing=None, pending=None, debit=None, credit=bob,
               now=NOW.replace(tzinfo=None))  # fmt: skip


def test_apply_refuses_a_transfer_that_would_break_a_floor():
    # GIVEN a wallet with 5 and a transfer of 6 that skipped decide()
    alice = Account(id=ALICE_USD, currency="USD", flags=WALLET, credits_posted=5)
    bob = Account(id=BOB_USD, currency="USD", flags=WALLET)
    # WHEN it is applied
    # THEN the invariant check raises instead of writing an overdraft
    with pytest.raises(LedgerInvariantViolated):
        apply(transfer("pay_1", ALICE_USD, BOB_USD, 6), debit=alice, credit=bob, pending=None)


def test_apply_refuses_a_post_without_its_reservation():
    # GIVEN a post and no pending transfer
    alice = Account(id=ALICE_USD, currency="USD", flags=WALLET, credits_posted=5)
    clearing = Account(id=CLEARING_USD, currency="USD")
    # WHEN it is applied
    # THEN it raises
    with pytest.raises(LedgerInvariantViolated):
        apply(settle(5, POST), debit=alice, credit=clearing, pending=None)


# ---------------------------------------------------------------------------------------------
# Invariants and value validation.


@pytest.mark.parametrize(
    "account",
    [
        Account(id="a", currency="USD", debits_posted=-1),
        Account(id="a", currency="USD", credits_pending=-1),
        Account(id="a", currency="USD", flags=WALLET, credits_posted=5, debits_pending=6),
        Account(id="a", currency="USD", flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
                credits_posted=1),
        Account(id="a", currency="XYZ"),
    ],
)  # fmt: skip
def test_a_broken_account_is_reported(account):
    # GIVEN an account read back in a state the rules never produce
    # WHEN its invariants are checked
    # THEN the check raises
    with pytest.raises(LedgerInvariantViolated):
        check_account_invariants(account)


def test_unbalanced_books_are_reported():
    # GIVEN a credit with no matching debit, then a pending credit with no matching debit
    posted_only = [Account(id="a", currency="USD", credits_posted=1)]
    pending_only = [
        Account(id="a", currency="USD", credits_pending=1),
        Account(id="b", currency="USD", debits_pending=2),
    ]
    duplicated = [Account(id="a", currency="USD"), Account(id="a", currency="USD")]
    # WHEN the ledger's invariants are checked
    # THEN each breaks them
    for accounts in (posted_only, pending_only, duplicated):
        with pytest.raises(LedgerInvariantViolated):
            check_ledger_invariants(accounts)


def test_books_balance_per_currency_not_across_currencies():
    # GIVEN a USD credit matched by a EUR debit
    accounts = [
        Account(id="a", currency="USD", credits_posted=100),
        Account(id="b", currency="EUR", debits_posted=100),
    ]
    # WHEN the ledger's invariants are checked
    # THEN they fail: dollars never pay for euros
    with pytest.raises(LedgerInvariantViolated, match="differ by"):
        check_ledger_invariants(accounts)


def test_an_account_id_is_created_once_and_empty():
    # GIVEN a ledger with Alice's wallet
    ledger = make_ledger()
    # WHEN the wallet is created again, or a new account arrives with a balance
    again = ledger.create_account(Account(id=ALICE_USD, currency="USD", flags=WALLET))
    # THEN the first is refused and the second is a bug
    assert again is False
    assert account_of(ledger, ALICE_USD).credits_posted == ALICE_FUNDS_MINOR
    with pytest.raises(ValueError):
        ledger.create_account(Account(id="new", currency="USD", credits_posted=1))


@pytest.mark.parametrize(
    "build",
    [
        lambda: transfer("t", "a", "b", 1.5),  # type: ignore[arg-type]
        lambda: transfer("t", "a", "b", True),
        lambda: transfer("", "a", "b", 1),
        lambda: transfer("t", "a", "b", 1, flags=16),  # type: ignore[arg-type]
        lambda: transfer("t", "a", "b", 1, timeout_seconds=-1),
        lambda: Account(id="a", currency="USD", credits_posted=1.0),  # type: ignore[arg-type]
        lambda: Account(id="a", currency="USD", flags=AccountFlags(3)),
        lambda: StoredTransfer(transfer("t", "a", "b", 1), PendingStatus.PENDING, NOW),
        lambda: StoredTransfer(transfer("t", "a", "b", 1, flags=TransferFlags.PENDING), None, NOW),
        lambda: StoredTransfer(transfer("t", "a", "b", 1), None, NOW.replace(tzinfo=None)),
    ],
)
def test_malformed_ledger_values_cannot_be_built(build):
    # GIVEN values no caller should produce
    # WHEN they are built
    # THEN construction raises: a bug, not an outcome
    with pytest.raises((TypeError, ValueError)):
        build()


def test_values_read_back_from_sql_are_normalised():
    # GIVEN plain ints and strings as a database row would hold them
    # WHEN ledger values are built from them
    stored = StoredTransfer(transfer("t", "a", "b", 1, flags=1, pending_id=""), "pending", NOW)  # type: ignore[arg-type]
    account = Account(id="a", currency="USD", flags=1)  # type: ignore[arg-type]
    # THEN they compare equal to values built from the enums
    assert stored.transfer.flags is TransferFlags.PENDING
    assert stored.transfer.pending_id is None
    assert stored.pending_status is PendingStatus.PENDING
    assert account == Account(id="a", currency="USD", flags=WALLET)


# ---------------------------------------------------------------------------------------------
# Properties over random histories.

ACCOUNT_IDS = [FUNDING_USD, CLEARING_USD, PAYOUTS_USD, FUNDING_EUR, ALICE_USD, BOB_USD, ALICE_EUR]
PROPERTY_SETTINGS = settings(max_examples=60)


@st.composite
def transfer_requests(draw, known_ids: list[str]):
    """Any transfer, valid or not, among the test accounts, with ids that sometimes repeat."""
    kind = draw(st.sampled_from([TransferFlags.NONE, TransferFlags.PENDING, POST, VOID]))
    return Transfer(
        id=draw(st.sampled_from([f"t{i}" for i in range(12)])),
        debit_account_id=draw(st.sampled_from(ACCOUNT_IDS)),
        credit_account_id=draw(st.sampled_from(ACCOUNT_IDS)),
        amount_minor=draw(st.integers(min_value=-1, max_value=12_000)),
        currency=draw(st.sampled_from(["USD", "USD", "USD", "EUR"])),
        flags=kind,
        pending_id=(draw(st.sampled_from(known_ids + ["t0", "t1"])) if kind in (POST, VOID) else None),
        timeout_seconds=(draw(st.sampled_from([0, 0, 30, 120])) if kind is TransferFlags.PENDING else 0),
    )


@st.composite
def histories(draw):
    """A sequence of (transfer, seconds elapsed before it) with a forward-moving clock."""
    count = draw(st.integers(min_value=1, max_value=25))
    requests = []
    ids: list[str] = []
    for _ in range(count):
        request = draw(transfer_requests(ids))
        ids.append(request.id)
        requests.append((request, draw(st.sampled_from([0, 0, 10, 60]))))
    return requests


def _totals(accounts: list[Account]) -> dict[str, tuple[int, int, int, int]]:
    return {a.id: (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted) for a in accounts}


def _delta(before, after, account_id: str) -> list[int]:
    return [new - old for new, old in zip(after[account_id], before[account_id], strict=True)]


@PROPERTY_SETTINGS
@given(history=histories())
def test_every_accepted_transfer_balances_and_every_refused_one_changes_nothing(history):
    # GIVEN a funded ledger and any sequence of transfer requests
    ledger = make_ledger()
    now = NOW
    for request, elapsed_seconds in history:
        now += timedelta(seconds=elapsed_seconds)
        before = _totals(ledger.accounts())
        # WHEN each request is made
        outcome = ledger.create_transfer(request, now)
        after = _totals(ledger.accounts())
        # THEN an accepted one moved the same amount out of one account and into another;
        # anything else left every balance as it was
        changed = {account_id for account_id in after if after[account_id] != before[account_id]}
        if outcome is TransferOutcome.OK:
            assert changed <= {request.debit_account_id, request.credit_account_id}
            debit_delta = _delta(before, after, request.debit_account_id)
            credit_delta = _delta(before, after, request.credit_account_id)
            # debits moved on one side exactly as credits moved on the other
            assert debit_delta[0:2] == credit_delta[2:4]
            assert debit_delta[2:4] == [0, 0] and credit_delta[0:2] == [0, 0]
        else:
            assert changed == set()
        # AND the ledger as a whole still holds
        check_ledger_invariants(ledger.accounts())


@PROPERTY_SETTINGS
@given(history=histories())
def test_no_floored_account_ever_goes_below_zero(history):
    # GIVEN a funded ledger
    ledger = make_ledger()
    now = NOW
    for request, elapsed_seconds in history:
        now += timedelta(seconds=elapsed_seconds)
        # WHEN any request is made
        ledger.create_transfer(request, now)
        # THEN no wallet is overdrawn and no payouts account gives more than it took
        for account in ledger.accounts():
            if AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS in account.flags:
                assert account.available >= 0
            if AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS in account.flags:
                assert account.debits_posted - account.credits_posted - account.credits_pending >= 0


@PROPERTY_SETTINGS
@given(history=histories())
def test_each_currency_sums_to_zero(history):
    # GIVEN a funded ledger
    ledger = make_ledger()
    now = NOW
    for request, elapsed_seconds in history:
        now += timedelta(seconds=elapsed_seconds)
        ledger.create_transfer(request, now)
    # WHEN the books are summed per currency
    for currency in ("USD", "EUR"):
        accounts = [a for a in ledger.accounts() if a.currency == currency]
        # THEN both posted and pending nets are zero
        assert sum(a.credits_posted - a.debits_posted for a in accounts) == 0
        assert sum(a.credits_pending - a.debits_pending for a in accounts) == 0


@PROPERTY_SETTINGS
@given(history=histories())
def test_retrying_an_accepted_transfer_is_exists_and_changes_nothing(history):
    # GIVEN a ledger after any history
    ledger = make_ledger()
    now = NOW
    accepted = []
    for request, elapsed_seconds in history:
        now += timedelta(seconds=elapsed_seconds)
        if ledger.create_transfer(request, now) is TransferOutcome.OK:
            accepted.append(request)
    accounts_before, transfers_before = ledger.accounts(), ledger.transfers()
    # WHEN every accepted transfer is sent again, a day later
    outcomes = [ledger.create_transfer(request, now + timedelta(days=1)) for request in accepted]
    # THEN each is EXISTS and nothing changed
    assert all(outcome is TransferOutcome.EXISTS for outcome in outcomes)
    assert ledger.accounts() == accounts_before
    assert ledger.transfers() == transfers_before


@PROPERTY_SETTINGS
@given(history=histories())
def test_decide_answers_ok_exactly_when_the_ledger_accepts(history):
    # GIVEN a ledger after any history
    ledger = make_ledger()
    now = NOW
    for request, elapsed_seconds in history:
        now += timedelta(seconds=elapsed_seconds)
        # WHEN decide() is asked first, on the ledger's own rows
        predicted = decide(
            request,
            existing=ledger.transfer(request.id),
            pending=ledger.transfer(request.pending_id) if request.pending_id else None,
            debit=ledger.account(request.debit_account_id),
            credit=ledger.account(request.credit_account_id),
            now=now,
        )
        # THEN the ledger answers the same
        assert ledger.create_transfer(request, now) is predicted


# ---------------------------------------------------------------------------------------------
# Batches and linked chains.

FX_USD = "system:USD:fx"
FX_EUR = "system:EUR:fx"
FEES_USD = "system:USD:fees"


def make_fx_ledger() -> InMemoryLedger:
    """make_ledger() plus the FX accounts in USD and EUR and the USD fees account."""
    ledger = make_ledger()
    for account_id, currency in ((FX_USD, "USD"), (FX_EUR, "EUR"), (FEES_USD, "USD")):
        assert ledger.create_account(Account(id=account_id, currency=currency))
    return ledger


def conversion(conversion_id: str, usd_minor: int, eur_minor: int, fee_minor: int) -> list[Transfer]:
    """Alice converts USD to EUR: two legs through the FX accounts and a fee, all linked."""
    return [
        transfer(f"{conversion_id}:sell", ALICE_USD, FX_USD, usd_minor, flags=LINKED),
        transfer(f"{conversion_id}:buy", FX_EUR, ALICE_EUR, eur_minor, "EUR", flags=LINKED),
        transfer(f"{conversion_id}:fee", ALICE_USD, FEES_USD, fee_minor),
    ]


def test_a_conversion_moves_both_currencies_and_the_fee_together():
    # GIVEN Alice with 100.00 USD
    ledger = make_fx_ledger()
    # WHEN she converts 50.00 USD into 46.00 EUR for a 0.50 USD fee, as one chain
    outcomes = ledger.create_transfers(conversion("cv_1", 5_000, 4_600, 50), NOW)
    # THEN every leg is created, and each currency still balances
    assert outcomes == [TransferOutcome.OK] * 3
    assert account_of(ledger, ALICE_USD).available == ALICE_FUNDS_MINOR - 5_050
    assert account_of(ledger, ALICE_EUR).available == 4_600
    check_ledger_invariants(ledger.accounts())


def test_a_chain_whose_last_leg_fails_changes_nothing():
    # GIVEN Alice with 100.00 USD
    ledger = make_fx_ledger()
    before = ledger.accounts()
    # WHEN she converts everything but the fee leaves her short
    outcomes = ledger.create_transfers(conversion("cv_1", ALICE_FUNDS_MINOR, 9_200, 1), NOW)
    # THEN the fee is refused, the legs before it fail with it, and nothing moved
    assert outcomes == [
        TransferOutcome.LINKED_EVENT_FAILED,
        TransferOutcome.LINKED_EVENT_FAILED,
        TransferOutcome.INSUFFICIENT_FUNDS,
    ]
    assert ledger.accounts() == before
    assert ledger.transfer("cv_1:sell") is None
    assert ledger.account_history(FX_USD, limit=10) == []


def test_members_after_a_failure_are_not_tried():
    # GIVEN a chain whose first member is refused and whose second would be fine alone
    ledger = make_ledger()
    chain = [
        transfer("c_1", ALICE_USD, BOB_USD, ALICE_FUNDS_MINOR + 1, flags=LINKED),
        transfer("c_2", ALICE_USD, BOB_USD, 1, flags=LINKED),
        transfer("c_3", ALICE_USD, BOB_USD, 1),
        transfer("after", ALICE_USD, BOB_USD, 2),
    ]
    # WHEN the batch runs
    outcomes = ledger.create_transfers(chain, NOW)
    # THEN the failing member keeps its outcome, the rest of its chain fails, the next transfer
    # (outside the chain) goes through
    assert outcomes == [
        TransferOutcome.INSUFFICIENT_FUNDS,
        TransferOutcome.LINKED_EVENT_FAILED,
        TransferOutcome.LINKED_EVENT_FAILED,
        TransferOutcome.OK,
    ]
    assert account_of(ledger, BOB_USD).credits_posted == 2


def test_a_batch_ending_in_a_linked_transfer_leaves_its_chain_open():
    # GIVEN a batch whose last transfer is LINKED
    ledger = make_ledger()
    before = ledger.accounts()
    batch = [
        transfer("alone", ALICE_USD, BOB_USD, 1),
        transfer("c_1", ALICE_USD, BOB_USD, 2, flags=LINKED),
        transfer("c_2", ALICE_USD, BOB_USD, 3, flags=LINKED),
    ]
    # WHEN it runs
    outcomes = ledger.create_transfers(batch, NOW)
    # THEN the open chain fails as a whole; the transfer before it stands
    assert outcomes == [
        TransferOutcome.OK,
        TransferOutcome.LINKED_EVENT_FAILED,
        TransferOutcome.LINKED_EVENT_CHAIN_OPEN,
    ]
    assert account_of(ledger, BOB_USD).credits_posted == before[5].credits_posted + 1


def test_a_retried_chain_answers_exists_for_every_member():
    # GIVEN a conversion that went through
    ledger = make_fx_ledger()
    chain = conversion("cv_1", 5_000, 4_600, 50)
    assert ledger.create_transfers(chain, NOW) == [TransferOutcome.OK] * 3
    before = ledger.accounts()
    # WHEN the same chain is sent again (a redelivered message)
    outcomes = ledger.create_transfers(chain, NOW)
    # THEN every member is EXISTS and nothing moves
    assert outcomes == [TransferOutcome.EXISTS] * 3
    assert ledger.accounts() == before


def test_a_later_transfer_of_a_batch_sees_the_earlier_ones():
    # GIVEN Bob with nothing
    ledger = make_ledger()
    # WHEN one batch funds him, reserves, posts the reservation and repeats an id
    outcomes = ledger.create_transfers(
        [
            transfer("fund", FUNDING_USD, BOB_USD, 500),
            transfer("hold", BOB_USD, CLEARING_USD, 400, flags=TransferFlags.PENDING | LINKED),
            transfer("take", BOB_USD, CLEARING_USD, 300, flags=POST, pending_id="hold"),
            transfer("fund", FUNDING_USD, BOB_USD, 500),
        ],
        NOW,
    )
    # THEN each transfer was decided on the state the ones before it left
    assert outcomes == [TransferOutcome.OK] * 3 + [TransferOutcome.EXISTS]
    assert account_of(ledger, BOB_USD).available == 200
    assert stored_transfer_of(ledger, "hold").pending_status is PendingStatus.POSTED


def test_a_batch_has_a_bound():
    # GIVEN one transfer more than a batch may hold
    ledger = make_ledger()
    batch = [transfer(f"t_{index}", FUNDING_USD, BOB_USD, 1) for index in range(TRANSFER_BATCH_MAX + 1)]
    # WHEN it is sent THEN it is refused whole, before anything changes
    with pytest.raises(ValueError, match=str(TRANSFER_BATCH_MAX)):
        ledger.create_transfers(batch, NOW)
    assert account_of(ledger, BOB_USD).credits_posted == 0
    # AND the largest batch allowed goes through
    assert set(ledger.create_transfers(batch[:-1], NOW)) == {TransferOutcome.OK}


# ---------------------------------------------------------------------------------------------
# Account history.


def test_every_change_appends_the_balances_after_it():
    # GIVEN Alice funded (one entry)
    ledger = make_ledger()
    # WHEN she reserves 30.00, posts 20.00 of it, and pays Bob 1.00
    reserve(ledger)
    ledger.create_transfer(settle(2_000, POST), NOW)
    ledger.create_transfer(transfer("pay_2", ALICE_USD, BOB_USD, 100), NOW)
    # THEN her history lists each balance after each change, newest first
    history = ledger.account_history(ALICE_USD, limit=10)
    assert [(entry.sequence, entry.transfer_id) for entry in history] == [
        (4, "pay_2"),
        (3, "pay_1:settle"),
        (2, "pay_1:debit"),
        (1, "top_1:fund"),
    ]
    assert [entry.balances() for entry in history] == [
        (0, 2_100, 0, ALICE_FUNDS_MINOR),
        (0, 2_000, 0, ALICE_FUNDS_MINOR),
        (3_000, 0, 0, ALICE_FUNDS_MINOR),
        (0, 0, 0, ALICE_FUNDS_MINOR),
    ]
    assert all(entry.cause is HistoryCause.TRANSFER for entry in history)
    check_history_matches(account_of(ledger, ALICE_USD), history[0])


def test_an_expiry_is_recorded_in_the_history():
    # GIVEN a reservation with a timeout
    ledger = make_ledger()
    reserve(ledger, timeout_seconds=60)
    # WHEN it expires
    ledger.expire_pending_transfers(NOW + timedelta(seconds=60))
    # THEN both accounts record the release
    for account_id in (ALICE_USD, CLEARING_USD):
        newest = ledger.account_history(account_id, limit=1)[0]
        assert newest.cause is HistoryCause.EXPIRY
        assert newest.transfer_id == "pay_1:debit"
        check_history_matches(account_of(ledger, account_id), newest)


def test_the_history_reads_in_pages_newest_first():
    # GIVEN Bob paid seven times
    ledger = make_ledger()
    for index in range(7):
        ledger.create_transfer(transfer(f"p_{index}", ALICE_USD, BOB_USD, 1), NOW)
    # WHEN his history is read three at a time, each page starting before the last one's end
    pages, before = [], None
    while page := ledger.account_history(BOB_USD, limit=3, before=before):
        pages.append([entry.sequence for entry in page])
        before = page[-1].sequence
    # THEN the pages cover every entry once, newest first
    assert pages == [[7, 6, 5], [4, 3, 2], [1]]


@pytest.mark.parametrize("limit, before", [(0, None), (HISTORY_PAGE_MAX + 1, None), (10, 0), (True, None)])
def test_a_history_page_is_bounded(limit, before):
    # GIVEN a ledger WHEN a page outside the bounds is asked for THEN it is an error
    with pytest.raises((ValueError, TypeError)):
        make_ledger().account_history(ALICE_USD, limit=limit, before=before)


def test_a_history_that_disagrees_with_the_balances_is_reported():
    # GIVEN Alice's newest entry, and her account with one more minor unit
    ledger = make_ledger()
    newest = ledger.account_history(ALICE_USD, limit=1)[0]
    drifted = replace(account_of(ledger, ALICE_USD), credits_posted=ALICE_FUNDS_MINOR + 1)
    # WHEN they are compared THEN the drift is an invariant violation
    with pytest.raises(LedgerInvariantViolated):
        check_history_matches(drifted, newest)
    with pytest.raises(LedgerInvariantViolated):
        check_history_matches(account_of(ledger, ALICE_USD), None)


def chains_of(batch: list[Transfer]) -> list[range]:
    """The index ranges of a batch's chains: LINKED transfers plus the one after them."""
    chains, start = [], 0
    for index, request in enumerate(batch):
        if TransferFlags.LINKED not in request.flags or index == len(batch) - 1:
            chains.append(range(start, index + 1))
            start = index + 1
    return chains


class LedgerStateMachine(RuleBasedStateMachine):
    """Payments, top-ups, reservations, settlements, retries, expiry and time, interleaved, one
    at a time and in batches with linked chains (conversions across currencies among them)."""

    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.ledger = make_fx_ledger()
        self.now = NOW
        self.sent: list[Transfer] = []
        self.next_id = 0

    def _new_id(self) -> str:
        self.next_id += 1
        return f"sm_{self.next_id}"

    def _create(self, request: Transfer) -> TransferOutcome:
        outcome = self.ledger.create_transfer(request, self.now)
        if outcome is TransferOutcome.OK:
            self.sent.append(request)
        return outcome

    @rule(
        wallet=st.sampled_from([ALICE_USD, BOB_USD]),
        amount_minor=st.integers(min_value=1, max_value=5_000),
    )
    def top_up(self, wallet, amount_minor):
        outcome = self._create(transfer(self._new_id(), FUNDING_USD, wallet, amount_minor))
        assert outcome is TransferOutcome.OK

    @rule(
        payer=st.sampled_from([ALICE_USD, BOB_USD]),
        amount_minor=st.integers(min_value=1, max_value=8_000),
    )
    def pay(self, payer, amount_minor):
        payee = BOB_USD if payer == ALICE_USD else ALICE_USD
        available = account_of(self.ledger, payer).available
        outcome = self._create(transfer(self._new_id(), payer, payee, amount_minor))
        expected = TransferOutcome.OK if amount_minor <= available else TransferOutcome.INSUFFICIENT_FUNDS
        assert outcome is expected

    @rule(
        target=reservations,
        payer=st.sampled_from([ALICE_USD, BOB_USD]),
        amount_minor=st.integers(min_value=1, max_value=8_000),
        timeout_seconds=st.sampled_from([0, 30, 300]),
    )
    def reserve_for_payment(self, payer, amount_minor, timeout_seconds):
        request = transfer(
            self._new_id(),
            payer,
            CLEARING_USD,
            amount_minor,
            flags=TransferFlags.PENDING,
            timeout_seconds=timeout_seconds,
        )
        self._create(request)
        return request

    @rule(
        reservation=consumes(reservations),
        fraction_percent=st.integers(min_value=1, max_value=100),
    )
    def post(self, reservation, fraction_percent):
        amount_minor = max(1, reservation.amount_minor * fraction_percent // 100)
        self._settle(reservation, POST, amount_minor)

    @rule(reservation=consumes(reservations))
    def void(self, reservation):
        self._settle(reservation, VOID, reservation.amount_minor)

    def _settle(self, reservation: Transfer, flags: TransferFlags, amount_minor: int) -> None:
        stored = self.ledger.transfer(reservation.id)
        outcome = self._create(
            transfer(
                self._new_id(),
                reservation.debit_account_id,
                reservation.credit_account_id,
                amount_minor,
                flags=flags,
                pending_id=reservation.id,
            )
        )
        if stored is None:
            assert outcome is TransferOutcome.PENDING_TRANSFER_NOT_FOUND
        elif stored.pending_status is PendingStatus.EXPIRED or is_expired(stored, self.now):
            assert outcome is TransferOutcome.PENDING_TRANSFER_EXPIRED
        else:
            assert outcome is TransferOutcome.OK

    @rule(data=st.data())
    def retry_an_accepted_transfer(self, data):
        if not self.sent:
            return
        request = data.draw(st.sampled_from(self.sent))
        before = self.ledger.accounts()
        # A linked transfer sent alone is a chain left open; anything else is a plain retry.
        expected = (
            TransferOutcome.LINKED_EVENT_CHAIN_OPEN if TransferFlags.LINKED in request.flags else TransferOutcome.EXISTS
        )
        assert self.ledger.create_transfer(request, self.now) is expected
        assert self.ledger.accounts() == before

    @rule(
        payments=st.lists(
            st.tuples(
                st.sampled_from([ALICE_USD, BOB_USD, FUNDING_USD]),
                st.integers(min_value=1, max_value=4_000),
                st.booleans(),
            ),
            min_size=1,
            max_size=8,
        )
    )
    def pay_in_a_batch(self, payments):
        batch = [
            transfer(
                self._new_id(),
                payer,
                BOB_USD if payer != BOB_USD else ALICE_USD,
                amount_minor,
                flags=LINKED if linked else TransferFlags.NONE,
            )
            for payer, amount_minor, linked in payments
        ]
        self._create_batch(batch)

    @rule(
        usd_minor=st.integers(min_value=1, max_value=12_000),
        rate_percent=st.integers(min_value=50, max_value=150),
        fee_minor=st.integers(min_value=0, max_value=200),
    )
    def convert(self, usd_minor, rate_percent, fee_minor):
        eur_minor = max(1, usd_minor * rate_percent // 100)
        chain = conversion(self._new_id(), usd_minor, eur_minor, max(fee_minor, 1))
        available = account_of(self.ledger, ALICE_USD).available
        outcomes = self._create_batch(chain)
        # The whole conversion, or none of it: exactly when Alice can pay both legs from USD.
        if usd_minor + max(fee_minor, 1) <= available:
            assert outcomes == [TransferOutcome.OK] * 3
        else:
            assert TransferOutcome.OK not in outcomes

    def _create_batch(self, batch: list[Transfer]) -> list[TransferOutcome]:
        before = self.ledger.accounts()
        outcomes = self.ledger.create_transfers(batch, self.now)
        assert len(outcomes) == len(batch)
        for chain in chains_of(batch):
            chain_outcomes = [outcomes[index] for index in chain]
            if len(chain) > 1 or TransferFlags.LINKED in batch[chain[0]].flags:
                # A chain is all in the ledger, or none of it is.
                in_ledger = {outcome.ok_or_exists for outcome in chain_outcomes}
                assert len(in_ledger) == 1, chain_outcomes
        for request, outcome in zip(batch, outcomes, strict=True):
            if outcome is TransferOutcome.OK:
                self.sent.append(request)
                assert stored_transfer_of(self.ledger, request.id).transfer == request
            else:
                assert self.ledger.transfer(request.id) is None
        if TransferOutcome.OK not in outcomes:
            assert self.ledger.accounts() == before
        return outcomes

    @rule(seconds=st.sampled_from([1, 29, 30, 31, 600]))
    def let_time_pass(self, seconds):
        self.now += timedelta(seconds=seconds)

    @rule()
    def expire_reservations(self):
        for transfer_id in self.ledger.expire_pending_transfers(self.now):
            assert stored_transfer_of(self.ledger, transfer_id).pending_status is PendingStatus.EXPIRED

    @invariant()
    def books_balance(self):
        check_ledger_invariants(self.ledger.accounts())

    @invariant()
    def wallets_are_never_overdrawn(self):
        for wallet in (ALICE_USD, BOB_USD):
            assert account_of(self.ledger, wallet).available >= 0

    @invariant()
    def no_floor_is_ever_broken(self):
        for account in self.ledger.accounts():
            check_account_invariants(account)

    @invariant()
    def each_history_ends_at_its_account_balances(self):
        for account in self.ledger.accounts():
            history = self.ledger.account_history(account.id, limit=1)
            check_history_matches(account, history[0] if history else None)

    @invariant()
    def histories_are_numbered_without_gaps(self):
        # Sequences run 1, 2, … per account: no entry lost, none left by a rolled-back chain.
        for account in self.ledger.accounts():
            entries = self.ledger.account_history(account.id, limit=HISTORY_PAGE_MAX)
            assert [entry.sequence for entry in entries] == list(range(len(entries), 0, -1))

    @invariant()
    def clearing_holds_exactly_the_live_reservations(self):
        live_minor = sum(
            stored.transfer.amount_minor
            for stored in self.ledger.transfers()
            if stored.pending_status is PendingStatus.PENDING
        )
        assert account_of(self.ledger, CLEARING_USD).credits_pending == live_minor


LedgerStateMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30)
test_the_ledger_holds_through_any_sequence_of_operations = LedgerStateMachine.TestCase
