"""What score-fraud reads about a payment, on PostgreSQL: each fact from real rows (the pair's
history, fan-in, round amounts, country history, reviews, freezes, sanctions), the thresholds an
admin changed, and the decisions those facts lead to."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from shared.adapters.database import create_engine
from shared.adapters.fx_rates import RATES_FILE_DEFAULT, load_rates
from shared.adapters.tables import payment_reviews, payments, users
from shared.domain.fraud import FraudDecision, FraudRules, ReasonCode, assess
from shared.domain.sanctions import screening_key
from shared.services.context import EventContext
from shared.services.scoring import read_facts, rules_in_force, update_thresholds

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
RULES = FraudRules()
RATES = load_rates(RATES_FILE_DEFAULT)


@pytest.fixture
def engine(migrated_postgres_url):
    engine = create_engine(migrated_postgres_url)
    yield engine
    engine.dispose()


def _user(conn, *, age: timedelta = timedelta(days=400), country: str = "US", name: str = "", **extra) -> str:
    user_id = f"usr_{uuid.uuid4().hex}"
    full_name = name or f"Person {user_id[-6:]}"
    conn.execute(
        users.insert().values(
            id=user_id, password_hash="-", country=country,
            screening_name_key=screening_key(full_name), kyc_status="unverified", created_at=NOW - age, **extra,
        )
    )  # fmt: skip
    return user_id


def _paid(conn, payer: str, payee: str, amount_minor: int = 1_000, *, ago: timedelta = timedelta(days=3),
          status: str = "completed", currency: str = "USD") -> str:  # fmt: skip
    payment_id = f"pay_{uuid.uuid4().hex}"
    conn.execute(
        payments.insert().values(
            id=payment_id, payer_id=payer, payee_id=payee, amount_minor=amount_minor, currency=currency,
            status=status, version=1, created_at=NOW - ago, updated_at=NOW - ago,
        )
    )  # fmt: skip
    return payment_id


def _facts(conn, payer: str, payee: str, amount_minor: int = 10_000, currency: str = "USD", rules: FraudRules = RULES):
    payment_id = _paid(conn, payer, payee, amount_minor, ago=timedelta(0), status="pending", currency=currency)
    payment = SimpleNamespace(
        payment_id=payment_id, payer_id=payer, payee_id=payee, amount_minor=amount_minor, currency=currency
    )
    return read_facts(conn, payment, rules=rules, rates=RATES, payments_in_window=1, now=NOW)


def test_an_established_pair_reads_as_known_and_nothing_fires(engine):
    with engine.begin() as conn:
        payer, payee = _user(conn), _user(conn)
        for _ in range(3):
            _paid(conn, payer, payee)
        facts = _facts(conn, payer, payee)
    assert facts.paid_payee_before and facts.payer_prior_payments == 3 and facts.payee_country_paid_before
    assert not facts.sanctions_match and not facts.payee_frozen and not facts.payee_under_review
    assert facts.amount_usd_minor == 10_000
    assert assess(facts, RULES).reasons == ()


def test_fan_in_counts_distinct_payers_of_a_young_payee_in_the_window(engine):
    with engine.begin() as conn:
        mule = _user(conn, age=timedelta(days=1))
        old_merchant = _user(conn)
        victims = [_user(conn) for _ in range(5)]
        for victim in victims[:4]:
            for payee in (mule, old_merchant):
                _paid(conn, victim, payee, 30_000, ago=timedelta(minutes=20))
        _paid(conn, victims[0], mule, 30_000, ago=timedelta(hours=3))  # outside the window
        facts = _facts(conn, victims[4], mule, 30_000)
        merchant = _facts(conn, victims[4], old_merchant, 30_000)
    assert facts.payee_payers_in_window == 5 and not facts.paid_payee_before
    assessment = assess(facts, RULES)
    assert assessment.decision is FraudDecision.REVIEW
    assert {ReasonCode.PAYEE_FAN_IN, ReasonCode.FIRST_PAYMENT_TO_PAYEE} <= set(assessment.reasons)
    # An established merchant's many payers are no signal: not even counted.
    assert merchant.payee_payers_in_window == 1 and ReasonCode.PAYEE_FAN_IN not in assess(merchant, RULES).reasons


def test_round_amounts_are_counted_in_each_currencys_own_units(engine):
    with engine.begin() as conn:
        payer = _user(conn)
        payees = [_user(conn) for _ in range(4)]
        _paid(conn, payer, payees[0], 50_000, ago=timedelta(minutes=5))  # 500.00 USD: round
        _paid(conn, payer, payees[1], 20_000, ago=timedelta(minutes=4), currency="JPY")  # 20,000 JPY: round
        _paid(conn, payer, payees[2], 12_345, ago=timedelta(minutes=3))  # not round
        facts = _facts(conn, payer, payees[3], 100_000)
    assert facts.round_payments_in_window == 2
    assert ReasonCode.ROUND_AMOUNT_BURST in assess(facts, RULES).reasons


def test_a_payee_abroad_is_a_country_change_for_a_payer_with_a_history(engine):
    with engine.begin() as conn:
        payer = _user(conn)
        for _ in range(3):
            _paid(conn, payer, _user(conn))
        abroad = _user(conn, country="NG")
        facts = _facts(conn, payer, abroad, 20_000)
    assert facts.payer_prior_payments == 3 and not facts.payee_country_paid_before
    assessment = assess(facts, RULES)
    assert assessment.decision is FraudDecision.REVIEW
    assert assessment.reasons == (ReasonCode.FIRST_PAYMENT_TO_PAYEE, ReasonCode.COUNTRY_CHANGE)


def test_a_frozen_payee_one_under_review_and_a_listed_one_are_seen(engine):
    with engine.begin() as conn:
        payer = _user(conn)
        frozen = _user(conn, frozen_at=NOW, frozen_reason="support")
        reviewed = _user(conn)
        held = _paid(conn, reviewed, payer, status="held")
        conn.execute(
            payment_reviews.insert().values(
                payment_id=held, payer_id=reviewed, status="open", fraud_score=60, reasons=[],
                review_reason="routine_check", created_at=NOW,
            )
        )  # fmt: skip
        listed = _user(conn, name="Dmitri Sergeyevich VOLKOV")  # in the bundled sample
        embargoed = _user(conn, country="IR")
        payees = {"frozen": frozen, "reviewed": reviewed, "listed": listed, "embargoed": embargoed}
        facts = {name: _facts(conn, payer, who, 100) for name, who in payees.items()}
    assert facts["frozen"].payee_frozen and assess(facts["frozen"], RULES).decision is FraudDecision.REVIEW
    assert facts["reviewed"].payee_under_review
    for name in ("listed", "embargoed"):
        assessment = assess(facts[name], RULES)
        assert facts[name].sanctions_match and ReasonCode.SANCTIONS_MATCH in assessment.reasons, name
        assert assessment.decision is FraudDecision.REVIEW


def test_thresholds_an_admin_changed_are_the_ones_in_force(engine):
    context = EventContext(producer="admin", now=NOW, correlation_id=None)
    with engine.begin() as conn:
        view, event_ids = update_thresholds(
            conn, {"review_above_usd": 100}, defaults=RULES, actor_id="usr_admin", context=context
        )
        assert view.thresholds.model_dump()["review_above_usd"] == 100 and len(event_ids) == 1
        in_force = rules_in_force(conn, RULES)
        payer, payee = _user(conn), _user(conn)
        _paid(conn, payer, payee)
        facts = _facts(conn, payer, payee, 10_001, rules=in_force)
        # cleanup for other tests on the same database
        conn.execute(sa.text("DELETE FROM fraud_thresholds"))
    assert in_force.review_above_usd == 100
    assert assess(facts, in_force).reasons == (ReasonCode.AMOUNT_OVER_REVIEW_LIMIT,)
