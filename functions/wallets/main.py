"""wallets: balances per currency, and top-ups from a card."""

from __future__ import annotations

import flask
import functions_framework

from schemas.api import TopupRequest, TopupResponse, WalletList, WalletResponse
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.entrypoint import caller, client_router, correlation_id, respond_once
from shared.http import parse_json
from shared.services.payments import EventContext
from shared.services.topups import create_topup

router = client_router("wallets")


@router.route("GET", "/v1/wallets")
def list_wallets(request: flask.Request):
    principal = caller(request)
    runtime = platform()
    with runtime.reader.connect() as conn:
        wallets = runtime.ledger.wallets_of(conn, principal.user_id)
    data = [
        # `pending` is what payments in flight hold back from `available`.
        WalletResponse(currency=w.currency, available=w.available, pending=w.debits_pending)
        for w in wallets
    ]
    return 200, WalletList(data=data, has_more=False)


@router.route("POST", "/v1/topups")
def topup(request: flask.Request):
    principal = caller(request)
    body = parse_json(request, TopupRequest)
    runtime = platform()
    now = utc_now()
    context = EventContext(producer="wallets", now=now, correlation_id=correlation_id())

    def execute(conn):
        row, event_ids = create_topup(
            conn,
            user_id=principal.user_id,
            request=body,
            gateway=runtime.gateway,
            ledger=runtime.ledger,
            topup_max_major=runtime.settings.topup_max_major,
            context=context,
        )
        if row.status == "succeeded":
            response = TopupResponse.model_validate({**row._mapping, "amount": row.amount_minor})
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


@functions_framework.http
def wallets(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
