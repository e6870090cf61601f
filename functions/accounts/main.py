"""accounts: funding sources (cards tokenized by the sandbox gateway, bank accounts), and know
your customer: the profile (level basic), identity documents (verified by verify-kyc)."""

from __future__ import annotations

import logging
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
from shared.adapters.kyc_documents import object_key_of
from shared.adapters.outbox import record_event
from shared.adapters.tables import funding_sources
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import publish_after_commit
from shared.entrypoint import client_router, correlation_id
from shared.http import ApiError, Principal
from shared.ids import new_id
from shared.services import kyc
from shared.services.context import EventContext
from shared.services.identity import get_user

FUNDING_SOURCES_PER_USER_MAX = 20

logger = logging.getLogger("paystream.accounts")

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
                gateway_token=runtime.privacy.seal(
                    conn, principal.user_id, "funding_sources.gateway_token", card.token
                ),
            )
        else:
            account = runtime.gateway.tokenize_bank_account(
                conn, routing_number=body.routing_number, account_number=body.account_number, now=now
            )
            values = dict(
                type="bank_account",
                brand=None,
                last4=account.last4,
                gateway_token=runtime.privacy.seal(
                    conn, principal.user_id, "funding_sources.gateway_token", account.token
                ),
            )
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


def _context() -> EventContext:
    return EventContext(producer="accounts", now=utc_now(), correlation_id=correlation_id())


@router.handles(routes.SUBMIT_KYC)
def submit_kyc(request: flask.Request, principal: Principal, body):
    runtime = platform()
    context = _context()
    with runtime.engine.begin() as conn:
        view = kyc.submit_profile(
            conn, user_id=principal.user_id, request=body, context=context, privacy=runtime.privacy
        )
        event_ids = kyc.screen_profile(conn, user_id=principal.user_id, context=context, privacy=runtime.privacy)
    publish_after_commit(runtime, event_ids)
    return 200, view


@router.handles(routes.UPLOAD_KYC_DOCUMENT)
def upload_kyc_document(request: flask.Request, principal: Principal, body):
    runtime = platform()
    context = _context()
    upload = kyc.check_document(body, today=context.now.date())
    # Refused early, before the file is stored; checked again under the user's lock below.
    with runtime.reader.connect() as conn:
        kyc.upload_allowed(conn, get_user(conn, principal.user_id))
    document_id = kyc.new_document_id()
    object_key = object_key_of(principal.user_id, document_id)
    runtime.kyc_documents.put(object_key, upload.data, content_type=upload.content_type)
    try:
        with runtime.engine.begin() as conn:
            row, event_ids = kyc.record_document(
                conn, user_id=principal.user_id, document_id=document_id, request=body, upload=upload,
                context=context, privacy=runtime.privacy,
            )  # fmt: skip
            view = kyc.document_view(conn, row, privacy=runtime.privacy)
    except BaseException:
        _forget_file(runtime, object_key)
        raise
    publish_after_commit(runtime, event_ids)
    return 202, view


def _forget_file(runtime, object_key: str) -> None:
    """Delete a stored file that no record names (its record could not be written)."""
    try:
        runtime.kyc_documents.delete(object_key)
    except Exception:  # the original error matters more; the orphan is logged for an operator
        logger.exception("could not delete the unrecorded KYC document %s", object_key)


@router.handles(routes.GET_KYC)
def get_kyc(request: flask.Request, principal: Principal):
    runtime = platform()
    with runtime.reader.connect() as conn:
        return 200, kyc.view_of(conn, principal.user_id, privacy=runtime.privacy)


@functions_framework.http
def accounts(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
