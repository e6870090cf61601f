"""The checks that several use cases make of a request before they move money."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.tables import funding_sources, users
from shared.domain.money import is_supported_currency
from shared.http import ApiError

__all__ = [
    "MOVE_AMOUNT_MINOR_MAX",
    "require_at_most",
    "require_currency",
    "require_funding_source",
    "require_not_frozen",
    "require_payee_not_frozen",
]

# The most one payment, payment request, conversion or withdrawal may move, in minor units.
MOVE_AMOUNT_MINOR_MAX = 10**12


def require_currency(currency: str, param: str = "currency") -> None:
    """A 400 `currency_not_supported` unless Paystream holds wallets in `currency`."""
    if not is_supported_currency(currency):
        raise ApiError.invalid("currency_not_supported", f"{currency} is not a supported currency", param)


def require_at_most(amount_minor: int, maximum_minor: int, limit: str) -> None:
    """A 400 `amount_too_large` when `amount_minor` is above `maximum_minor`; `limit` says which."""
    if amount_minor > maximum_minor:
        raise ApiError.invalid("amount_too_large", f"the amount is above {limit}", "amount")


def require_funding_source(
    conn: Connection, *, user_id: str, funding_source_id: str, kind: str, refusal: tuple[str, str]
) -> Any:
    """The user's funding source of that id and `kind` (`card` or `bank_account`): a 404 when the
    user has none of that id, a 400 with `refusal` (code, message) when it is of another kind."""
    source = conn.execute(
        sa.select(funding_sources).where(
            funding_sources.c.id == funding_source_id, funding_sources.c.user_id == user_id
        )
    ).first()
    if source is None:
        raise ApiError.not_found("funding_source_not_found", "no such funding source", "funding_source_id")
    if source.type != kind:
        code, message = refusal
        raise ApiError.invalid(code, message, "funding_source_id")
    return source


# Built once: every payment and request asks it of its sender.
_FROZEN_AT = sa.select(users.c.frozen_at).where(users.c.id == sa.bindparam("user_id"))


def require_not_frozen(conn: Connection, user_id: str) -> None:
    """A 403 `account_frozen` if the user's account is frozen: it cannot send or withdraw."""
    if conn.execute(_FROZEN_AT, {"user_id": user_id}).scalar() is not None:
        raise ApiError.forbidden("account_frozen", "the account is frozen: it cannot send, withdraw or receive")


def require_payee_not_frozen(payee: Any) -> None:
    """A 403 `account_frozen` if the payee's account (its users row) is frozen: it cannot receive."""
    if payee.frozen_at is not None:
        raise ApiError.forbidden("account_frozen", "the payee's account is frozen: it cannot receive money")
