"""The saga's limit check on PostgreSQL, where payments of one payer are scored at the same
instant by several score-fraud processes: the payer's row lock makes each check count the ones
accepted before it, so what is accepted never passes a limit; a freeze racing the scoring leaves
no payment of the frozen payer accepted; and the sum reads the payer's index range."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from schemas.api import PaymentRequest
from schemas.events import PaymentRequested
from shared.adapters.database import create_engine
from shared.adapters.fx_rates import RATES_FILE_DEFAULT, RatesSource
from shared.adapters.ledger_store import LedgerStore
from shared.adapters.tables import payments, users
from shared.domain.fraud import FraudAssessment, FraudDecision
from shared.services import limits, operators
from shared.services.context import EventContext
from shared.services.payments import create_payment, score_payment
from tests.fixtures.ledger import fund

pytestmark = pytest.mark.integration

CONTENDERS = 8
JOIN_TIMEOUT_SECONDS = 60
OPENING_BALANCE_MINOR = 5_000_000
# Each 2,000.00 USD: three fit the day's 7,500.00 of KYC level none, a fourth does not.
AMOUNT_MINOR = 2_000_00
FITTING = 3
# Held between the sum and the commit: without the lock, every contender would read the same
# empty sum inside this window and accept its payment.
RACE_WINDOW_SECONDS = 0.05
APPROVE = FraudAssessment(FraudDecision.APPROVE, 0, ())


@pytest.fixture
def engine(migrated_postgres_url):
    engine = create_engine(migrated_postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def ledger() -> LedgerStore:
    return LedgerStore()


def _context(producer: str) -> EventContext:
    return EventContext(producer=producer, now=datetime.now(UTC), correlation_id=None)


def _requested(engine, ledger, count: int) -> tuple[str, list[PaymentRequested]]:
    """A funded payer at KYC level none and `count` payments of theirs, accepted, not scored."""
    now = datetime.now(UTC)
    payer, payee = (f"usr_{uuid.uuid4().hex}" for _ in range(2))
    requested = []
    with engine.begin() as conn:
        for user_id in (payer, payee):
            conn.execute(
                users.insert().values(
                    id=user_id,
                    password_hash="-",
                    country="US",
                    created_at=now,
                )
            )
            ledger.ensure_wallet(conn, user_id, "USD", now)
        fund(conn, ledger, payer, OPENING_BALANCE_MINOR, now)
        for _ in range(count):
            payment, _ = create_payment(
                conn,
                payer_id=payer,
                request=PaymentRequest(to=payee, amount=AMOUNT_MINOR, currency="USD"),
                context=_context("payments"),
            )
            requested.append(
                PaymentRequested(
                    payment_id=payment.id,
                    payer_id=payer,
                    payee_id=payee,
                    amount_minor=AMOUNT_MINOR,
                    currency="USD",
                    note="",
                )
            )
    return payer, requested


def _score(engine, ledger, payment: PaymentRequested):
    """What score-fraud does with the payment: screen it, and approve it if nothing refused it."""
    rates = RatesSource(RATES_FILE_DEFAULT).current()

    def work():
        with engine.begin() as conn:
            context = _context("score-fraud")
            screening = limits.screen_payment(conn, payment, rates=rates, ledger=ledger, context=context)
            time.sleep(RACE_WINDOW_SECONDS)
            if screening.refused is None:
                score_payment(conn, payment.payment_id, APPROVE, context, ledger=ledger, hold_timeout_seconds=60)

    return work


def _race(*works) -> None:
    start, errors = threading.Barrier(len(works)), []

    def contender(work):
        start.wait()
        try:
            work()
        except Exception as error:  # noqa: BLE001 - reported below, with the others
            errors.append(error)

    threads = [threading.Thread(target=contender, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_SECONDS)
    assert not errors, errors


def _outcomes(engine, payer: str) -> list[tuple[str, str | None, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(payments.c.status, payments.c.failure_code, payments.c.failure_message).where(
                payments.c.payer_id == payer
            )
        ).all()
    return [(row.status, row.failure_code, row.failure_message) for row in rows]


def test_payments_of_one_payer_scored_at_once_never_pass_the_days_limit(engine, ledger):
    # GIVEN eight payments of 2,000.00 USD by one payer, accepted and waiting for scoring
    payer, requested = _requested(engine, ledger, CONTENDERS)
    # WHEN score-fraud takes them all at the same instant
    _race(*(_score(engine, ledger, payment) for payment in requested))
    # THEN exactly three are accepted (6,000.00 of the 7,500.00), the rest declined naming sent_24h
    outcomes = _outcomes(engine, payer)
    accepted = [outcome for outcome in outcomes if outcome[0] == "pending"]
    declined = [outcome for outcome in outcomes if outcome[0] == "declined"]
    assert len(accepted) == FITTING and len(declined) == CONTENDERS - FITTING
    assert all(code == "limit_exceeded" and (message or "").startswith("sent_24h:") for _, code, message in declined)
    # AND the payer's limits say the day is nearly used
    with engine.connect() as conn:
        seen = limits.user_limits(conn, payer, now=datetime.now(UTC), rates=RatesSource(RATES_FILE_DEFAULT).current())
    sent_24h = next(item for item in seen.limits if item.limit == "sent_24h")
    assert sent_24h.used == FITTING * AMOUNT_MINOR and sent_24h.remaining == 7_500_00 - FITTING * AMOUNT_MINOR


def test_a_freeze_racing_the_scoring_leaves_no_payment_of_the_frozen_payer_accepted(engine, ledger):
    # GIVEN three payments that fit the limits, waiting for scoring
    payer, requested = _requested(engine, ledger, FITTING)

    def freeze():
        with engine.begin() as conn:
            operators.freeze_user(
                conn, user_id=payer, reason="race", actor_id="usr_support", ledger=ledger, context=_context("admin")
            )

    # WHEN support freezes the payer while score-fraud scores them
    _race(freeze, *(_score(engine, ledger, payment) for payment in requested))
    # THEN every one ends declined account_frozen, whichever came first, and nothing is held
    assert {(status, code) for status, code, _ in _outcomes(engine, payer)} == {("declined", "account_frozen")}
    with engine.connect() as conn:
        wallet = next(w for w in ledger.wallets_of(conn, payer) if w.currency == "USD")
    assert (wallet.available, wallet.debits_pending) == (OPENING_BALANCE_MINOR, 0)


def test_the_sum_of_a_payers_payments_reads_their_index_range(engine, ledger):
    payer, _ = _requested(engine, ledger, 1)
    now = datetime.now(UTC)
    bound = limits._SENT.params(payer_id=payer, payment_id="", since_24h=now, since_30d=now)
    statement = bound.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    with engine.begin() as conn:
        # The tables of a test are small enough for a sequential scan; what matters is that the
        # planner can find the payer's payments through an index at all. At this size it may
        # take either index that leads with payer_id (payer_created, or payer_payee that
        # score-fraud reads through); both find only the payer's rows.
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(conn.execute(sa.text(f"EXPLAIN {statement}")).scalars())
    assert "Seq Scan" not in plan
    assert "ix_payments_payer_created" in plan or "ix_payments_payer_payee" in plan
    assert "Index Cond: ((payer_id)::text = " in plan
