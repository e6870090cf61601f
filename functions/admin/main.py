"""admin: the operator side. Every route admits the roles it declares (schemas.routes.admin);
every action is recorded in the audit trail with its actor."""

from __future__ import annotations

import flask
import functions_framework

from schemas.operators import AdminKycReviewList, AdminUserList, ReviewList
from schemas.routes import admin as routes
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import publish_after_commit
from shared.domain.kyc import ReviewDecision
from shared.entrypoint import client_router, correlation_id
from shared.http import Principal
from shared.services import kyc, operators, reviews, scoring
from shared.services.context import EventContext
from shared.services.identity import find_user, get_user

router = client_router(routes.ROUTES)


def _context() -> EventContext:
    return EventContext(producer="admin", now=utc_now(), correlation_id=correlation_id())


@router.handles(routes.LOOKUP_USERS)
def lookup_users(request: flask.Request, principal: Principal, query):
    runtime = platform()
    with runtime.reader.connect() as conn:
        user = find_user(conn, query.email)
        data = [] if user is None else [operators.admin_view_of_user(conn, user, ledger=runtime.ledger)]
    return 200, AdminUserList(data=data, has_more=False)


@router.handles(routes.GET_USER)
def get_one_user(request: flask.Request, principal: Principal, user_id: str):
    runtime = platform()
    with runtime.reader.connect() as conn:
        return 200, operators.admin_view_of_user(conn, get_user(conn, user_id), ledger=runtime.ledger)


@router.handles(routes.GRANT_ROLE)
def grant_role(request: flask.Request, principal: Principal, body, user_id: str):
    runtime = platform()
    with runtime.engine.begin() as conn:
        user, event_ids = operators.grant_role(
            conn, user_id=user_id, role=body.role, actor_id=principal.user_id, context=_context(), reason=body.reason
        )
        view = operators.admin_view_of_user(conn, user, ledger=runtime.ledger)
    publish_after_commit(runtime, event_ids)
    return 200, view


@router.handles(routes.REVOKE_ROLE)
def revoke_role(request: flask.Request, principal: Principal, body, user_id: str, role: str):
    runtime = platform()
    with runtime.engine.begin() as conn:
        user, event_ids = operators.revoke_role(
            conn, user_id=user_id, role=role, actor_id=principal.user_id, context=_context()
        )
        view = operators.admin_view_of_user(conn, user, ledger=runtime.ledger)
    publish_after_commit(runtime, event_ids)
    return 200, view


@router.handles(routes.LIST_REVIEWS)
def list_reviews(request: flask.Request, principal: Principal, query):
    runtime = platform()
    with runtime.reader.connect() as conn:
        data, has_more = reviews.list_reviews(conn, query, rates=runtime.fx_rates.current())
    return 200, ReviewList(data=data, has_more=has_more)


@router.handles(routes.GET_REVIEW)
def get_review(request: flask.Request, principal: Principal, payment_id: str):
    runtime = platform()
    with runtime.reader.connect() as conn:
        return 200, reviews.get_review(conn, payment_id, rates=runtime.fx_rates.current())


@router.handles(routes.APPROVE_REVIEW)
def approve_review(request: flask.Request, principal: Principal, body, payment_id: str):
    runtime = platform()
    with runtime.engine.begin() as conn:
        view, event_ids = reviews.approve_review(
            conn,
            payment_id,
            reviewer_id=principal.user_id,
            reason=body.reason,
            context=_context(),
            rates=runtime.fx_rates.current(),
        )
    publish_after_commit(runtime, event_ids)
    return 200, view


@router.handles(routes.DECLINE_REVIEW)
def decline_review(request: flask.Request, principal: Principal, body, payment_id: str):
    runtime = platform()
    with runtime.engine.begin() as conn:
        view, event_ids = reviews.decline_review(
            conn,
            payment_id,
            reviewer_id=principal.user_id,
            reason=body.reason,
            ledger=runtime.ledger,
            context=_context(),
            rates=runtime.fx_rates.current(),
        )
    publish_after_commit(runtime, event_ids)
    return 200, view


@router.handles(routes.LIST_KYC_REVIEWS)
def list_kyc_reviews(request: flask.Request, principal: Principal, query):
    with platform().reader.connect() as conn:
        rows, has_more = kyc.review_queue(conn, limit=query.limit, starting_after=query.starting_after)
    return 200, AdminKycReviewList(data=[kyc.admin_document_view(row) for row in rows], has_more=has_more)


def _decide_kyc_review(principal: Principal, document_id: str, decision: ReviewDecision, reason: str | None):
    runtime = platform()
    with runtime.engine.begin() as conn:
        row, event_ids = kyc.decide_document_review(
            conn, document_id, decision=decision, actor_id=principal.user_id, reason=reason, context=_context()
        )
    publish_after_commit(runtime, event_ids)
    return 200, kyc.admin_document_view(row)


@router.handles(routes.APPROVE_KYC_REVIEW)
def approve_kyc_review(request: flask.Request, principal: Principal, body, document_id: str):
    return _decide_kyc_review(principal, document_id, ReviewDecision.APPROVE, body.reason)


@router.handles(routes.REJECT_KYC_REVIEW)
def reject_kyc_review(request: flask.Request, principal: Principal, body, document_id: str):
    return _decide_kyc_review(principal, document_id, ReviewDecision.REJECT, body.reason)


@router.handles(routes.GET_KYC_DOCUMENT)
def get_kyc_document(request: flask.Request, principal: Principal, document_id: str):
    runtime = platform()
    with runtime.reader.connect() as conn:
        row = kyc.document_for_operator(conn, document_id)
        return 200, kyc.admin_document_detail(conn, row, runtime.kyc_documents)


@router.handles(routes.GET_FRAUD_THRESHOLDS)
def get_fraud_thresholds(request: flask.Request, principal: Principal):
    runtime = platform()
    with runtime.reader.connect() as conn:
        return 200, scoring.thresholds_view(conn, scoring.default_rules(runtime.settings))


@router.handles(routes.UPDATE_FRAUD_THRESHOLDS)
def update_fraud_thresholds(request: flask.Request, principal: Principal, body):
    runtime = platform()
    with runtime.engine.begin() as conn:
        view, event_ids = scoring.update_thresholds(
            conn,
            body.changes(),
            defaults=scoring.default_rules(runtime.settings),
            actor_id=principal.user_id,
            context=_context(),
            reason=body.reason,
        )
    publish_after_commit(runtime, event_ids)
    return 200, view


@functions_framework.http
def admin(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
