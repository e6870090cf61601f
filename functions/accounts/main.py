"""accounts: funding sources (cards tokenized by the sandbox gateway, bank accounts)."""

from __future__ import annotations

from typing import Any

import flask
import functions_framework
import sqlalchemy as sa

from schemas.api import (
    CardFundingSourceRequest,
    FundingSourceList,
    FundingSourceResponse,
)
from schemas.events import FundingSourceAdded
from schemas.routes import accounts as routes
from shared.adapters.card_gateway import CardRejected
from shared.adapters.outbox import record_event
from shared.adapters.tables import funding_sources
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import publish_after_commit
from shared.entrypoint import client_router, correlation_id
from shared.http import ApiError, Principal
from shared.ids import new_id

FUNDING_SOURCES_PER_USER_MAX = 20

router = client_router(routes.ROUTES)


@router.handles(routes.ADD_FUNDING_SOURCE)
def add_funding_source(request: flask.Request, principal: Principal, body):
    runtime = platform()
    now = utc_now()
    source_id = new_id("fs")
    with runtime.engine.begin() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(funding_sources.c.user_id == principal.user_id)
        ).scalar_one()
        if count >= FUNDING_SOURCES_PER_USER_MAX:
            raise ApiError.invalid("funding_source_limit", f"at most {FUNDING_SOURCES_PER_USER_MAX} funding sources")
        if isinstance(body, CardFundingSourceRequest):
            try:
                card = runtime.gateway.tokenize_card(
                    conn, number=body.number, exp_month=body.exp_month, exp_year=body.exp_year, now=now
                )
            except CardRejected as rejected:
                raise ApiError(402, "card_error", rejected.code, rejected.message, rejected.param) from None
            values: dict[str, Any] = dict(
                type="card",
                brand=card.brand,
                last4=card.last4,
                exp_month=body.exp_month,
                exp_year=body.exp_year,
                gateway_token=card.token,
            )
        else:
            account = runtime.gateway.tokenize_bank_account(
                conn, routing_number=body.routing_number, account_number=body.account_number, now=now
            )
            values = dict(type="bank_account", brand=None, last4=account.last4, gateway_token=account.token)
        conn.execute(funding_sources.insert().values(id=source_id, user_id=principal.user_id, created_at=now, **values))
        event_id = record_event(
            conn,
            event_type="funding_source.added",
            source_function="accounts",
            subject=source_id,
            sequence=1,
            payload=FundingSourceAdded(
                funding_source_id=source_id,
                user_id=principal.user_id,
                type=values["type"],
                brand=values["brand"],
                last4=values["last4"],
            ),
            now=now,
            correlation_id=correlation_id(),
        )
        row = conn.execute(sa.select(funding_sources).where(funding_sources.c.id == source_id)).one()
    publish_after_commit(runtime, [event_id])
    return 201, FundingSourceResponse.model_validate(row, from_attributes=True)


@router.handles(routes.LIST_FUNDING_SOURCES)
def list_funding_sources(request: flask.Request, principal: Principal):
    with platform().reader.connect() as conn:
        rows = conn.execute(
            sa.select(funding_sources)
            .where(funding_sources.c.user_id == principal.user_id)
            .order_by(funding_sources.c.created_at.desc(), funding_sources.c.id.desc())
            .limit(FUNDING_SOURCES_PER_USER_MAX)
        ).all()
    data = [FundingSourceResponse.model_validate(row, from_attributes=True) for row in rows]
    return 200, FundingSourceList(data=data, has_more=False)


@functions_framework.http
def accounts(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
