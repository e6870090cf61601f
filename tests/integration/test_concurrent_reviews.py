"""Reviewers deciding one held payment at the same instant, on PostgreSQL: the payment's row lock
lets one decision through; the same decision again is answered as it was, the opposite one is
refused, and the payer's funds are released or returned exactly once."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from schemas.api import PaymentRequest
from schemas.operators import ReviewResponse
from shared.adapters.database import create_engine
from shared.adapters.fx_rates import RATES_FILE_DEFAULT, RatesSource
from shared.adapters.ledger_store import LedgerStore
from shared.adapters.tables import events, payment_reviews, payments
from shared.domain.fraud import FraudAssessment, FraudDecision, ReasonCode
from shared.domain.ledger import PendingStatus
from shared.http import ApiError
from shared.services import reviews
from shared.services.context import EventContext
from shared.services.payments import create_payment, score_payment
from tests.fixtures.ledger import fund
from tests.fixtures.users import insert_user, local_vault

pytestmark = pytest.mark.integration

# The users' data keys (the reviews name their parties), under a key-encryption key of its own.
VAULT = local_vault()

CONTENDERS = 8
# Each race is run on this many payments: a lost race shows on one of them at least.
ROUNDS = 3
JOIN_TIMEOUT_SECONDS = 60
OPENING_BALANCE_MINOR = 500_000
HELD_AMOUNT_MINOR = 250_000
HOLD_TIMEOUT_SECONDS = 4 * 24 * 3600
REVIEW = FraudAssessment(FraudDecision.REVIEW, 60, (ReasonCode.NEW_ACCOUNT_LARGE_AMOUNT,))


@pytest.fixture
def engine(migrated_postgres_url):
    engine = create_engine(migrated_postgres_url)
    yield engine
    engine.dispose()


def _context(producer: str) -> EventContext:
    return EventContext(producer=producer, now=datetime.now(UTC), correlation_id=None)


def _held_payment(engine, ledger) -> tuple[str, str]:
    """A payment of 2,500.00 held for review, from a payer who had 5,000.00; (payment, payer)."""
    now = datetime.now(UTC)
    payer, payee = (f"usr_{uuid.uuid4().hex}" for _ in range(2))
    with engine.begin() as conn:
        for user_id in (payer, payee):
            insert_user(conn, user_id, now=now)
            ledger.ensure_wallet(conn, user_id, "USD", now)
        fund(conn, ledger, payer, OPENING_BALANCE_MINOR, now)
        payment, _ = create_payment(
            conn,
            payer_id=payer,
            request=PaymentRequest(to=payee, amount=HELD_AMOUNT_MINOR, currency="USD"),
            context=_context("payments"),
        )
        score_payment(
            conn,
            payment.id,
            REVIEW,
            _context("score-fraud"),
            ledger=ledger,
            hold_timeout_seconds=HOLD_TIMEOUT_SECONDS,
        )
    return payment.id, payer


def _race(*works) -> list[object]:
    """Run each of `works` in its own thread, released at once; each result or ApiError."""
    start, results, lock = threading.Barrier(len(works)), [], threading.Lock()

    def contender(work):
        start.wait()
        try:
            outcome = work()
        except ApiError as refused:
            outcome = refused
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=contender, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_SECONDS)
    assert len(results) == len(works)
    return results


def _approve(engine, payment_id: str, reviewer: str):
    rates = RatesSource(RATES_FILE_DEFAULT).current()

    def work():
        with engine.begin() as conn:
            return reviews.approve_review(
                conn,
                payment_id,
                reviewer_id=reviewer,
                reason=None,
                context=_context("admin"),
                rates=rates,
                privacy=VAULT,
            )[0]

    return work


def _decline(engine, ledger, payment_id: str, reviewer: str):
    rates = RatesSource(RATES_FILE_DEFAULT).current()

    def work():
        with engine.begin() as conn:
            return reviews.decline_review(
                conn,
                payment_id,
                reviewer_id=reviewer,
                reason="not confirmed",
                ledger=ledger,
                context=_context("admin"),
                rates=rates,
                privacy=VAULT,
            )[0]

    return work


def _event_types(engine, payment_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(events.c.type).where(events.c.subject == payment_id).order_by(events.c.aggregate_sequence)
            ).scalars()
        )


def _review_actions(engine, payment_id: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(events.c.data).where(events.c.type == "admin.action_taken")).scalars()
        return [data["action"] for data in rows if data["target_id"] == payment_id]


def _payer_wallet(engine, ledger, payer: str):
    with engine.connect() as conn:
        return ledger.wallets_of(conn, payer)[0]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_eight_reviewers_approving_at_once_release_the_payment_once(engine, round_):
    # GIVEN a held payment
    ledger = LedgerStore()
    payment_id, payer = _held_payment(engine, ledger)
    # WHEN eight reviewers approve it at the same instant
    results = _race(*(_approve(engine, payment_id, f"usr_reviewer_{n}") for n in range(CONTENDERS)))
    # THEN every one is answered with the one approval that was made
    answered = [r for r in results if isinstance(r, ReviewResponse)]
    assert len(answered) == CONTENDERS
    assert len({r.decided_by for r in answered}) == 1 and len({r.decided_at for r in answered}) == 1
    # AND the payment was released once, by that reviewer, and the decision audited once
    assert _event_types(engine, payment_id) == ["payment.requested", "payment.held", "payment.released"]
    assert _review_actions(engine, payment_id) == ["review.approve"]
    # AND its hold still holds the amount, for settle to post
    with engine.connect() as conn:
        hold = ledger.get_transfer(conn, f"{payment_id}:debit")
        status = conn.execute(sa.select(payments.c.status).where(payments.c.id == payment_id)).scalar_one()
    assert hold is not None and hold.pending_status is PendingStatus.PENDING
    assert status == "pending"
    wallet = _payer_wallet(engine, ledger, payer)
    assert (wallet.available, wallet.debits_pending) == (OPENING_BALANCE_MINOR - HELD_AMOUNT_MINOR, HELD_AMOUNT_MINOR)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_approvals_and_declines_racing_come_to_one_decision(engine, round_):
    # GIVEN a held payment
    ledger = LedgerStore()
    payment_id, payer = _held_payment(engine, ledger)
    # WHEN four reviewers approve it and four decline it at the same instant
    works = [
        _approve(engine, payment_id, f"usr_reviewer_{n}")
        if n % 2
        else _decline(engine, ledger, payment_id, f"usr_reviewer_{n}")
        for n in range(CONTENDERS)
    ]
    results = _race(*works)
    # THEN one decision was made: the ones agreeing with it are answered with it, the others refused
    with engine.connect() as conn:
        decided = conn.execute(
            sa.select(payment_reviews.c.status).where(payment_reviews.c.payment_id == payment_id)
        ).scalar_one()
    answered = [r for r in results if isinstance(r, ReviewResponse)]
    refused = [r for r in results if isinstance(r, ApiError)]
    assert len(answered) == len(refused) == CONTENDERS // 2
    assert {r.status for r in answered} == {decided}
    assert {(r.status, r.code) for r in refused} == {(409, "review_already_decided")}
    # AND the money moved once, the way the decision says
    types = _event_types(engine, payment_id)
    wallet = _payer_wallet(engine, ledger, payer)
    if decided == "approved":
        assert types[2:] == ["payment.released"] and _review_actions(engine, payment_id) == ["review.approve"]
        assert wallet.debits_pending == HELD_AMOUNT_MINOR
    else:
        assert types[2:] == ["payment.declined"] and _review_actions(engine, payment_id) == ["review.decline"]
        assert (wallet.available, wallet.debits_pending) == (OPENING_BALANCE_MINOR, 0)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_declines_racing_the_sweeper_return_the_funds_once(engine, round_):
    # GIVEN a held payment
    ledger = LedgerStore()
    payment_id, payer = _held_payment(engine, ledger)

    def expire():
        with engine.begin() as conn:
            return reviews.expire_review(conn, payment_id, ledger=ledger, context=_context("sweep-sagas"))

    # WHEN seven reviewers decline it as the sweeper expires it
    _race(expire, *(_decline(engine, ledger, payment_id, f"usr_reviewer_{n}") for n in range(CONTENDERS - 1)))
    # THEN it was declined once, and the payer has exactly their money back
    assert _event_types(engine, payment_id).count("payment.declined") == 1
    # AND audited once if a reviewer was first, not at all if the sweeper was
    with engine.connect() as conn:
        decided_by = conn.execute(
            sa.select(payment_reviews.c.decided_by).where(payment_reviews.c.payment_id == payment_id)
        ).scalar_one()
    assert _review_actions(engine, payment_id) == ([] if decided_by is None else ["review.decline"])
    wallet = _payer_wallet(engine, ledger, payer)
    assert (wallet.available, wallet.debits_pending, wallet.balance_posted) == (
        OPENING_BALANCE_MINOR,
        0,
        OPENING_BALANCE_MINOR,
    )
    with engine.connect() as conn:
        assert ledger.totals_by_currency(conn)["USD"] == (0, 0)
