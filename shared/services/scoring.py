"""What score-fraud needs to score a payment: the thresholds in force and the payment's facts.

The facts are read in one statement (one round trip) from indexed lookups: the two parties'
rows, whether the payer paid this payee before, the payee's distinct payers in the fan-in
window (only when the payee is young enough for fan-in to matter), the payer's round amounts in
the burst window, the payer's latest payees' countries, whether the payee is under review, and
whether the payee matches the sanctions list. score-fraud runs once per payment, so this is on
the saga's hot path: every subquery is bounded by an index range or a LIMIT.

The thresholds are the settings' defaults overridden by the rows of `fraud_thresholds`, which
admins change through `/v1/admin/fraud-thresholds`; each process keeps them for
`fraud_thresholds_cache_seconds` (10 s by default), so a change applies within that time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from schemas.operators import FraudThresholds, FraudThresholdsResponse
from shared.adapters.database import as_utc, is_postgresql
from shared.adapters.tables import (
    fraud_thresholds,
    kyc_documents,
    kyc_profiles,
    payment_reviews,
    payments,
    sanctioned_countries,
    sanctions_entries,
    users,
)
from shared.domain.fraud import FraudRules, PaymentFacts
from shared.domain.fx import ExchangeRates, reference_minor
from shared.domain.kyc import DocumentStatus
from shared.domain.money import CURRENCY_EXPONENTS, Money
from shared.domain.payment import PaymentStatus
from shared.domain.review import ReviewStatus
from shared.http import ApiError
from shared.services.context import EventContext
from shared.services.operators import record_admin_action

__all__ = [
    "COUNTRY_HISTORY_PAYMENTS_MAX",
    "RulesCache",
    "default_rules",
    "read_facts",
    "rules_in_force",
    "thresholds_view",
    "update_thresholds",
]

logger = logging.getLogger("paystream.scoring")

# The payer's latest payments whose payees' countries make the payer's history (and how many
# earlier payments are counted at most): the country rule needs a few, never the whole past.
COUNTRY_HISTORY_PAYMENTS_MAX = 100
# Statuses of a payment that made the payer and payee know each other.
_PAID_STATUSES = (
    PaymentStatus.COMPLETED.value,
    PaymentStatus.REFUNDED.value,
    PaymentStatus.PARTIALLY_REFUNDED.value,
)


def default_rules(settings: Any) -> FraudRules:
    """The thresholds the settings give, before any admin change."""
    return FraudRules(
        review_above_usd=settings.fraud_review_above_usd,
        decline_above_usd=settings.fraud_decline_above_usd,
        new_account_review_above_usd=settings.fraud_new_account_review_above_usd,
        velocity_review_above=settings.fraud_velocity_review_above,
        velocity_decline_above=settings.fraud_velocity_decline_above,
    )


def _changed(conn: Connection) -> list[Any]:
    return list(conn.execute(sa.select(fraud_thresholds)))


def rules_in_force(conn: Connection, defaults: FraudRules) -> FraudRules:
    """The defaults with the admins' changes applied. A stored change that no longer makes a
    consistent set (the defaults moved under it) is logged, and the defaults apply whole."""
    known = set(FraudRules.field_names())
    values = {row.name: int(row.value) for row in _changed(conn) if row.name in known}
    try:
        return replace(defaults, **values)
    except ValueError as error:
        # Only possible when a deployment moved a default under an admin's change; scoring with
        # the defaults beats not scoring at all, and the log says what to fix.
        logger.error("fraud thresholds in the table are inconsistent with the defaults (%s): using the defaults", error)
        return defaults


class RulesCache:
    """The rules in force, read again at most every `ttl_seconds` (per process)."""

    def __init__(self, ttl_seconds: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._rules: FraudRules | None = None
        self._defaults: FraudRules | None = None
        self._read_at = 0.0

    def get(self, engine: Engine | Connection, defaults: FraudRules) -> FraudRules:
        now = self._clock()
        with self._lock:
            fresh = self._rules is not None and self._defaults == defaults and now - self._read_at < self.ttl_seconds
            if fresh and self._rules is not None:
                return self._rules
        if isinstance(engine, Connection):
            rules = rules_in_force(engine, defaults)
        else:
            with engine.connect() as conn:
                rules = rules_in_force(conn, defaults)
        with self._lock:
            self._rules, self._defaults, self._read_at = rules, defaults, now
        return rules


def thresholds_view(conn: Connection, defaults: FraudRules) -> FraudThresholdsResponse:
    """The thresholds in force, their defaults and the latest change."""
    latest = conn.execute(
        sa.select(fraud_thresholds.c.updated_at, fraud_thresholds.c.updated_by)
        .order_by(fraud_thresholds.c.updated_at.desc())
        .limit(1)
    ).first()
    return FraudThresholdsResponse(
        thresholds=FraudThresholds(**rules_in_force(conn, defaults).as_dict()),
        defaults=FraudThresholds(**defaults.as_dict()),
        updated_at=None if latest is None else as_utc(latest.updated_at),
        updated_by=None if latest is None else latest.updated_by,
    )


def update_thresholds(
    conn: Connection,
    changes: Mapping[str, int],
    *,
    defaults: FraudRules,
    actor_id: str,
    context: EventContext,
    reason: str | None = None,
) -> tuple[FraudThresholdsResponse, list[str]]:
    """Change some thresholds; the new set must be consistent (a review limit above its decline
    limit is a 400), and the change is audited with each threshold's old and new value."""
    unknown = sorted(set(changes) - set(FraudRules.field_names()))
    if unknown:
        raise ApiError.invalid("fraud_threshold_unknown", f"no such fraud threshold: {unknown[0]}", unknown[0])
    # Serialise changes: two admins changing related thresholds at once must not each pass the
    # consistency check against a set the other is replacing.
    if is_postgresql(conn):
        conn.execute(sa.text("LOCK TABLE fraud_thresholds IN SHARE ROW EXCLUSIVE MODE"))
    before = rules_in_force(conn, defaults)
    try:
        after = replace(before, **changes)
    except ValueError as error:
        raise ApiError.invalid("fraud_thresholds_inconsistent", str(error)) from None
    for name, value in changes.items():
        updated = conn.execute(
            fraud_thresholds.update()
            .where(fraud_thresholds.c.name == name)
            .values(value=value, updated_by=actor_id, updated_at=context.now)
        )
        if updated.rowcount == 0:
            conn.execute(
                fraud_thresholds.insert().values(name=name, value=value, updated_by=actor_id, updated_at=context.now)
            )
    details = {name: f"{getattr(before, name)} -> {getattr(after, name)}" for name in sorted(changes)}
    event_id = record_admin_action(
        conn,
        actor_id=actor_id,
        action="fraud_thresholds.update",
        target_id="fraud-thresholds",
        context=context,
        reason=reason,
        details=details,
    )
    return thresholds_view(conn, defaults), [event_id]


