"""admin: the operator side. Every route admits the roles it declares (schemas.routes.admin);
every action is recorded in the audit trail with its actor."""

from __future__ import annotations

import flask
import functions_framework

from schemas.operators import AdminKycReviewList, AdminLimitList, AdminUserList, ReviewList
from schemas.routes import admin as routes
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import publish_after_commit
from shared.domain.kyc import ReviewDecision
from shared.domain.reports import REPORT_KINDS
from shared.entrypoint import client_router, correlation_id
from shared.http import ApiError, Principal
from shared.services import archive, audit, kyc, limits, operators, personal_data, reviews, scoring, sessions
from shared.services.context import EventContext
from shared.services.identity import find_user, get_user
from shared.services.reports import ReportOptions, build_report

router = client_router(routes.ROUTES)


def _context() -> EventContext:
    return EventContext(producer="admin", now=utc_now(), correlation_id=correlation_id())


@router.handles(routes.LOOKUP_USERS)
def lookup_users(request: flask.Request, principal: Principal, query):
    runtime = platform()
    with runtime.reader.connect() as conn:
        user = find_user(conn, query.email, email_index=runtime.email_index)
        data = (
            []
            if user is None
            else [operators.admin_view_of_user(conn, user, ledger=runtime.ledger, privacy=runtime.privacy)]
        )
    return 200, AdminUserList(data=data, has_more=False)


@router.handles(routes.GET_USER)
def get_one_user(request: flask.Request, principal: Principal, user_id: str):
    runtime = platform()
    with runtime.reader.connect() as conn:
        return 200, operators.admin_view_of_user(
            conn, get_user(conn, user_id), ledger=runtime.ledger, privacy=runtime.privacy
        )


@router.handles(routes.GRANT_ROLE)
def grant_role(request: flask.Request, principal: Principal, body, user_id: str):
    runtime = platform()
    with runtime.engine.begin() as conn:
        user, event_ids = operators.grant_role(
            conn, user_id=user_id, role=body.role, actor_id=principal.user_id, context=_context(), reason=body.reason
        )
        view = operators.admin_view_of_user(conn, user, ledger=runtime.ledger, privacy=runtime.privacy)
    publish_after_commit(runtime, event_ids)
    return 200, view


@router.handles(routes.REVOKE_ROLE)
def revoke_role(request: flask.Request, principal: Principal, body, user_id: str, role: str):
    runtime = platform()
    with runtime.engine.begin() as conn:
        user, event_ids = operators.revoke_role(
            conn, user_id=user_id, role=role, actor_id=principal.user_id, context=_context()
        )
        view = operators.admin_view_of_user(conn, user, ledger=runtime.ledger, privacy=runtime.privacy)
    publish_after_commit(runtime, event_ids)
    return 200, view


@router.handles(routes.FREEZE_USER)
def freeze_user(request: flask.Request, principal: Principal, body, user_id: str):
    runtime = platform()
    with runtime.engine.begin() as conn:
        user, event_ids = operators.freeze_user(
            conn, user_id=user_id, reason=body.reason, actor_id=principal.user_id, ledger=runtime.ledger,
            context=_context(),
        )  # fmt: skip
        view = operators.admin_view_of_user(conn, user, ledger=runtime.ledger, privacy=runtime.privacy)
    publish_after_commit(runtime, event_ids)
    return 200, view


@router.handles(routes.UNFREEZE_USER)
def unfreeze_user(request: flask.Request, principal: Principal, body, user_id: str):
    runtime = platform()
    with runtime.engine.begin() as conn:
        user, event_ids = operators.unfreeze_user(
            conn, user_id=user_id, actor_id=principal.user_id, context=_context(), reason=body.reason
        )
        view = operators.admin_view_of_user(conn, user, ledger=runtime.ledger, privacy=runtime.privacy)
    publish_after_commit(runtime, event_ids)
    return 200, view


@router.handles(routes.ERASE_USER)
def erase_user(request: flask.Request, principal: Principal, body, user_id: str):
    runtime = platform()
    context = _context()
    with runtime.engine.begin() as conn:
        erasure, event_ids = personal_data.erase(
            conn, user_id, actor_id=principal.user_id, reason=body.reason, privacy=runtime.privacy,
            ledger=runtime.ledger, retention_days=runtime.settings.personal_data_retention_days, context=context,
        )  # fmt: skip
    sessions.forget(runtime.redis, user_id)
    publish_after_commit(runtime, event_ids)
    return 200, erasure


@router.handles(routes.LIST_LIMITS)
def list_limits(request: flask.Request, principal: Principal):
    with platform().reader.connect() as conn:
        return 200, AdminLimitList(data=limits.admin_limits(conn), has_more=False)


