"""payments: send money (accepted at once, carried out by the saga), read its status, refund it,
and request money from someone else."""

from __future__ import annotations

import flask
import functions_framework

from schemas.api import (
    PaymentRequestList,
    PaymentRequestResponse,
    PaymentResponse,
    RefundList,
    RefundResponse,
)
from schemas.routes import payments as routes
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.domain.payment_request import Action
from shared.entrypoint import client_router, correlation_id, respond_once
from shared.http import Principal, response_of_row
from shared.services import payment_requests, refunds
from shared.services.context import EventContext
from shared.services.mfa import SecondFactorKey
from shared.services.payments import create_payment, pay_request, payment_seen_by
from shared.services.sending import SendingChecks

router = client_router(routes.ROUTES)


def _payment(row) -> dict:
    return response_of_row(PaymentResponse, row).model_dump(mode="json")


def _refund(row) -> dict:
    return response_of_row(RefundResponse, row).model_dump(mode="json")


def _payment_request(row) -> dict:
    return response_of_row(PaymentRequestResponse, row).model_dump(mode="json")


def _context(now) -> EventContext:
    return EventContext(producer="payments", now=now, correlation_id=correlation_id())


def _sending_checks(otp: str | None, now) -> SendingChecks:
    """What a client's payment is checked for besides the saga's limits: an unverified address
    and the second factor (shared.services.sending)."""
    runtime = platform()
    return SendingChecks(
        rates=runtime.fx_rates.current(),
        mfa_payment_above_usd=runtime.settings.mfa_payment_above_usd,
        unverified_send_max_usd=runtime.settings.unverified_email_send_max_usd,
        otp=otp,
        key=SecondFactorKey(runtime.derived_key),
        now=now,
    )


@router.handles(routes.SEND)
def send(request: flask.Request, principal: Principal, body):
    now = utc_now()

    def execute(conn):
        row, event_ids = create_payment(
            conn,
            payer_id=principal.user_id,
            request=body,
            context=_context(now),
            email_index=platform().email_index,
            checks=_sending_checks(body.otp, now),
        )
        return 202, _payment(row), event_ids

    return respond_once(request, principal, body, execute, now=now)


@router.handles(routes.GET_PAYMENT)
def status(request: flask.Request, principal: Principal, payment_id: str):
    with platform().reader.connect() as conn:
        return 200, payment_seen_by(conn, payment_id, principal.user_id)


@router.handles(routes.REFUND)
def refund(request: flask.Request, principal: Principal, body, payment_id: str):
    now = utc_now()

    def execute(conn):
        row, event_ids = refunds.request_refund(
            conn, payment_id=payment_id, user_id=principal.user_id, amount_minor=body.amount, context=_context(now)
        )
        return 202, _refund(row), event_ids

    return respond_once(request, principal, body, execute, now=now)


@router.handles(routes.LIST_REFUNDS)
def list_refunds(request: flask.Request, principal: Principal, payment_id: str):
    with platform().reader.connect() as conn:
        rows = refunds.list_refunds(conn, payment_id, principal.user_id)
    return 200, RefundList(data=[_refund(row) for row in rows], has_more=False)


@router.handles(routes.GET_REFUND)
def get_refund(request: flask.Request, principal: Principal, refund_id: str):
    with platform().reader.connect() as conn:
        row = refunds.refund_for_user(conn, refund_id, principal.user_id)
    return 200, _refund(row)


@router.handles(routes.REQUEST_MONEY)
def request_money(request: flask.Request, principal: Principal, body):
    now = utc_now()

    def execute(conn):
        row, event_ids = payment_requests.create_request(
            conn, requester_id=principal.user_id, body=body, context=_context(now), email_index=platform().email_index
        )
        return 201, _payment_request(row), event_ids

    return respond_once(request, principal, body, execute, now=now)


@router.handles(routes.LIST_PAYMENT_REQUESTS)
def list_payment_requests(request: flask.Request, principal: Principal, query):
    with platform().reader.connect() as conn:
        rows, has_more = payment_requests.list_requests(
            conn,
            user_id=principal.user_id,
            limit=query.limit,
            starting_after=query.starting_after,
            ending_before=query.ending_before,
        )
    return 200, PaymentRequestList(data=[_payment_request(row) for row in rows], has_more=has_more)


@router.handles(routes.GET_PAYMENT_REQUEST)
def get_payment_request(request: flask.Request, principal: Principal, payment_request_id: str):
    with platform().reader.connect() as conn:
        row = payment_requests.request_for_user(conn, payment_request_id, principal.user_id)
    return 200, _payment_request(row)


@router.handles(routes.PAY_REQUEST)
def pay(request: flask.Request, principal: Principal, body, payment_request_id: str):
    now = utc_now()

    def execute(conn):
        row, event_ids = pay_request(
            conn,
            payer_id=principal.user_id,
            request_id=payment_request_id,
            context=_context(now),
            checks=_sending_checks(body.otp, now),
        )
        return 202, _payment(row), event_ids

    return respond_once(request, principal, body, execute, now=now)


def _answer(request: flask.Request, principal: Principal, body, payment_request_id: str, action: Action):
    now = utc_now()

    def execute(conn):
        row, event_ids = payment_requests.answer_request(
            conn, payment_request_id, user_id=principal.user_id, action=action, context=_context(now)
        )
        return 200, _payment_request(row), event_ids

    return respond_once(request, principal, body, execute, now=now)


@router.handles(routes.DECLINE_REQUEST)
def decline(request: flask.Request, principal: Principal, body, payment_request_id: str):
    return _answer(request, principal, body, payment_request_id, Action.DECLINE)


@router.handles(routes.CANCEL_REQUEST)
def cancel(request: flask.Request, principal: Principal, body, payment_request_id: str):
    return _answer(request, principal, body, payment_request_id, Action.CANCEL)


@functions_framework.http
def payments(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
