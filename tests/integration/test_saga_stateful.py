"""The saga's steps, run in any order, any number of times, with time-outs in between: the money
stays right. A hypothesis state machine over the service layer on a real SQLite database."""

from __future__ import annotations

import functools
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hypothesis.strategies as st
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from schemas.api import PaymentRequest
from shared.adapters.database import create_engine, migrate
from shared.adapters.ledger_store import LedgerStore, system_account_id, wallet_account_id
from shared.adapters.tables import payments, users
from shared.domain.fraud import FraudAssessment, FraudDecision, ReasonCode
from shared.domain.ledger import PendingStatus, Transfer
from shared.domain.payment import PaymentStatus
from shared.services.payments import (
    EventContext,
    create_payment,
    debit_payment,
    settle_payment,
    score_payment,
    time_out_payment,
)

pytestmark = pytest.mark.integration

OPENING_BALANCE_MINOR = 1_000
DEBIT_TIMEOUT_SECONDS = 600
ASSESSMENTS = {
    FraudDecision.APPROVE: FraudAssessment(FraudDecision.APPROVE, 10, ()),
    FraudDecision.REVIEW: FraudAssessment(FraudDecision.REVIEW, 60, (ReasonCode.AMOUNT_OVER_REVIEW_LIMIT,)),
    FraudDecision.DECLINE: FraudAssessment(FraudDecision.DECLINE, 90, (ReasonCode.AMOUNT_OVER_DECLINE_LIMIT,)),
}


@functools.cache
def _migrated_template() -> Path:
    """One migrated SQLite file, copied for each example (migrating takes longer than a run)."""
    directory = Path(tempfile.mkdtemp(prefix="paystream-saga-"))
    engine = create_engine(f"sqlite:///{directory / 'template.db'}")
    migrate(engine)
    engine.dispose()
    return directory / "template.db"


class SagaMachine(RuleBasedStateMachine):
    payments = Bundle("payments")

    @initialize()
    def open_two_funded_wallets(self):
        self.directory = tempfile.TemporaryDirectory()
        database = Path(self.directory.name) / "saga.db"
        shutil.copy(_migrated_template(), database)
        self.engine = create_engine(f"sqlite:///{database}")
        self.ledger = LedgerStore()
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
        self.users = ["usr_ann", "usr_ben"]
        with self.engine.begin() as conn:
            for user_id in self.users:
                # Straight into the table: the saga never reads a password, and hashing one per
                # example would dominate the run.
                conn.execute(users.insert().values(
                    id=user_id, email=f"{user_id}@example.com", password_hash="-", full_name=user_id,
                    country="US", role="user", kyc_status="unverified", created_at=self.now))
                self.ledger.ensure_wallet(conn, user_id, "USD", self.now)
            self.ledger.ensure_system_accounts(conn, "USD", self.now)
            for user_id in self.users:
                self.ledger.create_transfer(conn, Transfer(
                    id=f"fund:{user_id}", debit_account_id=system_account_id("USD", "funding"),
                    credit_account_id=wallet_account_id(user_id, "USD"),
                    amount_minor=OPENING_BALANCE_MINOR, currency="USD"), self.now)

    def teardown(self):
        self.engine.dispose()
        self.directory.cleanup()

    def _context(self, producer: str) -> EventContext:
        return EventContext(producer=producer, now=self.now, correlation_id=None)

    @rule(target=payments, payer=st.integers(0, 1), amount=st.integers(1, 1_500))
    def send(self, payer, amount):
        with self.engine.begin() as conn:
            payment, _ = create_payment(conn, payer_id=self.users[payer], request=PaymentRequest(
                to=self.users[1 - payer], amount=amount, currency="USD"), context=self._context("payments"))
        return payment.id

    @rule(payment_id=payments, decision=st.sampled_from(list(FraudDecision)))
    def score(self, payment_id, decision):
        with self.engine.begin() as conn:
            score_payment(conn, payment_id, ASSESSMENTS[decision], self._context("score-fraud"))

    @rule(payment_id=payments)
    def debit(self, payment_id):
        with self.engine.begin() as conn:
            debit_payment(conn, payment_id, ledger=self.ledger, timeout_seconds=DEBIT_TIMEOUT_SECONDS,
                          context=self._context("debit-wallet"))

    @rule(payment_id=payments)
    def settle(self, payment_id):
        with self.engine.begin() as conn:
            settle_payment(conn, payment_id, ledger=self.ledger, context=self._context("settle"))

    @rule(payment_id=payments)
    def time_out(self, payment_id):
        with self.engine.begin() as conn:
            time_out_payment(conn, payment_id, ledger=self.ledger, context=self._context("sweep-sagas"))

    @rule(seconds=st.integers(1, 2 * DEBIT_TIMEOUT_SECONDS))
    def time_passes(self, seconds):
        self.now += timedelta(seconds=seconds)
        with self.engine.begin() as conn:
            self.ledger.expire_pending_transfers(conn, self.now)

    @invariant()
    def money_is_neither_created_nor_destroyed(self):
        with self.engine.connect() as conn:
            assert self.ledger.totals_by_currency(conn)["USD"] == (0, 0)
            balances = [w.balance_posted for u in self.users for w in self.ledger.wallets_of(conn, u)]
        assert sum(balances) == 2 * OPENING_BALANCE_MINOR
        assert all(balance >= 0 for balance in balances)

    @invariant()
    def each_payment_status_matches_the_ledger(self):
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(payments)).all():
                reserved = self.ledger.get_transfer(conn, f"{row.id}:debit")
                credited = self.ledger.get_transfer(conn, f"{row.id}:credit")
                status = PaymentStatus(row.status)
                # Money reaches the payee exactly when the payment is completed.
                assert (credited is not None) == (status is PaymentStatus.COMPLETED), row.id
                if status in (PaymentStatus.FAILED, PaymentStatus.DECLINED, PaymentStatus.HELD):
                    # A payment that ended without completing holds nothing back.
                    assert reserved is None or reserved.pending_status is not PendingStatus.PENDING, row.id
                if status is PaymentStatus.COMPLETED:
                    assert reserved.pending_status is PendingStatus.POSTED

    @invariant()
    def clearing_holds_exactly_the_live_reservations(self):
        with self.engine.connect() as conn:
            clearing = self.ledger.get_account(conn, system_account_id("USD", "clearing"))
            live = sum(
                self.ledger.get_transfer(conn, f"{payment_id}:debit").transfer.amount_minor
                for payment_id in conn.execute(sa.select(payments.c.id)).scalars()
                if (t := self.ledger.get_transfer(conn, f"{payment_id}:debit")) is not None
                and t.pending_status is PendingStatus.PENDING
            )
        assert clearing.credits_pending == live
        assert clearing.balance_posted == 0


SagaMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestSagaUnderAnyOrderOfSteps = SagaMachine.TestCase
