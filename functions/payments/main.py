"""payments: send money (accepted at once, carried out by the saga) and read its status."""

from __future__ import annotations

import flask
import functions_framework

from schemas.api import PaymentRequest, PaymentResponse
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.entrypoint import caller, client_router, correlation_id, respond_once
from shared.http import parse_json
from shared.services.payments import EventContext, create_payment, payment_for_user

router = client_router("payments")


def _response(row) -> dict:
    return PaymentResponse.model_validate(
        {**row._mapping, "amount": row.amount_minor}
    ).model_dump(mode="json")


@router.route("POST", "/v1/payments")
def send(request: flask.Request):
    principal = caller(request)
    body = parse_json(request, PaymentRequest)
    now = utc_now()
    context = EventContext(producer="payments", now=now, correlation_id=correlation_id())

    def execute(conn):
        row, event_ids = create_payment(conn, payer_id=principal.user_id, request=body, context=context)
        return 202, _response(row), event_ids

    return respond_once(request, principal, body, execute, now=now)


@router.route("GET", "/v1/payments/<payment_id>")
def status(request: flask.Request, payment_id: str):
    principal = caller(request)
    with platform().reader.connect() as conn:
        row = payment_for_user(conn, payment_id, principal.user_id)
    return 200, _response(row)


@functions_framework.http
def payments(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
