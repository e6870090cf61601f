"""The saga's steps, run in any order, any number of times, with time-outs in between: the money
stays right. Payments (held for review, then approved, declined or expired), their refunds (any
sequence of refund requests, by anyone) and payment requests paid, declined or cancelled share
one ledger. A hypothesis state machine over the service layer on a real SQLite database."""

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
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule

from schemas.api import PaymentRequest, RequestMoneyRequest
from shared.adapters.database import create_engine, migrate
from shared.adapters.fx_rates import RATES_FILE_DEFAULT, RatesSource
from shared.adapters.ledger_store import LedgerStore, system_account_id
from shared.adapters.tables import payment_requests, payment_reviews, payments, refunds, transactions
from shared.domain.fraud import FraudAssessment, FraudDecision, ReasonCode
from shared.domain.ledger import PendingStatus
from shared.domain.payment import PaymentStatus, RefundStatus
from shared.domain.payment_request import Action, PaymentRequestStatus
from shared.http import ApiError
from shared.services import payment_requests as requests_service
from shared.services import refunds as refunds_service
from shared.services import reviews as reviews_service
from shared.services.payments import (
    EventContext,
    create_payment,
    debit_payment,
    pay_request,
    score_payment,
    settle_payment,
    time_out_payment,
)
from shared.services.projection import rebuild
from tests.fixtures.ledger import fund
from tests.fixtures.users import insert_user, local_vault

pytestmark = pytest.mark.integration

# The users' data keys (the reviews name their parties), under a key-encryption key of its own.
VAULT = local_vault()

