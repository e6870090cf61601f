"""The saga opens the ledger accounts a payment needs, whichever step first finds one missing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.adapters.database import create_engine
from shared.adapters.ledger_store import SYSTEM_ACCOUNT_KINDS, LedgerStore, system_account_id, wallet_account_id
from shared.domain.ledger import Transfer, TransferOutcome
from shared.services.payments import Reservation, SettleResult, reserve, settle_reservation

pytestmark = pytest.mark.integration

STORE = LedgerStore()
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HOLD_SECONDS = 3600
CURRENCY = "SEK"


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