# --- the facts of one payment ---------------------------------------------------------------------


def _round_unit_minor() -> sa.ColumnElement[Any]:
    """Minor units per major unit of a payment's currency, as SQL (most currencies have 2)."""
    exceptions = {code: 10**exponent for code, exponent in CURRENCY_EXPONENTS.items() if exponent != 2}
    return sa.case(exceptions, value=payments.c.currency, else_=100)


def _facts_statement() -> sa.Select[Any]:
    payer = users.alias("payer")
    payee = users.alias("payee")
    profile = kyc_profiles.alias("payee_profile")
    payer_id: sa.BindParameter[str] = sa.bindparam("payer_id")
    payee_id: sa.BindParameter[str] = sa.bindparam("payee_id")
    payment_id: sa.BindParameter[str] = sa.bindparam("payment_id")

    paid_before = sa.exists().where(
        payments.c.payer_id == payer_id,
        payments.c.payee_id == payee_id,
        payments.c.id != payment_id,
        payments.c.status.in_(_PAID_STATUSES),
    )
    fan_in_payers = (
        sa.select(sa.func.count(sa.distinct(payments.c.payer_id)))
        .where(payments.c.payee_id == payee_id, payments.c.created_at >= sa.bindparam("fan_in_since"))
        .scalar_subquery()
    )
    # Counted only for a young payee: an established merchant's many payers are no signal.
    payee_payers = sa.case(
        (payee.c.created_at > sa.bindparam("fan_in_born_after"), fan_in_payers),
        else_=1,
    )
    round_payments = (
        sa.select(sa.func.count())
        .where(
            payments.c.payer_id == payer_id,
            payments.c.created_at >= sa.bindparam("burst_since"),
            payments.c.id != payment_id,
            payments.c.amount_minor % (sa.bindparam("round_major") * _round_unit_minor()) == 0,
        )
        .scalar_subquery()
    )
    recent = (
        sa.select(payments.c.payee_id)
        .where(payments.c.payer_id == payer_id, payments.c.id != payment_id)
        .order_by(payments.c.created_at.desc())
        .limit(COUNTRY_HISTORY_PAYMENTS_MAX)
        .subquery("recent")
    )
    prior_payments = sa.select(sa.func.count()).select_from(recent).scalar_subquery()
    country_paid_before = (
        sa.exists()
        .where(users.c.id == recent.c.payee_id, users.c.country == payee.c.country)
        .select_from(recent.join(users, users.c.id == recent.c.payee_id))
    )
    under_review = sa.or_(
        sa.exists().where(payment_reviews.c.payer_id == payee_id, payment_reviews.c.status == ReviewStatus.OPEN.value),
        sa.exists().where(kyc_documents.c.user_id == payee_id, kyc_documents.c.status == DocumentStatus.REVIEW.value),
    )
    sanctioned = sa.or_(
        payee.c.sanctions_matched_at.is_not(None),
        payer.c.sanctions_matched_at.is_not(None),
        sa.exists().where(
            sa.or_(
                sanctions_entries.c.name_key == payee.c.screening_name_key,
                sanctions_entries.c.name_key == profile.c.legal_name_key,
            )
        ),
        sa.exists().where(
            sa.or_(
                sanctioned_countries.c.country == payee.c.country,
                sanctioned_countries.c.country == profile.c.address_country,
            )
        ),
    )
    return (
        sa.select(
            payer.c.created_at.label("payer_created_at"),
            payer.c.country.label("payer_country"),
            payee.c.created_at.label("payee_created_at"),
            payee.c.country.label("payee_country"),
            payee.c.frozen_at.label("payee_frozen_at"),
            paid_before.label("paid_before"),
            payee_payers.label("payee_payers"),
            round_payments.label("round_payments"),
            prior_payments.label("prior_payments"),
            country_paid_before.label("country_paid_before"),
            under_review.label("under_review"),
            sanctioned.label("sanctioned"),
        )
        .select_from(payer.join(payee, sa.true()).outerjoin(profile, profile.c.user_id == payee.c.id))
        .where(payer.c.id == payer_id, payee.c.id == payee_id)
    )


