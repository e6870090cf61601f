"""Limits per KYC level: the saga's check of a payment, the check of a withdrawal, what a user
sees of their limits, and an admin's change of one.

What is guaranteed under concurrency. Every check of a user's payment (in score-fraud) and of
their withdrawal (in wallets) first locks the user's row, and keeps the lock until its
transaction commits; then it sums, in a statement of its own (so on a snapshot taken after the
lock was granted), what the user moved in the window. Two payments of one payer scored at once
are therefore checked one after the other, and the second counts the first: the volume of a
payer's payments that passed the check never exceeds the limit that applied at each check. A
payment counts from when it passed the check (it is then approved or held, `fraud_score` set)
until it is declined or fails; a completed payment refunded later still counts, since it was
sent. The lock is the payer's row only: payments to one popular payee never wait for each other.

The sum is one statement on the index (payer_id, created_at), grouped by currency, each currency's
total converted to USD at the newest reference rates, whatever their age
(shared.domain.fx.reference_minor): a limit never stops a payment for want of fresh rates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.api import LimitUsageResponse, UserLimitsResponse
from schemas.events import PaymentRequested
from schemas.operators import AdminLevelLimits, AdminLimit
from shared.adapters.database import as_utc
from shared.adapters.ledger_store import LedgerStore
from shared.adapters.tables import kyc_limits, payments, users, withdrawals
from shared.domain.fx import REFERENCE_CURRENCY, ExchangeRates, reference_minor
from shared.domain.kyc import KycLevel
from shared.domain.limits import (
    PAYMENT_LIMITS,
    LevelLimits,
    LimitName,
    check_level_limits,
    first_exceeded,
    usage,
)
from shared.domain.money import Money
from shared.domain.payment import FailureCode, PaymentStatus
from shared.http import ApiError
from shared.services.context import EventContext
from shared.services.operators import record_admin_action
from shared.services.payments import decline_payment, lock_payment

__all__ = [
    "PayerStanding",
    "Screening",
    "admin_limits",
    "change_limit",
    "check_withdrawal",
    "level_limits",
    "limit_message",
    "screen_payment",
    "sent_volume",
    "user_limits",
]


@dataclass(frozen=True)
class PayerStanding:
    """What the saga needs of a payer, read with their row locked: age, level, freeze, limits."""

    created_at: datetime
    kyc_level: KycLevel
    frozen: bool
    payee_frozen: bool
    limits: LevelLimits

    def account_age_seconds(self, now: datetime) -> int:
        return max(0, int((now - self.created_at).total_seconds()))


@dataclass(frozen=True)
class Screening:
    """A payment's screening before fraud scoring: the payer's standing, and the events of its
    decline if a limit or a frozen account refused it (None when it goes on to scoring)."""

    payer: PayerStanding
    refused: list[str] | None


# Built once: the saga runs them for every payment. The payer's row locked, with their level's
# limits (one row per limit) and whether the payee is frozen, in one round trip.
_PAYEE = users.alias("payee")
_LOCK_PAYER = (
    sa.select(
        users.c.created_at,
        users.c.kyc_level,
        users.c.frozen_at,
        sa.select(_PAYEE.c.frozen_at)
        .where(_PAYEE.c.id == sa.bindparam("payee_id"))
        .scalar_subquery()
        .label("payee_frozen_at"),
        kyc_limits.c.limit_name,
        kyc_limits.c.amount_usd_minor,
    )
    .select_from(users.outerjoin(kyc_limits, kyc_limits.c.kyc_level == users.c.kyc_level))
    .where(users.c.id == sa.bindparam("payer_id"))
    .with_for_update(of=users)
)
# The payments that count towards the payer's sending limits (module docstring), per currency:
# the last 24 hours' and the last 30 days' totals in one pass over the payer's index range.
_NOT_SENT = (PaymentStatus.DECLINED.value, PaymentStatus.FAILED.value)
_SENT = (
    sa.select(
        payments.c.currency,
        sa.func.sum(
            sa.case((payments.c.created_at >= sa.bindparam("since_24h"), payments.c.amount_minor), else_=0)
        ).label("sent_24h"),
        sa.func.sum(payments.c.amount_minor).label("sent_30d"),
    )
    .where(
        payments.c.payer_id == sa.bindparam("payer_id"),
        payments.c.created_at >= sa.bindparam("since_30d"),
        payments.c.id != sa.bindparam("payment_id"),
        payments.c.fraud_score.is_not(None),
        payments.c.status.not_in(_NOT_SENT),
    )
    .group_by(payments.c.currency)
)
# Withdrawals count while pending or paid out; a failed one returned its funds.
_WITHDRAWN = (
    sa.select(withdrawals.c.currency, sa.func.sum(withdrawals.c.amount_minor).label("withdrawn"))
    .where(
        withdrawals.c.user_id == sa.bindparam("user_id"),
        withdrawals.c.created_at >= sa.bindparam("since"),
        withdrawals.c.status != "failed",
    )
    .group_by(withdrawals.c.currency)
)


def _window_start(now: datetime, name: LimitName) -> datetime:
    seconds = name.window_seconds
    if seconds is None:
        raise ValueError(f"{name.value} has no window")
    return now - timedelta(seconds=seconds)


def _in_usd(totals: Mapping[str, Any], rates: ExchangeRates) -> int:
    return sum(reference_minor(int(total), currency, rates) for currency, total in totals.items() if total)


def _limits_of_rows(kyc_level: KycLevel, rows: Sequence[Any]) -> LevelLimits:
    """The level's limits from its rows; a limit without a row (a database older than its seed)
    has its default."""
    amounts = dict(LevelLimits.default(kyc_level).amounts_usd_minor)
    for row in rows:
        if row.limit_name is not None:
            amounts[LimitName(row.limit_name)] = int(row.amount_usd_minor)
    return LevelLimits(kyc_level, amounts)


def lock_payer(conn: Connection, payer_id: str, payee_id: str | None = None) -> PayerStanding:
    """The payer's standing, their row locked until the transaction ends."""
    rows = conn.execute(_LOCK_PAYER, {"payer_id": payer_id, "payee_id": payee_id}).all()
    if not rows:
        raise LookupError(f"no user {payer_id}")
    first = rows[0]
    kyc_level = KycLevel(first.kyc_level)
    return PayerStanding(
        created_at=as_utc(first.created_at),
        kyc_level=kyc_level,
        frozen=first.frozen_at is not None,
        payee_frozen=first.payee_frozen_at is not None,
        limits=_limits_of_rows(kyc_level, rows),
    )


