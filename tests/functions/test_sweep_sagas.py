"""sweep-sagas through its functions-framework binding: stuck payments are compensated, nothing
stays in clearing, and payments that are moving or held are left alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from schemas.api import PaymentRequest, SignUpRequest
from shared.adapters.tables import payments
from shared.domain.fraud import FraudAssessment, FraudDecision
from shared.services.context import EventContext
from shared.services.identity import sign_up
from shared.services.payments import create_payment, debit_payment, score_payment
from tests.fixtures.ledger import fund

LONG_AGO = timedelta(hours=2)
REVIEW_HOLD_TIMEOUT_SECONDS = 4 * 24 * 3600


def _ping(client) -> int:
    ping = CloudEvent(
        {
            "id": str(uuid.uuid4()),
            "type": "dev.knative.sources.ping",
            "source": "/apis/v1/namespaces/paystream/pingsources/sweep-sagas",
        },
        {},
    )
    headers, body = to_binary(ping)
    return client.post("/", headers=headers, data=body).status_code


@pytest.fixture
def people(runtime):
    now = datetime.now(UTC)
    with runtime.engine.begin() as conn:
        made = [
            sign_up(
                conn,
                SignUpRequest(email=f"{name}@example.com", password="long enough pw", full_name=name, country="US"),
                ledger=runtime.ledger,
                privacy=runtime.privacy,
                email_index=runtime.email_index,
                now=now,
                correlation_id=None,
            )[0]
            for name in ("payer", "payee")
        ]
        fund(conn, runtime.ledger, made[0].id, 10_000, now)
    return made


def _payment(runtime, payer, payee, *, at: datetime, debit: bool, timeout_seconds: int = 3600):
    context = EventContext(producer="payments", now=at, correlation_id=None)
    with runtime.engine.begin() as conn:
        payment, _ = create_payment(
            conn, payer_id=payer.id, request=PaymentRequest(to=payee.id, amount=2_500, currency="USD"), context=context
        )
        if debit:
            approved = FraudAssessment(FraudDecision.APPROVE, 5, ())
            score_payment(
                conn,
                payment.id,
                approved,
                EventContext(producer="score-fraud", now=at, correlation_id=None),
                ledger=runtime.ledger,
                hold_timeout_seconds=REVIEW_HOLD_TIMEOUT_SECONDS,
            )
            debit_payment(
                conn,
                payment.id,
                ledger=runtime.ledger,
                timeout_seconds=timeout_seconds,
                context=EventContext(producer="debit-wallet", now=at, correlation_id=None),
            )
    return payment.id


def _state(runtime, payment_id, user_id):
    with runtime.engine.connect() as conn:
        row = conn.execute(sa.select(payments).where(payments.c.id == payment_id)).one()
        wallet = runtime.ledger.wallets_of(conn, user_id)[0]
        totals = runtime.ledger.totals_by_currency(conn)["USD"]
    return row.status, row.failure_code, wallet.available, wallet.debits_pending, totals


def test_a_debited_payment_that_stopped_moving_is_voided_and_failed(client_of, runtime, people):
    payer, payee = people
    stuck = _payment(runtime, payer, payee, at=datetime.now(UTC) - LONG_AGO, debit=True)
    assert _ping(client_of("sweep-sagas")) == 200
    assert _state(runtime, stuck, payer.id) == ("failed", "saga_timeout", 10_000, 0, (0, 0))


def test_a_payment_whose_reservation_expired_is_released_and_failed(client_of, runtime, people):
    payer, payee = people
    stuck = _payment(runtime, payer, payee, at=datetime.now(UTC) - LONG_AGO, debit=True, timeout_seconds=60)
    assert _ping(client_of("sweep-sagas")) == 200
    assert _state(runtime, stuck, payer.id) == ("failed", "saga_timeout", 10_000, 0, (0, 0))


def test_a_recent_payment_is_left_to_the_saga(client_of, runtime, people):
    payer, payee = people
    moving = _payment(runtime, payer, payee, at=datetime.now(UTC), debit=True)
    assert _ping(client_of("sweep-sagas")) == 200
    assert _state(runtime, moving, payer.id)[:4] == ("pending", None, 7_500, 2_500)


def test_a_held_payment_waits_for_its_reviewer(client_of, runtime, people):
    payer, payee = people
    held = _payment(runtime, payer, payee, at=datetime.now(UTC) - LONG_AGO, debit=False)
    with runtime.engine.begin() as conn:
        conn.execute(payments.update().where(payments.c.id == held).values(status="held"))
    assert _ping(client_of("sweep-sagas")) == 200
    assert _state(runtime, held, payer.id)[0] == "held"


def test_a_late_event_after_the_timeout_changes_nothing(client_of, runtime, people):
    payer, payee = people
    stuck = _payment(runtime, payer, payee, at=datetime.now(UTC) - LONG_AGO, debit=True)
    assert _ping(client_of("sweep-sagas")) == 200
    context = EventContext(producer="debit-wallet", now=datetime.now(UTC), correlation_id=None)
    with runtime.engine.begin() as conn:
        assert debit_payment(conn, stuck, ledger=runtime.ledger, timeout_seconds=3600, context=context) == []
    assert _state(runtime, stuck, payer.id) == ("failed", "saga_timeout", 10_000, 0, (0, 0))