_FACTS = _facts_statement()


def _age_seconds(now: datetime, then: datetime) -> int:
    return int((now - as_utc(then)).total_seconds())


def read_facts(
    conn: Connection,
    payment: Any,
    *,
    rules: FraudRules,
    rates: ExchangeRates,
    payments_in_window: int | None,
    now: datetime,
) -> PaymentFacts:
    """The facts of `payment` (a `payment.requested` payload or a payments row) for scoring.
    Its amount is counted in US dollars at the newest rates, however old they are."""
    row = conn.execute(
        _FACTS,
        {
            "payer_id": payment.payer_id,
            "payee_id": payment.payee_id,
            "payment_id": payment.payment_id if hasattr(payment, "payment_id") else payment.id,
            "fan_in_since": now - timedelta(seconds=rules.fan_in_window_seconds),
            "fan_in_born_after": now - timedelta(seconds=rules.fan_in_payee_age_seconds),
            "burst_since": now - timedelta(seconds=rules.round_burst_window_seconds),
            "round_major": rules.round_amount_major,
        },
    ).one()
    amount = Money(payment.amount_minor, payment.currency)
    return PaymentFacts(
        amount=amount,
        amount_usd_minor=reference_minor(amount.amount_minor, amount.currency, rates),
        payments_in_window=payments_in_window,
        account_age_seconds=_age_seconds(now, row.payer_created_at),
        paid_payee_before=bool(row.paid_before),
        payee_age_seconds=_age_seconds(now, row.payee_created_at),
        payee_payers_in_window=max(1, int(row.payee_payers)),
        round_payments_in_window=int(row.round_payments),
        payee_frozen=row.payee_frozen_at is not None,
        payee_under_review=bool(row.under_review),
        payer_country=row.payer_country,
        payee_country=row.payee_country,
        payer_prior_payments=int(row.prior_payments),
        payee_country_paid_before=bool(row.country_paid_before),
        sanctions_match=bool(row.sanctioned),
    )
