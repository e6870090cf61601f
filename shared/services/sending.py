"""What a payer must have shown before a payment is accepted, besides their balance and limits:

- an address not yet verified (shared.services.verification) sends at most
  `unverified_email_send_max_usd` in all, counting every payment it made that was not declined
  or did not fail: a 403 `email_unverified` beyond that;
- a payer with the second factor on (shared.services.mfa) sends more than
  `mfa_payment_above_usd` in one payment only with a current code in the body's `otp`: a 403
  `mfa_required` without one, a 403 `invalid_otp` with a wrong or spent one.

Amounts are compared in USD at the newest reference rates (shared.domain.fx.reference_minor),
as the limits are. Checked when a payment is created (`POST /v1/payments`, and paying a
request), in its transaction: a code is spent only when the payment is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.tables import payments, users
from shared.domain.fx import ExchangeRates, reference_minor
from shared.domain.money import Money
from shared.domain.payment import PaymentStatus
from shared.http import ApiError
from shared.services import mfa

__all__ = ["SendingChecks", "check_sending"]

# The payments that never moved money: they do not count toward what an account sent.
_NOT_SENT = (PaymentStatus.DECLINED.value, PaymentStatus.FAILED.value)
_SENT_BY_CURRENCY = (
    sa.select(payments.c.currency, sa.func.sum(payments.c.amount_minor).label("sent"))
    .where(payments.c.payer_id == sa.bindparam("payer_id"), payments.c.status.not_in(_NOT_SENT))
    .group_by(payments.c.currency)
)
_CENTS_PER_DOLLAR = 100


@dataclass(frozen=True)
class SendingChecks:
    """What the checks need: the rates, the thresholds (whole USD), the payer's code if they
    gave one, the key that opens second-factor secrets, and the time."""

    rates: ExchangeRates
    mfa_payment_above_usd: int
    unverified_send_max_usd: int
    otp: str | None
    key: mfa.SecondFactorKey
    now: datetime


def _sent_usd_minor(conn: Connection, payer_id: str, rates: ExchangeRates) -> int:
    rows = conn.execute(_SENT_BY_CURRENCY, {"payer_id": payer_id}).all()
    return sum(reference_minor(int(row.sent), row.currency, rates) for row in rows if row.sent)


def check_sending(conn: Connection, payer_id: str, amount: Money, checks: SendingChecks) -> None:
    """Refuse (403) a payment of `amount` the payer may not make now (module docstring)."""
    payer = conn.execute(sa.select(users).where(users.c.id == payer_id)).first()
    if payer is None:
        raise ApiError.not_found("user_not_found", "the user does not exist")
    amount_usd_minor = reference_minor(amount.amount_minor, amount.currency, checks.rates)
    if payer.email_verified_at is None:
        allowed = checks.unverified_send_max_usd * _CENTS_PER_DOLLAR
        if _sent_usd_minor(conn, payer_id, checks.rates) + amount_usd_minor > allowed:
            raise ApiError.forbidden(
                "email_unverified",
                f"verify your e-mail address to send more than {checks.unverified_send_max_usd} USD "
                "(POST /v1/users/me/email/verify with the code we e-mailed you)",
            )
    if mfa.is_enabled(payer) and amount_usd_minor > checks.mfa_payment_above_usd * _CENTS_PER_DOLLAR:
        if not checks.otp:
            raise ApiError.forbidden(
                "mfa_required",
                f"a payment above {checks.mfa_payment_above_usd} USD needs your second-factor code as otp",
            )
        if not mfa.verify_second_factor(conn, payer, checks.otp, key=checks.key, now=checks.now):
            raise ApiError.forbidden("invalid_otp", "the second-factor code is not valid, or was used already")
