"""Currency conversions between one user's wallets: quotes, and conversions at a quoted or the
current rate.

A conversion of `amount` from currency A to currency B moves, in one database transaction:

    wallet(user, A) → fx(A)      amount               (the platform's FX desk buys A)
    fx(B)           → wallet(user, B)  received       (and sells B at the customer rate)
    fx(B)           → fees(B)          fee            (the spread and the rounding remainder)

The amounts follow shared.domain.fx's rounding rule. The transfers are one LINKED chain of the
ledger (`create_transfers`): they succeed or fail together. A refused wallet debit (insufficient
funds) records a failed conversion with nothing moved; any other refusal can only be a bug and
rolls the whole transaction back.

Rates come from the FX rates file; a conversion is refused (503 `fx_rates_stale`) when the
rates it would use are older than the configured bounds. A quote fixes the rate and amounts for
`fx_quote_ttl_seconds` and is honoured once; executing it later is a 400 `quote_expired`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.api import ConversionQuoteRequest, ConversionRequest
from schemas.events import ConversionCompleted, ConversionFailed
from shared.adapters.database import as_utc
from shared.adapters.fx_rates import FxRatesInvalid, RatesSource
from shared.adapters.ledger_store import LedgerStore, system_account_id, wallet_account_id
from shared.adapters.tables import conversions, fx_quotes
from shared.domain.fx import (
    ConversionAmounts,
    ExchangeRates,
    FxRateMissing,
    convert,
    customer_rate,
    rate_text,
    rates_age_days,
)
from shared.domain.ledger import Transfer, TransferFlags, TransferOutcome
from shared.http import ApiError
from shared.ids import new_id
from shared.services.checks import MOVE_AMOUNT_MINOR_MAX, require_at_most, require_currency
from shared.services.context import EventContext, read_row
from shared.settings import Settings

__all__ = [
    "FxPolicy",
    "conversion_for_user",
    "conversion_view",
    "create_quote",
    "execute_conversion",
    "quote_view",
]


@dataclass(frozen=True)
class FxPolicy:
    """The rules a conversion follows: the spread, how long a quote lives, how old rates may be."""

    spread_basis_points: int
    quote_ttl_seconds: int
    rates_max_age_days: int
    pegs_max_age_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> FxPolicy:
        return cls(
            spread_basis_points=settings.fx_spread_basis_points,
            quote_ttl_seconds=settings.fx_quote_ttl_seconds,
            rates_max_age_days=settings.fx_rates_max_age_days,
            pegs_max_age_days=settings.fx_pegs_max_age_days,
        )


def _exact(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}"


def _priced(amounts: ConversionAmounts, spread_bps: int, published_on: date) -> dict[str, Any]:
    """The columns a quote and a conversion both store: what is converted, at which rates."""
    return {
        "from_currency": amounts.from_currency,
        "to_currency": amounts.to_currency,
        "amount_minor": amounts.amount_minor,
        "receive_minor": amounts.receive_minor,
        "fee_minor": amounts.fee_minor,
        "mid_rate": _exact(amounts.mid_rate),
        "spread_basis_points": spread_bps,
        "rates_published_on": published_on,
    }


def _check_pair(from_currency: str, to_currency: str) -> None:
    require_currency(from_currency, "from_currency")
    require_currency(to_currency, "to_currency")
    if from_currency == to_currency:
        raise ApiError.invalid("same_currency", "a conversion needs two different currencies", "to_currency")


def _fresh_rates(source: RatesSource, policy: FxPolicy, pair: tuple[str, str], context: EventContext) -> ExchangeRates:
    """The current rates, or a 503 when they cannot be used (unreadable, or too old)."""
    try:
        rates = source.current()
    except FxRatesInvalid as error:
        raise ApiError(503, "api_error", "fx_rates_unavailable", str(error)) from None
    today = context.now.date()
    pegged = any(rates.is_pegged(currency) for currency in pair)
    ecb_age_days = rates_age_days(rates, today, pegged=False)
    if ecb_age_days > policy.rates_max_age_days or (
        pegged and rates_age_days(rates, today, pegged=True) > policy.pegs_max_age_days
    ):
        raise ApiError(
            503,
            "api_error",
            "fx_rates_stale",
            f"the FX rates were published on {rates.published_on} (pegs reviewed on "
            f"{rates.pegs_reviewed_on}), older than conversions accept; they resume once the "
            "rates are refreshed",
        )
    return rates


def _amounts(
    rates: ExchangeRates, from_currency: str, to_currency: str, amount_minor: int, policy: FxPolicy
) -> ConversionAmounts:
    require_at_most(amount_minor, MOVE_AMOUNT_MINOR_MAX, "the conversion limit")
    try:
        mid = rates.mid_rate(from_currency, to_currency)
    except FxRateMissing as error:
        raise ApiError(503, "api_error", "fx_rate_missing", str(error)) from None
    amounts = convert(amount_minor, from_currency, to_currency, mid_rate=mid, spread_bps=policy.spread_basis_points)
    if amounts.receive_minor < 1:
        raise ApiError.invalid(
            "amount_too_small",
            f"{amount_minor} minor units of {from_currency} buy less than one minor unit of {to_currency}",
            "amount",
        )
    return amounts


def create_quote(
    conn: Connection,
    *,
    user_id: str,
    request: ConversionQuoteRequest,
    rates: RatesSource,
    policy: FxPolicy,
    context: EventContext,
) -> Any:
    """Price a conversion and store the offer; returns the fx_quotes row."""
    pair = (request.from_currency, request.to_currency)
    _check_pair(*pair)
    current = _fresh_rates(rates, policy, pair, context)
    amounts = _amounts(current, *pair, request.amount, policy)
    quote_id = new_id("fxq")
    conn.execute(
        fx_quotes.insert().values(
            id=quote_id,
            user_id=user_id,
            **_priced(amounts, policy.spread_basis_points, current.published_on),
            created_at=context.now,
            expires_at=context.now + timedelta(seconds=policy.quote_ttl_seconds),
        )
    )
    return conn.execute(sa.select(fx_quotes).where(fx_quotes.c.id == quote_id)).one()


def _claim_quote(conn: Connection, *, user_id: str, quote_id: str, context: EventContext) -> Any:
    quote = read_row(conn, fx_quotes, quote_id, lock=True)
    if quote is None or quote.user_id != user_id:
        raise ApiError.not_found("quote_not_found", "no such quote", "quote_id")
    if quote.conversion_id is not None:
        raise ApiError.invalid(
            "quote_already_used", f"the quote was used by {quote.conversion_id}", "quote_id", status=409
        )
    if as_utc(quote.expires_at) <= context.now:
        raise ApiError.invalid("quote_expired", "the quote has expired: ask for a new one", "quote_id")
    return quote


def _quoted_amounts(quote: Any) -> ConversionAmounts:
    """The quote's conversion at its rates, paying what the quote promised."""
    amounts = convert(
        quote.amount_minor,
        quote.from_currency,
        quote.to_currency,
        mid_rate=Fraction(quote.mid_rate),
        spread_bps=quote.spread_basis_points,
    )
    return replace(amounts, receive_minor=quote.receive_minor, fee_minor=quote.fee_minor)