OPENING_BALANCE_MINOR = 1_000
DEBIT_TIMEOUT_SECONDS = 600
# Short enough that time passing lets some holds run out while their review is still open.
REVIEW_HOLD_TIMEOUT_SECONDS = 1_800
REVIEWER = "usr_reviewer"
_REACHED_THE_PAYEE = (PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
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
    completed = Bundle("completed")
    refunds = Bundle("refunds")
    requests = Bundle("requests")

    @initialize(target=completed)
    def open_two_funded_wallets_and_complete_one_payment(self):
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
                insert_user(conn, user_id, now=self.now)
                fund(conn, self.ledger, user_id, OPENING_BALANCE_MINOR, self.now)
        # A completed payment from the start, so that refunds have something to work on.
        return self.the_saga_runs_straight_through(self.send(0, OPENING_BALANCE_MINOR // 2))

    def teardown(self):
        self.engine.dispose()
        self.directory.cleanup()

    def _context(self, producer: str) -> EventContext:
        return EventContext(producer=producer, now=self.now, correlation_id=None)

    @rule(target=payments, payer=st.integers(0, 1), amount=st.integers(1, 1_500))
    def send(self, payer, amount):
        with self.engine.begin() as conn:
            payment, _ = create_payment(
                conn,
                payer_id=self.users[payer],
                request=PaymentRequest(to=self.users[1 - payer], amount=amount, currency="USD"),
                context=self._context("payments"),
            )
        return payment.id

    @rule(payment_id=payments, decision=st.sampled_from(list(FraudDecision)))
    def score(self, payment_id, decision):
        with self.engine.begin() as conn:
            score_payment(
                conn,
                payment_id,
                ASSESSMENTS[decision],
                self._context("score-fraud"),
                ledger=self.ledger,
                hold_timeout_seconds=REVIEW_HOLD_TIMEOUT_SECONDS,
            )

    @rule(payment_id=payments, approve=st.booleans())
    def review(self, payment_id, approve):
        rates = RatesSource(RATES_FILE_DEFAULT).current()
        try:
            with self.engine.begin() as conn:
                if approve:
                    reviews_service.approve_review(
                        conn,
                        payment_id,
                        reviewer_id=REVIEWER,
                        reason=None,
                        context=self._context("admin"),
                        rates=rates,
                        privacy=VAULT,
                    )
                else:
                    reviews_service.decline_review(
                        conn,
                        payment_id,
                        reviewer_id=REVIEWER,
                        reason="not this time",
                        ledger=self.ledger,
                        context=self._context("admin"),
                        rates=rates,
                        privacy=VAULT,
                    )
        except ApiError as refused:
            # Never held, or decided the other way already.
            assert refused.code in {"review_not_found", "review_already_decided"}

    @rule(payment_id=payments)
    def the_review_expires(self, payment_id):
        with self.engine.begin() as conn:
            reviews_service.expire_review(conn, payment_id, ledger=self.ledger, context=self._context("sweep-sagas"))

    @rule(payment_id=payments)
    def debit(self, payment_id):
        with self.engine.begin() as conn:
            debit_payment(
                conn,
                payment_id,
                ledger=self.ledger,
                timeout_seconds=DEBIT_TIMEOUT_SECONDS,
                context=self._context("debit-wallet"),
            )

    @rule(payment_id=payments)
    def settle(self, payment_id):
        with self.engine.begin() as conn:
            settle_payment(conn, payment_id, ledger=self.ledger, context=self._context("settle"))

    @rule(payment_id=payments)
    def time_out(self, payment_id):
        with self.engine.begin() as conn:
            time_out_payment(conn, payment_id, ledger=self.ledger, context=self._context("sweep-sagas"))

    @rule(target=completed, payment_id=payments)
    def the_saga_runs_straight_through(self, payment_id):
        # Each step on its own rarely lines up within a run: this makes completed (hence
        # refundable) payments common, while the single-step rules still interleave freely.
        self.score(payment_id, FraudDecision.APPROVE)
        self.debit(payment_id)
        self.settle(payment_id)
        with self.engine.connect() as conn:
            status: str = conn.execute(sa.select(payments.c.status).where(payments.c.id == payment_id)).scalar_one()
        return payment_id if status == PaymentStatus.COMPLETED.value else multiple()

    @rule(
        target=refunds,
        payment_id=completed | payments,
        amount=st.none() | st.integers(1, 200) | st.integers(1, 1_500),
        by_payee=st.sampled_from([True, True, True, False]),
    )
    def refund(self, payment_id, amount, by_payee):
        with self.engine.connect() as conn:
            payment = conn.execute(sa.select(payments).where(payments.c.id == payment_id)).one()
        user_id = payment.payee_id if by_payee else payment.payer_id
        try:
            with self.engine.begin() as conn:
                refund, _ = refunds_service.request_refund(
                    conn, payment_id=payment_id, user_id=user_id, amount_minor=amount, context=self._context("payments")
                )
        except ApiError as refused:
            # Refused for a reason the contract names: never a refund beyond the payment.
            assert refused.code in {"refund_not_allowed", "payment_not_refundable", "refund_exceeds_payment"}
            assert by_payee or refused.code == "refund_not_allowed"
            return multiple()
        return refund.id

    @rule(refund_id=refunds)
    def debit_refund(self, refund_id):
        with self.engine.begin() as conn:
            refunds_service.debit_refund(
                conn,
                refund_id,
                ledger=self.ledger,
                timeout_seconds=DEBIT_TIMEOUT_SECONDS,
                context=self._context("debit-wallet"),
            )

    @rule(refund_id=refunds)
    def settle_refund(self, refund_id):
        with self.engine.begin() as conn:
            refunds_service.settle_refund(conn, refund_id, ledger=self.ledger, context=self._context("settle"))

    @rule(refund_id=refunds)
    def time_out_refund(self, refund_id):
        with self.engine.begin() as conn:
            refunds_service.time_out_refund(conn, refund_id, ledger=self.ledger, context=self._context("sweep-sagas"))

    @rule(refund_id=refunds)
    def the_refund_runs_straight_through(self, refund_id):
        self.debit_refund(refund_id)
        self.settle_refund(refund_id)

    @rule(target=requests, requester=st.integers(0, 1), amount=st.integers(1, 1_500))
    def ask(self, requester, amount):
        with self.engine.begin() as conn:
            request, _ = requests_service.create_request(
                conn,
                requester_id=self.users[requester],
                body=RequestMoneyRequest(**{"from": self.users[1 - requester], "amount": amount, "currency": "USD"}),
                context=self._context("payments"),
            )
        return request.id

    @rule(target=payments, request_id=requests)
    def pay_the_request(self, request_id):
        with self.engine.connect() as conn:
            request = conn.execute(sa.select(payment_requests).where(payment_requests.c.id == request_id)).one()
        try:
            with self.engine.begin() as conn:
                payment, _ = pay_request(
                    conn, payer_id=request.payer_id, request_id=request_id, context=self._context("payments")
                )
        except ApiError as refused:
            assert refused.status == 409 and request.status != PaymentRequestStatus.OPEN.value
            return multiple()
        assert request.status == PaymentRequestStatus.OPEN.value
        return payment.id

    @rule(request_id=requests, action=st.sampled_from([Action.DECLINE, Action.CANCEL]))
    def answer(self, request_id, action):
        with self.engine.connect() as conn:
            request = conn.execute(sa.select(payment_requests).where(payment_requests.c.id == request_id)).one()
        user_id = request.payer_id if action is Action.DECLINE else request.requester_id
        try:
            with self.engine.begin() as conn:
                requests_service.answer_request(
                    conn, request_id, user_id=user_id, action=action, context=self._context("payments")
                )
        except ApiError as refused:
            assert refused.status == 409 and request.status != PaymentRequestStatus.OPEN.value

    @rule(seconds=st.integers(1, 2 * DEBIT_TIMEOUT_SECONDS))
    def time_passes(self, seconds):
        self.now += timedelta(seconds=seconds)
        with self.engine.begin() as conn:
            self.ledger.expire_pending_transfers(conn, self.now)

    @invariant()
    def the_history_rebuilt_from_the_events_equals_the_live_one(self):
        history = sa.select(transactions).order_by(transactions.c.id, transactions.c.user_id)
        with self.engine.connect() as conn, conn.begin() as transaction:
            live = conn.execute(history).all()
            rebuild(conn)
            assert conn.execute(history).all() == live
            transaction.rollback()

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
                # Money reaches the payee exactly when the payment is completed (and maybe refunded since).
                assert (credited is not None) == (status in _REACHED_THE_PAYEE), row.id
                if status in (PaymentStatus.FAILED, PaymentStatus.DECLINED):
                    # A payment that ended without completing holds nothing back.
                    assert reserved is None or reserved.pending_status is not PendingStatus.PENDING, row.id
                if status is PaymentStatus.HELD:
                    # Held with its amount reserved (until the hold runs out, if time passes).
                    assert reserved is not None and reserved.pending_status in (
                        PendingStatus.PENDING,
                        PendingStatus.EXPIRED,
                    ), row.id
                if status in _REACHED_THE_PAYEE:
                    assert reserved is not None and reserved.pending_status is PendingStatus.POSTED

    @invariant()
    def a_review_is_open_exactly_while_its_payment_is_held(self):
        with self.engine.connect() as conn:
            review_status = payment_reviews.c.status.label("review_status")
            rows = conn.execute(
                sa.select(payments.c.id, payments.c.status, review_status).select_from(
                    payments.outerjoin(payment_reviews, payment_reviews.c.payment_id == payments.c.id)
                )
            ).all()
        for row in rows:
            assert (row.review_status == "open") == (row.status == PaymentStatus.HELD.value), row.id
            if row.review_status == "approved":
                # Approved: on its way, or it got there (or the hold ran out first and it failed).
                assert row.status != PaymentStatus.DECLINED.value, row.id

    @invariant()
    def refunds_never_exceed_the_payment_and_the_status_follows_them(self):
        with self.engine.connect() as conn:
            for payment in conn.execute(sa.select(payments)).all():
                rows = conn.execute(sa.select(refunds).where(refunds.c.payment_id == payment.id)).all()
                claimed = sum(r.amount_minor for r in rows if RefundStatus(r.status).claims_the_amount)
                refunded = sum(r.amount_minor for r in rows if r.status == RefundStatus.COMPLETED.value)
                assert claimed <= payment.amount_minor, payment.id
                expected = (
                    PaymentStatus.REFUNDED
                    if refunded == payment.amount_minor
                    else PaymentStatus.PARTIALLY_REFUNDED
                    if refunded
                    else None
                )
                if expected is not None:
                    assert payment.status == expected.value, payment.id
                for refund in rows:
                    credited = self.ledger.get_transfer(conn, f"{refund.id}:credit")
                    reserved = self.ledger.get_transfer(conn, f"{refund.id}:debit")
                    # The payer gets the money back exactly when the refund is completed.
                    assert (credited is not None) == (refund.status == RefundStatus.COMPLETED.value), refund.id
                    if refund.status == RefundStatus.FAILED.value:
                        assert reserved is None or reserved.pending_status is not PendingStatus.PENDING

    @invariant()
    def a_request_is_paid_exactly_when_its_payment_completed(self):
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(payment_requests.c.status, payments.c.status.label("payment_status")).select_from(
                    payment_requests.outerjoin(payments, payments.c.id == payment_requests.c.payment_id)
                )
            ).all()
        for row in rows:
            payment = None if row.payment_status is None else PaymentStatus(row.payment_status)
            if row.status == PaymentRequestStatus.PAID.value:
                assert payment in _REACHED_THE_PAYEE
            elif row.status == PaymentRequestStatus.ACCEPTED.value:
                assert payment in (PaymentStatus.PENDING, PaymentStatus.HELD)
            else:
                assert payment in (None, PaymentStatus.FAILED, PaymentStatus.DECLINED)

    @invariant()
    def clearing_holds_exactly_the_live_reservations(self):
        with self.engine.connect() as conn:
            clearing = self.ledger.get_account(conn, system_account_id("USD", "clearing"))
            assert clearing is not None
            sagas = [
                *conn.execute(sa.select(payments.c.id)).scalars(),
                *conn.execute(sa.select(refunds.c.id)).scalars(),
            ]
            live = sum(
                t.transfer.amount_minor
                for saga_id in sagas
                if (t := self.ledger.get_transfer(conn, f"{saga_id}:debit")) is not None
                and t.pending_status is PendingStatus.PENDING
            )
        assert clearing.credits_pending == live
        assert clearing.balance_posted == 0


SagaMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestSagaUnderAnyOrderOfSteps = SagaMachine.TestCase
