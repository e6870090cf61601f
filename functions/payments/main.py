"""payments: send money (accepted at once, carried out by the saga) and read its status."""

from __future__ import annotations

import flask
import functions_framework

from schemas.api import PaymentRequest, PaymentResponse
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import publish_after_commit
from shared.entrypoint import caller, client_router, correlation_id
from shared.http import idempotency_key, parse_json
from shared.services.idempotency import request_fingerprint, run_once
from shared.services.payments import EventContext, create_payment, payment_for_user

router = client_router("payments")


def _response(row) -> dict:
    return PaymentResponse.model_validate(
        {**row._mapping, "amount": row.amount_minor}
    ).model_dump(mode="json")


@router.route("POST", "/v1/payments")
def send(request: flask.Request):
    principal = caller(request)
    key = idempotency_key(request)
    body = parse_json(request, PaymentRequest)
    runtime = platform()
    now = utc_now()
    context = EventContext(producer="payments", now=now, correlation_id=correlation_id())

    def execute(conn):
        row, event_ids = create_payment(conn, payer_id=principal.user_id, request=body, context=context)
        return 202, _response(row), event_ids

    status, response, event_ids = run_once(
        runtime.engine,
        user_id=principal.user_id,
        key=key,
        fingerprint=request_fingerprint("POST", "/v1/payments", body.model_dump(mode="json")),
        now=now,
        execute=execute,
    )
    publish_after_commit(runtime, event_ids)
    return status, response


@router.route("GET", "/v1/payments/<payment_id>")
def status(request: flask.Request, payment_id: str):
    principal = caller(request)
    with platform().reader.connect() as conn:
        row = payment_for_user(conn, payment_id, principal.user_id)
    return 200, _response(row)


@functions_framework.http
def payments(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