def _move(
    conn: Connection,
    ledger: LedgerStore,
    *,
    user_id: str,
    conversion_id: str,
    amounts: ConversionAmounts,
    context: EventContext,
) -> TransferOutcome:
    """The conversion's transfers as one LINKED chain: all or nothing. Returns OK, or the
    wallet debit's refusal (nothing moved)."""
    now = context.now
    source, target = amounts.from_currency, amounts.to_currency
    wallet = ledger.get_account(conn, wallet_account_id(user_id, source))
    if wallet is None or wallet.available < amounts.amount_minor:
        # Refused before a target wallet is opened for nothing; the chain below decides for
        # good, under the ledger's locks.
        return TransferOutcome.INSUFFICIENT_FUNDS
    ledger.ensure_system_accounts(conn, source, now)
    ledger.ensure_system_accounts(conn, target, now)
    ledger.ensure_wallet(conn, user_id, target, now)
    legs = [
        Transfer(
            id=f"{conversion_id}:from",
            debit_account_id=wallet_account_id(user_id, source),
            credit_account_id=system_account_id(source, "fx"),
            amount_minor=amounts.amount_minor,
            currency=source,
        ),
        Transfer(
            id=f"{conversion_id}:to",
            debit_account_id=system_account_id(target, "fx"),
            credit_account_id=wallet_account_id(user_id, target),
            amount_minor=amounts.receive_minor,
            currency=target,
        ),
    ]
    if amounts.fee_minor > 0:
        legs.append(
            Transfer(
                id=f"{conversion_id}:fee",
                debit_account_id=system_account_id(target, "fx"),
                credit_account_id=system_account_id(target, "fees"),
                amount_minor=amounts.fee_minor,
                currency=target,
            )
        )
    # Every transfer but the last links to the next: the chain succeeds or fails as a whole.
    chain = [replace(leg, flags=TransferFlags.LINKED) for leg in legs[:-1]] + legs[-1:]
    outcomes = ledger.create_transfers(conn, chain, now)
    if all(outcome is TransferOutcome.OK for outcome in outcomes):
        return TransferOutcome.OK
    if outcomes[0] in (TransferOutcome.INSUFFICIENT_FUNDS, TransferOutcome.DEBIT_ACCOUNT_NOT_FOUND):
        return outcomes[0]
    # The FX and fee accounts have no floor and the ids are fresh: only a bug refuses these.
    raise RuntimeError(f"conversion {conversion_id}: the chain was refused: {[outcome.value for outcome in outcomes]}")


