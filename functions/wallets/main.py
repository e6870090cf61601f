"""wallets: balances per currency, top-ups from a card, conversions between currencies and
withdrawals to a bank account."""

from __future__ import annotations

import flask
import functions_framework

from schemas.api import (
    ConversionQuoteResponse,
    ConversionResponse,
    TopupResponse,
    WalletList,
    WithdrawalResponse,
)
from schemas.routes import wallets as routes
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.entrypoint import client_router, correlation_id, respond_once
from shared.http import Principal, response_of_row
from shared.services import conversions, withdrawals
from shared.services.balances import wallet_balances
from shared.services.context import EventContext
from shared.services.topups import create_topup

router = client_router(routes.ROUTES)


def _context(now) -> EventContext:
    return EventContext(producer="wallets", now=now, correlation_id=correlation_id())


@router.handles(routes.LIST_WALLETS)
def list_wallets(request: flask.Request, principal: Principal):
    runtime = platform()
    with runtime.reader.connect() as conn:
        data = wallet_balances(conn, principal.user_id, ledger=runtime.ledger)
    return 200, WalletList(data=data, has_more=False)


@router.handles(routes.TOPUP)
def topup(request: flask.Request, principal: Principal, body):
    runtime = platform()
    now = utc_now()
    context = _context(now)

    def execute(conn):
        row, event_ids = create_topup(
            conn,
            user_id=principal.user_id,
            request=body,
            gateway=runtime.gateway,
            privacy=runtime.privacy,
            ledger=runtime.ledger,
            topup_max_major=runtime.settings.topup_max_major,
            context=context,
        )
        if row.status == "succeeded":
            response = response_of_row(TopupResponse, row)
            return 201, response.model_dump(mode="json"), event_ids
        error = {
            "error": {
                "type": "card_error",
                "code": row.decline_code,
                "message": "the card was declined; nothing was charged",
                "param": "funding_source_id",
            }
        }
        return 402, error, event_ids

    return respond_once(request, principal, body, execute, now=now)


@router.handles(routes.CREATE_QUOTE)
def create_quote(request: flask.Request, principal: Principal, body):
    runtime = platform()
    with runtime.engine.begin() as conn:
        row = conversions.create_quote(
            conn,
            user_id=principal.user_id,
            request=body,
            rates=runtime.fx_rates,
            policy=conversions.FxPolicy.from_settings(runtime.settings),
            context=_context(utc_now()),
        )
    return 201, ConversionQuoteResponse.model_validate(conversions.quote_view(row))


@router.handles(routes.CONVERT)
def convert(request: flask.Request, principal: Principal, body):
    runtime = platform()
    now = utc_now()

    def execute(conn):
        row, event_ids = conversions.execute_conversion(
            conn,
            user_id=principal.user_id,
            request=body,
            ledger=runtime.ledger,
            rates=runtime.fx_rates,
            policy=conversions.FxPolicy.from_settings(runtime.settings),
            context=_context(now),
        )
        if row.status == "completed":
            response = ConversionResponse.model_validate(conversions.conversion_view(row))
            return 201, response.model_dump(mode="json"), event_ids
        error = {
            "error": {
                "type": "invalid_request_error",
                "code": row.failure_code,
                "message": f"the {row.from_currency} wallet's available balance is below the "
                f"amount; nothing was converted (conversion {row.id})",
                "param": "amount",
            }
        }
        return 402, error, event_ids

    return respond_once(request, principal, body, execute, now=now)


@router.handles(routes.GET_CONVERSION)
def get_conversion(request: flask.Request, principal: Principal, conversion_id: str):
    with platform().reader.connect() as conn:
        row = conversions.conversion_for_user(conn, conversion_id, principal.user_id)
    return 200, ConversionResponse.model_validate(conversions.conversion_view(row))


def _withdrawal(row) -> WithdrawalResponse:
    return response_of_row(WithdrawalResponse, row)


@router.handles(routes.WITHDRAW)
def withdraw(request: flask.Request, principal: Principal, body):
    runtime = platform()
    now = utc_now()

    def execute(conn):
        row, event_ids = withdrawals.create_withdrawal(
            conn,
            user_id=principal.user_id,
            request=body,
            ledger=runtime.ledger,
            timeout_seconds=runtime.settings.withdrawal_reservation_timeout_seconds,
            rates=runtime.fx_rates.current(),
            context=_context(now),
        )
        return 202, _withdrawal(row).model_dump(mode="json"), event_ids

    return respond_once(request, principal, body, execute, now=now)


@router.handles(routes.GET_WITHDRAWAL)
def get_withdrawal(request: flask.Request, principal: Principal, withdrawal_id: str):
    with platform().reader.connect() as conn:
        row = withdrawals.withdrawal_for_user(conn, withdrawal_id, principal.user_id)
    return 200, _withdrawal(row)


@functions_framework.http
def wallets(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
