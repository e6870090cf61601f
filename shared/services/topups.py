"""Top-ups: money enters a wallet from a card, through the gateway, in one transaction.

A declined charge is recorded too (a `declined` top-up and its event), so the client's
Idempotency-Key replays the decline rather than charging again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.api import TopupRequest
from schemas.events import TopupDeclined, TopupSucceeded
from shared.adapters.card_gateway import SandboxGateway
from shared.adapters.ledger_store import LedgerStore, system_account_id, wallet_account_id
from shared.adapters.tables import topups
from shared.domain.ledger import Transfer, TransferOutcome
from shared.domain.money import currency_exponent
from shared.http import ApiError
from shared.ids import new_id
from shared.privacy import PersonalDataVault
from shared.services.checks import require_at_most, require_currency, require_funding_source
from shared.services.context import EventContext

__all__ = ["create_topup"]


def create_topup(
    conn: Connection,
    *,
    user_id: str,
    request: TopupRequest,
    gateway: SandboxGateway,
    privacy: PersonalDataVault,
    ledger: LedgerStore,
    topup_max_major: int,
    context: EventContext,
) -> tuple[Any, list[str]]:
    """Charge the card and credit the wallet, or record the decline. Returns the top-up row."""
    require_currency(request.currency)
    require_at_most(
        request.amount,
        topup_max_major * 10 ** currency_exponent(request.currency),
        f"the top-up limit of {topup_max_major} {request.currency}",
    )
    source = require_funding_source(
        conn,
        user_id=user_id,
        funding_source_id=request.funding_source_id,
        kind="card",
        refusal=("funding_source_not_a_card", "top-ups are charged to a card"),
    )
    now = context.now
    topup_id = new_id("top")
    token = privacy.open(conn, user_id, "funding_sources.gateway_token", source.gateway_token)
    if token is None:
        raise ApiError.not_found("funding_source_not_found", "no funding source has this id", "funding_source_id")
    charge = gateway.charge(conn, token=token, amount_minor=request.amount, currency=request.currency)
    fields = dict(
        topup_id=topup_id,
        user_id=user_id,
        funding_source_id=source.id,
        amount_minor=request.amount,
        currency=request.currency,
    )
    if charge.approved:
        ledger.ensure_system_accounts(conn, request.currency, now)
        ledger.ensure_wallet(conn, user_id, request.currency, now)
        outcome = ledger.create_transfer(
            conn,
            Transfer(
                id=f"{topup_id}:fund",
                debit_account_id=system_account_id(request.currency, "funding"),
                credit_account_id=wallet_account_id(user_id, request.currency),
                amount_minor=request.amount,
                currency=request.currency,
            ),
            now,
        )
        if outcome is not TransferOutcome.OK:
            raise RuntimeError(f"top-up {topup_id}: funding transfer was {outcome.value}")
        status, event_type = "succeeded", "topup.succeeded"
        payload: TopupSucceeded | TopupDeclined = TopupSucceeded(**fields)
    else:
        if charge.decline_code is None:
            raise RuntimeError(f"top-up {topup_id}: the gateway declined without a decline code")
        status, event_type = "declined", "topup.declined"
        payload = TopupDeclined(**fields, decline_code=charge.decline_code)
    conn.execute(
        topups.insert().values(
            id=topup_id,
            user_id=user_id,
            funding_source_id=source.id,
            amount_minor=request.amount,
            currency=request.currency,
            status=status,
            decline_code=charge.decline_code,
            created_at=now,
        )
    )
    event_id = context.record(conn, event_type=event_type, subject=topup_id, payload=payload)
    row = conn.execute(sa.select(topups).where(topups.c.id == topup_id)).one()
    return row, [event_id]
