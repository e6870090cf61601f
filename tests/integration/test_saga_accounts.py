"""The saga opens the ledger accounts a payment needs, whichever step first finds one missing."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from shared.adapters.database import create_engine
from shared.adapters.ledger_store import SYSTEM_ACCOUNT_KINDS, LedgerStore, system_account_id, wallet_account_id
from shared.domain.ledger import Transfer, TransferOutcome
from shared.services.payments import Reservation, SettleResult, reserve, settle_reservation

pytestmark = pytest.mark.integration

STORE = LedgerStore()
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HOLD_SECONDS = 3600
CURRENCY = "SEK"
# Time the settlement leaves between its post and its credit, for the debit to take its locks.
CREDIT_DELAY_SECONDS = 0.5
LOCK_WAIT_SECONDS_MAX = 10


def _user() -> str:
    return f"usr_{uuid.uuid4().hex}"


def test_a_payer_without_a_wallet_has_insufficient_funds_and_the_platform_accounts_open(
    migrated_sqlite_url: str,
) -> None:
    # A database of its own, so that nothing has been paid in the currency yet.
    engine = create_engine(migrated_sqlite_url, pool_size=1)
    try:
        with engine.begin() as conn:
            # GIVEN a currency in which nothing has been paid yet, and a payer with no wallet in it
            assert STORE.get_account(conn, system_account_id(CURRENCY, "clearing")) is None
            reservation = Reservation(f"pay_{uuid.uuid4().hex}", _user(), _user(), CURRENCY, 100)
            # WHEN the payment is debited
            outcome = reserve(conn, reservation, ledger=STORE, timeout_seconds=HOLD_SECONDS, now=NOW)
            # THEN it has no funds, and the currency's platform accounts exist from now on
            assert outcome is TransferOutcome.INSUFFICIENT_FUNDS
            for kind in SYSTEM_ACCOUNT_KINDS:
                assert STORE.get_account(conn, system_account_id(CURRENCY, kind)) is not None
            assert STORE.get_account(conn, wallet_account_id(reservation.from_user_id, CURRENCY)) is None
    finally:
        engine.dispose()


def test_a_payee_without_a_wallet_in_the_currency_gets_one_with_the_money(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=1)
    payer, payee = _user(), _user()
    reservation = Reservation(f"pay_{uuid.uuid4().hex}", payer, payee, CURRENCY, 250)
    try:
        with engine.begin() as conn:
            # GIVEN a funded payer whose payment is debited, and a payee with no wallet in it
            funding = STORE.ensure_system_accounts(conn, CURRENCY, NOW)["funding"]
            wallet = STORE.ensure_wallet(conn, payer, CURRENCY, NOW)
            fund = Transfer(f"{payer}:fund", funding.id, wallet.id, 1_000, CURRENCY)
            assert STORE.create_transfer(conn, fund, NOW) is TransferOutcome.OK
            held = reserve(conn, reservation, ledger=STORE, timeout_seconds=HOLD_SECONDS, now=NOW)
            assert held is TransferOutcome.OK
            # WHEN the payment settles, and settles again (a redelivery)
            first = settle_reservation(conn, reservation, ledger=STORE, now=NOW)
            again = settle_reservation(conn, reservation, ledger=STORE, now=NOW)
            # THEN the payee's wallet was opened and holds the money, credited once
            assert first == (SettleResult.SETTLED, TransferOutcome.OK)
            assert again == (SettleResult.SETTLED, TransferOutcome.EXISTS)
            received = STORE.get_account(conn, wallet_account_id(payee, CURRENCY))
            assert received is not None and received.credits_posted == 250
    finally:
        engine.dispose()


class _SlowToCredit(LedgerStore):
    """A ledger that, before a settlement's credit, signals and gives other transactions time."""

    def __init__(self, posted: threading.Event) -> None:
        self._posted = posted

    def create_transfer(self, conn: sa.Connection, transfer: Transfer, now: datetime) -> TransferOutcome:
        if transfer.id.endswith(":credit"):
            self._posted.set()
            time.sleep(CREDIT_DELAY_SECONDS)
        return super().create_transfer(conn, transfer, now)


def test_settling_into_a_wallet_while_that_wallet_is_debited_deadlocks_neither(migrated_postgres_url: str) -> None:
    engine = create_engine(migrated_postgres_url, pool_size=3)
    payer, payee, third = _user(), _user(), _user()
    # GIVEN a payment payer → payee debited, and the payee funded and paying a third
    settling = Reservation(f"pay_{uuid.uuid4().hex}", payer, payee, "USD", 100)
    debiting = Reservation(f"pay_{uuid.uuid4().hex}", payee, third, "USD", 100)
    with engine.begin() as conn:
        funding = STORE.ensure_system_accounts(conn, "USD", NOW)["funding"]
        for user in (payer, payee):
            wallet = STORE.ensure_wallet(conn, user, "USD", NOW)
            fund = Transfer(f"{user}:fund", funding.id, wallet.id, 1_000, "USD")
            assert STORE.create_transfer(conn, fund, NOW) is TransferOutcome.OK
        assert reserve(conn, settling, ledger=STORE, timeout_seconds=HOLD_SECONDS, now=NOW) is TransferOutcome.OK
    posted = threading.Event()
    outcomes: dict[str, object] = {}

    def settle() -> None:
        try:
            with engine.begin() as conn:
                outcomes["settle"] = settle_reservation(conn, settling, ledger=_SlowToCredit(posted), now=NOW)[0]
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            outcomes["settle"] = error

    try:
        # WHEN the settlement has posted the hold (the payer's wallet and clearing) and, before it
        # credits the payee, the payee's own payment is debited (the payee's wallet, then clearing)
        settler = threading.Thread(target=settle)
        settler.start()
        assert posted.wait(LOCK_WAIT_SECONDS_MAX)
        try:
            with engine.begin() as conn:
                outcomes["debit"] = reserve(conn, debiting, ledger=STORE, timeout_seconds=HOLD_SECONDS, now=NOW)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            outcomes["debit"] = error
        settler.join(LOCK_WAIT_SECONDS_MAX)
        # THEN both go through, one after the other: no deadlock for PostgreSQL to break
        assert outcomes == {"settle": SettleResult.SETTLED, "debit": TransferOutcome.OK}
        with engine.connect() as conn:
            paid = STORE.get_account(conn, wallet_account_id(payee, "USD"))
            assert paid is not None and paid.credits_posted == 1_100
    finally:
        engine.dispose()