def sent_volume(
    conn: Connection, payer_id: str, *, now: datetime, rates: ExchangeRates, excluding_payment_id: str = ""
) -> dict[LimitName, int]:
    """What the payer sent in the last 24 hours and 30 days, in USD minor units (module
    docstring), leaving out `excluding_payment_id` (the payment being checked)."""
    rows = conn.execute(
        _SENT,
        {
            "payer_id": payer_id,
            "payment_id": excluding_payment_id,
            "since_24h": _window_start(now, LimitName.SENT_24H),
            "since_30d": _window_start(now, LimitName.SENT_30D),
        },
    ).all()
    return {
        LimitName.SENT_24H: _in_usd({row.currency: row.sent_24h for row in rows}, rates),
        LimitName.SENT_30D: _in_usd({row.currency: row.sent_30d for row in rows}, rates),
    }


def withdrawn_volume(conn: Connection, user_id: str, *, now: datetime, rates: ExchangeRates) -> int:
    """What the user withdrew in the last 24 hours (pending or paid out), in USD minor units."""
    rows = conn.execute(_WITHDRAWN, {"user_id": user_id, "since": _window_start(now, LimitName.WITHDRAWAL_24H)}).all()
    return _in_usd({row.currency: row.withdrawn for row in rows}, rates)