def execute_conversion(
    conn: Connection,
    *,
    user_id: str,
    request: ConversionRequest,
    ledger: LedgerStore,
    rates: RatesSource,
    policy: FxPolicy,
    context: EventContext,
) -> tuple[Any, list[str]]:
    """Convert at the quoted rate (`quote_id`) or the current one. Returns the conversion row,
    `completed` or `failed` (insufficient funds: nothing moved), and the event recorded."""
    conversion_id = new_id("cnv")
    quote = None
    if request.quote_id is not None:
        quote = _claim_quote(conn, user_id=user_id, quote_id=request.quote_id, context=context)
        amounts = _quoted_amounts(quote)
        spread_bps, published_on = quote.spread_basis_points, quote.rates_published_on
    else:
        from_currency, to_currency, amount = request.from_currency, request.to_currency, request.amount
        if from_currency is None or to_currency is None or amount is None:
            # ConversionRequest's validator requires all three when there is no quote.
            raise RuntimeError(f"conversion {conversion_id}: no quote, yet not both currencies and the amount")
        pair = (from_currency, to_currency)
        _check_pair(*pair)
        current = _fresh_rates(rates, policy, pair, context)
        amounts = _amounts(current, *pair, amount, policy)
        spread_bps, published_on = policy.spread_basis_points, current.published_on
    outcome = _move(conn, ledger, user_id=user_id, conversion_id=conversion_id, amounts=amounts, context=context)
    if outcome is TransferOutcome.OK:
        status, failure_code = "completed", None
    elif outcome in (TransferOutcome.INSUFFICIENT_FUNDS, TransferOutcome.DEBIT_ACCOUNT_NOT_FOUND):
        # No wallet in the source currency holds nothing to convert.
        status, failure_code = "failed", "insufficient_funds"
    else:
        raise RuntimeError(f"conversion {conversion_id}: the wallet debit was {outcome.value}")
    if quote is not None and status == "completed":
        # A failed conversion leaves the quote usable: the user may top up and try again in time.
        conn.execute(fx_quotes.update().where(fx_quotes.c.id == quote.id).values(conversion_id=conversion_id))
    conn.execute(
        conversions.insert().values(
            id=conversion_id,
            user_id=user_id,
            quote_id=quote.id if quote is not None else None,
            **_priced(amounts, spread_bps, published_on),
            status=status,
            failure_code=failure_code,
            created_at=context.now,
        )
    )
    common: dict[str, Any] = dict(
        conversion_id=conversion_id,
        user_id=user_id,
        quote_id=quote.id if quote is not None else None,
        from_currency=amounts.from_currency,
        to_currency=amounts.to_currency,
        amount_minor=amounts.amount_minor,
    )
    if failure_code is None:
        event_type = "conversion.completed"
        payload: Any = ConversionCompleted(
            **common,
            receive_minor=amounts.receive_minor,
            fee_minor=amounts.fee_minor,
            mid_rate=_exact(amounts.mid_rate),
            spread_basis_points=spread_bps,
        )
    else:
        event_type, payload = "conversion.failed", ConversionFailed(**common, failure_code=failure_code)
    event_id = context.record(conn, event_type=event_type, subject=conversion_id, payload=payload)
    row = conn.execute(sa.select(conversions).where(conversions.c.id == conversion_id)).one()
    return row, [event_id]


def conversion_for_user(conn: Connection, conversion_id: str, user_id: str) -> Any:
    """The user's conversion, or a 404 (also for another user's)."""
    row = conn.execute(
        sa.select(conversions).where(conversions.c.id == conversion_id, conversions.c.user_id == user_id)
    ).first()
    if row is None:
        raise ApiError.not_found("conversion_not_found", "no such conversion", "conversion_id")
    return row


def _rates_view(row: Any) -> dict[str, Any]:
    mid = Fraction(row.mid_rate)
    return {
        "amount": row.amount_minor,
        "receive_amount": row.receive_minor,
        "fee": row.fee_minor,
        "fee_currency": row.to_currency,
        "rate": rate_text(customer_rate(mid, row.spread_basis_points)),
        "mid_rate": rate_text(mid),
        "rates_published_on": row.rates_published_on.isoformat(),
    }


def quote_view(row: Any) -> dict[str, Any]:
    """The fields of a ConversionQuoteResponse."""
    return {**row._mapping, **_rates_view(row)}


def conversion_view(row: Any) -> dict[str, Any]:
    """The fields of a ConversionResponse."""
    return {**row._mapping, **_rates_view(row)}
