"""Concurrent refunds of one payment, and concurrent payments of one request, on PostgreSQL:
the payment's (or the request's) row lock lets exactly what the rules allow through."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from schemas.api import PaymentRequest, RequestMoneyRequest
from shared.adapters.database import create_engine
from shared.adapters.ledger_store import LedgerStore
from shared.adapters.tables import payment_requests, payments, refunds
from shared.domain.fraud import FraudAssessment, FraudDecision
from shared.http import ApiError
from shared.services import payment_requests as requests_service
from shared.services.context import EventContext
from shared.services.payments import create_payment, debit_payment, pay_request, score_payment, settle_payment
from shared.services.refunds import request_refund
from tests.fixtures.ledger import fund
from tests.fixtures.users import insert_user

pytestmark = pytest.mark.integration

CONTENDERS = 8
JOIN_TIMEOUT_SECONDS = 60


@pytest.fixture
def engine(migrated_postgres_url):
    engine = create_engine(migrated_postgres_url)
    yield engine
    engine.dispose()


def _context(producer: str = "payments") -> EventContext:
    return EventContext(producer=producer, now=datetime.now(UTC), correlation_id=None)


def _people(engine, ledger) -> tuple[str, str]:
    now = datetime.now(UTC)
    ids = [f"usr_{uuid.uuid4().hex}" for _ in range(2)]
    with engine.begin() as conn:
        for user_id in ids:
            insert_user(conn, user_id, now=now)
            ledger.ensure_wallet(conn, user_id, "USD", now)
        fund(conn, ledger, ids[0], 10_000, now)
    return ids[0], ids[1]


def _race(work) -> list[object]:
    """Run `work` in CONTENDERS threads released at once; each result or ApiError, in a list."""
    start, results, lock = threading.Barrier(CONTENDERS), [], threading.Lock()

    def contender():
        start.wait()
        try:
            outcome = work()
        except ApiError as refused:
            outcome = refused
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=contender) for _ in range(CONTENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_SECONDS)
    assert len(results) == CONTENDERS
    return results


def test_concurrent_refunds_never_exceed_the_payment(engine):
    # GIVEN a completed payment of 10.00
    ledger = LedgerStore()
    payer, payee = _people(engine, ledger)
    with engine.begin() as conn:
        payment, _ = create_payment(
            conn, payer_id=payer, request=PaymentRequest(to=payee, amount=1_000, currency="USD"), context=_context()
        )
        score_payment(
            conn,
            payment.id,
            FraudAssessment(FraudDecision.APPROVE, 1, ()),
            _context("score-fraud"),
            ledger=ledger,
            hold_timeout_seconds=600,
        )
        debit_payment(conn, payment.id, ledger=ledger, timeout_seconds=600, context=_context("debit-wallet"))
        settle_payment(conn, payment.id, ledger=ledger, context=_context("settle"))
        assert conn.execute(sa.select(payments.c.status).where(payments.c.id == payment.id)).scalar_one() == "completed"

    # WHEN eight refunds of 3.00 are asked for at the same instant
    def refund():
        with engine.begin() as conn:
            return request_refund(conn, payment_id=payment.id, user_id=payee, amount_minor=300, context=_context())[
                0
            ].id

    results = _race(refund)
    # THEN three went through and the rest were refused as exceeding the payment
    refused = [r for r in results if isinstance(r, ApiError)]
    assert len(results) - len(refused) == 3
    assert {r.code for r in refused} == {"refund_exceeds_payment"}
    with engine.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.sum(refunds.c.amount_minor)).where(refunds.c.payment_id == payment.id)
        ).scalar_one()
    assert total == 900


def test_a_request_paid_by_several_clients_at_once_is_paid_once(engine):
    ledger = LedgerStore()
    payer, requester = _people(engine, ledger)
    with engine.begin() as conn:
        request, _ = requests_service.create_request(
            conn,
            requester_id=requester,
            body=RequestMoneyRequest(**{"from": payer, "amount": 700, "currency": "USD"}),
            context=_context(),
        )

    def pay():
        with engine.begin() as conn:
            return pay_request(conn, payer_id=payer, request_id=request.id, context=_context())[0].id

    results = _race(pay)
    paid = [r for r in results if not isinstance(r, ApiError)]
    assert len(paid) == 1
    assert {r.code for r in results if isinstance(r, ApiError)} == {"payment_request_already_paid"}
    with engine.connect() as conn:
        row = conn.execute(sa.select(payment_requests).where(payment_requests.c.id == request.id)).one()
        made = conn.execute(
            sa.select(sa.func.count()).select_from(payments).where(payments.c.payer_id == payer)
        ).scalar_one()
    assert (row.status, row.payment_id, made) == ("accepted", paid[0], 1)