def limit_message(name: LimitName, limits: LevelLimits) -> str:
    """A refusal's message: the limit's name first (what a client may match), then for people."""
    amount = Money(limits.amount(name), REFERENCE_CURRENCY)
    return f"{name.value}: over the {name.label} of {amount} at KYC level {limits.kyc_level.value}"


def screen_payment(
    conn: Connection, payment: PaymentRequested, *, rates: ExchangeRates, ledger: LedgerStore, context: EventContext
) -> Screening:
    """Check a requested payment against the frozen accounts and the payer's limits, before
    fraud scoring; decline it (`account_frozen`, or `limit_exceeded` naming the limit) if one
    refuses it. Locks the payer's row (module docstring)."""
    payer = lock_payer(conn, payment.payer_id, payment.payee_id)
    if payer.frozen or payer.payee_frozen:
        return Screening(payer, _refuse(conn, payment.payment_id, FailureCode.ACCOUNT_FROZEN, None, ledger, context))
    amount_usd = reference_minor(payment.amount_minor, payment.currency, rates)
    exceeded = first_exceeded(amount_usd, {}, payer.limits, (LimitName.SINGLE_PAYMENT,))
    if exceeded is None:
        # Only a payment within the single limit needs the sum.
        used = sent_volume(
            conn, payment.payer_id, now=context.now, rates=rates, excluding_payment_id=payment.payment_id
        )
        exceeded = first_exceeded(amount_usd, used, payer.limits, PAYMENT_LIMITS)
    if exceeded is None:
        return Screening(payer, None)
    message = limit_message(exceeded, payer.limits)
    return Screening(payer, _refuse(conn, payment.payment_id, FailureCode.LIMIT_EXCEEDED, message, ledger, context))