@router.handles(routes.CHANGE_LIMIT)
def change_limit(request: flask.Request, principal: Principal, body, kyc_level: str, limit: str):
    runtime = platform()
    with runtime.engine.begin() as conn:
        view, event_ids = limits.change_limit(
            conn, kyc_level=kyc_level, limit=limit, amount_usd_minor=body.amount, actor_id=principal.user_id,
            reason=body.reason, context=_context(),
        )  # fmt: skip
    publish_after_commit(runtime, event_ids)
    return 200, view


@router.handles(routes.LIST_REVIEWS)
def list_reviews(request: flask.Request, principal: Principal, query):
    runtime = platform()
    with runtime.reader.connect() as conn:
        data, has_more = reviews.list_reviews(conn, query, rates=runtime.fx_rates.current(), privacy=runtime.privacy)
    return 200, ReviewList(data=data, has_more=has_more)


@router.handles(routes.GET_REVIEW)
def get_review(request: flask.Request, principal: Principal, payment_id: str):
    runtime = platform()
    with runtime.reader.connect() as conn:
        return 200, reviews.get_review(conn, payment_id, rates=runtime.fx_rates.current(), privacy=runtime.privacy)


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
            privacy=runtime.privacy,
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
            privacy=runtime.privacy,
        )
    publish_after_commit(runtime, event_ids)
    return 200, view


@router.handles(routes.LIST_KYC_REVIEWS)
def list_kyc_reviews(request: flask.Request, principal: Principal, query):
    runtime = platform()
    with runtime.reader.connect() as conn:
        rows, has_more = kyc.review_queue(conn, limit=query.limit, starting_after=query.starting_after)
        data = [kyc.admin_document_view(conn, row, privacy=runtime.privacy) for row in rows]
    return 200, AdminKycReviewList(data=data, has_more=has_more)


def _decide_kyc_review(principal: Principal, document_id: str, decision: ReviewDecision, reason: str | None):
    runtime = platform()
    with runtime.engine.begin() as conn:
        row, event_ids = kyc.decide_document_review(
            conn, document_id, decision=decision, actor_id=principal.user_id, reason=reason, context=_context()
        )
        view = kyc.admin_document_view(conn, row, privacy=runtime.privacy)
    publish_after_commit(runtime, event_ids)
    return 200, view


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
        return 200, kyc.admin_document_detail(conn, row, runtime.kyc_documents, privacy=runtime.privacy)


@router.handles(routes.AUDIT_RECORDS)
def audit_records(request: flask.Request, principal: Principal, query):
    return 200, audit.entity_records(platform().audit_chain, query)


@router.handles(routes.VERIFY_AUDIT)
def verify_audit(request: flask.Request, principal: Principal, query):
    return 200, audit.verify_chain(platform().audit_chain, from_seq=query.from_seq, to_seq=query.to_seq, now=utc_now())


@router.handles(routes.GET_REPORT)
def get_report(request: flask.Request, principal: Principal, query, kind: str):
    if kind not in REPORT_KINDS:
        raise ApiError.not_found("report_kind_unknown", f"no report {kind!r}; known: {', '.join(REPORT_KINDS)}", "kind")
    with platform().reader.connect() as conn:
        body = build_report(conn, kind, query.date, _report_options())
    return flask.Response(
        body,
        status=200,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{kind}-{query.date.isoformat()}.csv"'},
    )


def _report_options() -> ReportOptions:
    runtime = platform()
    return ReportOptions(runtime.fx_rates.current(), runtime.settings.report_large_transaction_usd)


@router.handles(routes.ARCHIVE_DAY)
def archive_day(request: flask.Request, principal: Principal, body):
    runtime = platform()
    with runtime.reader.connect() as conn:
        stored = archive.archive_the_day(conn, runtime.audit_chain, runtime.archive, body.date, _report_options())
    with runtime.engine.begin() as conn:
        event_id = operators.record_admin_action(
            conn,
            actor_id=principal.user_id,
            action="archive.write",
            target_id=f"archive-{body.date.isoformat()}",
            context=_context(),
            details={obj.kind: obj.sha256 for obj in stored.objects},
        )
    publish_after_commit(runtime, [event_id])
    return 200, stored


@router.handles(routes.GET_ARCHIVE)
def get_archive(request: flask.Request, principal: Principal, query):
    runtime = platform()
    stored = archive.stored_archive(runtime.archive, query.date)
    if stored is None:
        raise ApiError.not_found("archive_not_found", f"nothing is archived for {query.date.isoformat()}", "date")
    return 200, stored


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