def _refuse(
    conn: Connection,
    payment_id: str,
    code: FailureCode,
    message: str | None,
    ledger: LedgerStore,
    context: EventContext,
) -> list[str]:
    payment = lock_payment(conn, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING.value or payment.fraud_score is not None:
        return []  # scored already: a replayed event changes nothing
    return decline_payment(conn, payment_id, code=code, ledger=ledger, context=context, message=message)


def check_withdrawal(
    conn: Connection, *, user_id: str, amount_minor: int, currency: str, rates: ExchangeRates, now: datetime
) -> None:
    """Refuse a withdrawal from a frozen account (403 `account_frozen`) or over the user's
    `withdrawal_24h` (422 `limit_exceeded`). Locks the user's row, so that two withdrawals at
    once are counted one after the other (module docstring)."""
    standing = lock_payer(conn, user_id)
    if standing.frozen:
        raise ApiError.forbidden("account_frozen", "the account is frozen: it cannot send, withdraw or receive")
    used = {LimitName.WITHDRAWAL_24H: withdrawn_volume(conn, user_id, now=now, rates=rates)}
    amount_usd = reference_minor(amount_minor, currency, rates)
    exceeded = first_exceeded(amount_usd, used, standing.limits, (LimitName.WITHDRAWAL_24H,))
    if exceeded is not None:
        raise ApiError.invalid("limit_exceeded", limit_message(exceeded, standing.limits), "amount", status=422)


def level_limits(conn: Connection, kyc_level: KycLevel) -> LevelLimits:
    """The limits of one level, as the table holds them."""
    rows = conn.execute(sa.select(kyc_limits).where(kyc_limits.c.kyc_level == kyc_level.value)).all()
    return _limits_of_rows(kyc_level, rows)


def user_limits(conn: Connection, user_id: str, *, now: datetime, rates: ExchangeRates) -> UserLimitsResponse:
    """The limits of the user's level, what they used of each and what remains, in USD."""
    level_text = conn.execute(sa.select(users.c.kyc_level).where(users.c.id == user_id)).scalar()
    if level_text is None:
        raise ApiError.not_found("user_not_found", "the user does not exist")
    kyc_level = KycLevel(level_text)
    limits = level_limits(conn, kyc_level)
    used = {
        **sent_volume(conn, user_id, now=now, rates=rates),
        LimitName.WITHDRAWAL_24H: withdrawn_volume(conn, user_id, now=now, rates=rates),
    }
    return UserLimitsResponse(
        currency="USD",
        kyc_level=kyc_level.value,
        limits=[
            LimitUsageResponse(
                limit=item.name.value,
                amount=item.amount_usd_minor,
                used=item.used_usd_minor,
                remaining=item.remaining_usd_minor,
                window_seconds=item.name.window_seconds,
            )
            for item in usage(limits, used)
        ],
    )


def _admin_view(kyc_level: KycLevel, rows: Sequence[Any]) -> AdminLevelLimits:
    by_name = {LimitName(row.limit_name): row for row in rows}
    return AdminLevelLimits(
        kyc_level=kyc_level.value,
        currency="USD",
        limits=[
            AdminLimit(
                limit=name.value,
                amount=int(by_name[name].amount_usd_minor),
                window_seconds=name.window_seconds,
                updated_by=by_name[name].updated_by,
                updated_at=by_name[name].updated_at,
            )
            for name in LimitName
            if name in by_name
        ],
    )


def admin_limits(conn: Connection) -> list[AdminLevelLimits]:
    """Every level's limits as the table holds them, levels in KycLevel's order."""
    rows = conn.execute(sa.select(kyc_limits)).all()
    return [_admin_view(level, [row for row in rows if row.kyc_level == level.value]) for level in KycLevel]


def _parse(enum_type: Any, text: str, param: str, code: str) -> Any:
    try:
        return enum_type(text)
    except ValueError:
        known = ", ".join(member.value for member in enum_type)
        raise ApiError.not_found(code, f"{text!r} is not one of {known}", param) from None


def change_limit(
    conn: Connection,
    *,
    kyc_level: str,
    limit: str,
    amount_usd_minor: int,
    actor_id: str,
    reason: str,
    context: EventContext,
) -> tuple[AdminLevelLimits, list[str]]:
    """Set one limit of a level (an admin's change, audited as `limit.change` with the old and
    new amounts). The level's limits must still hold together (422 `limits_inconsistent`)."""
    level = _parse(KycLevel, kyc_level, "kyc_level", "kyc_level_not_found")
    name = _parse(LimitName, limit, "limit", "limit_not_found")
    rows = conn.execute(sa.select(kyc_limits).where(kyc_limits.c.kyc_level == level.value).with_for_update()).all()
    current = _limits_of_rows(level, rows)
    amounts = {**current.amounts_usd_minor, name: amount_usd_minor}
    problem = check_level_limits(amounts)
    if problem is not None:
        raise ApiError.invalid("limits_inconsistent", problem, "amount", status=422)
    previous = current.amount(name)
    stored = {row.limit_name for row in rows}
    values = {"amount_usd_minor": amount_usd_minor, "updated_by": actor_id, "updated_at": context.now}
    if name.value in stored:
        conn.execute(
            kyc_limits.update()
            .where(kyc_limits.c.kyc_level == level.value, kyc_limits.c.limit_name == name.value)
            .values(**values)
        )
    else:
        conn.execute(kyc_limits.insert().values(kyc_level=level.value, limit_name=name.value, **values))
    event_id = record_admin_action(
        conn, actor_id=actor_id, action="limit.change", target_id=f"{level.value}.{name.value}", context=context,
        reason=reason,
        details={"kyc_level": level.value, "limit": name.value, "from": str(previous), "to": str(amount_usd_minor)},
    )  # fmt: skip
    rows = conn.execute(sa.select(kyc_limits).where(kyc_limits.c.kyc_level == level.value)).all()
    return _admin_view(level, rows), [event_id]
