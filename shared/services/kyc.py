"""Know your customer: the profile that raises a user to `basic`, identity documents, their
check by the sandbox verifier and, when it cannot decide, by support.

    POST /v1/kyc ──► level basic
    POST /v1/kyc/documents ──► kyc.submitted ──► verify-kyc ──► kyc.verified  (level verified)
       (file in S3, SSE-KMS)                                ├─► kyc.rejected  (level stays basic)
                                                            └─► kyc.review ──► support approves or
                                                                               rejects (admin)

A user has at most one document being checked at a time (pending or in review): a second upload
waits for the first's outcome, so the user's status always follows their newest document. Each
document is an aggregate of its own: `kyc.submitted` is its first event, the verifier's decision
its second, an operator's its third. The user row is locked before a document is written or
decided, so concurrent uploads and decisions for one user happen one at a time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.api import (
    KYC_DOCUMENT_BYTES_MAX,
    KYC_DOCUMENTS_PER_USER_MAX,
    KycDocumentRequest,
    KycDocumentResponse,
    KycProfileRequest,
    KycProfileResponse,
    KycResponse,
)
from schemas.events import KycRejected, KycReview, KycSubmitted, KycVerified
from schemas.operators import AdminKycDocumentDetail, AdminKycDocumentFile, AdminKycDocumentResponse
from shared.adapters.kyc_documents import DocumentStore, object_key_of
from shared.adapters.tables import kyc_documents, kyc_profiles, users
from shared.domain.kyc import (
    ADULT_AGE_YEARS,
    AGE_YEARS_MAX,
    ALLOWED_CONTENT_TYPES,
    DocumentStatus,
    KycDecision,
    KycLevel,
    KycStatus,
    ReviewDecision,
    ReviewOutcome,
    age_in_years,
    check_transition,
    content_type_of,
    decide_review,
    number_last4,
    sandbox_decision,
)
from shared.domain.sanctions import screening_key
from shared.http import ApiError
from shared.ids import new_id
from shared.privacy import RETENTION, PersonalDataVault
from shared.services import sanctions
from shared.services.context import EventContext, advance, read_row
from shared.services.identity import get_user
from shared.services.operators import record_admin_action

__all__ = [
    "REVIEW_REJECTED_CODE",
    "DocumentUpload",
    "KycDocumentMissing",
    "admin_document_detail",
    "admin_document_view",
    "check_document",
    "decide_document_review",
    "document_view",
    "document_for_operator",
    "new_document_id",
    "record_document",
    "review_queue",
    "screen_profile",
    "submit_profile",
    "upload_allowed",
    "verify_document",
    "view_of",
]

# The failure code of a document support rejected in review (the operator's reason stays with
# the operators: it is in the audit trail and on the document, not in the user's notification).
REVIEW_REJECTED_CODE = "rejected_in_review"

# Where a document's check stands while it is neither verified nor rejected.
_IN_PROGRESS = (DocumentStatus.PENDING.value, DocumentStatus.REVIEW.value)
_EVENT_OF_STATUS = {
    DocumentStatus.VERIFIED: "kyc.verified",
    DocumentStatus.REJECTED: "kyc.rejected",
    DocumentStatus.REVIEW: "kyc.review",
}


class KycDocumentMissing(LookupError):
    """An event names a document that does not exist: it can never be handled."""


# --- the profile (level basic) ----------------------------------------------------------------


def _seal(privacy: PersonalDataVault, conn: Connection, user_id: str, field: str, value: str) -> str:
    """A KYC value sealed under the user's retention key (kept after an erasure, for a period)."""
    return privacy.seal(conn, user_id, field, value, RETENTION)


def _open(privacy: PersonalDataVault, conn: Connection, user_id: str, field: str, sealed: str | None) -> str | None:
    """A sealed KYC value opened; None once the retention key is destroyed."""
    return privacy.open(conn, user_id, field, sealed, RETENTION)


def submit_profile(
    conn: Connection, *, user_id: str, request: KycProfileRequest, context: EventContext, privacy: PersonalDataVault
) -> KycResponse:
    """Store (or replace) the user's legal name, date of birth, address and phone, and raise their
    level to `basic`. Once verified, the profile is what was verified and cannot change here."""
    _check_age(request.date_of_birth, context.now.date())
    user = _lock_user(conn, user_id)
    if KycLevel(user.kyc_level) is KycLevel.VERIFIED:
        raise ApiError.invalid(
            "kyc_already_verified", "your identity is verified: the profile can no longer be changed", status=409
        )
    clear = {
        "legal_name": request.legal_name,
        "date_of_birth": request.date_of_birth.isoformat(),
        "address_line1": request.address.line1,
        "address_line2": request.address.line2,
        "city": request.address.city,
        "postal_code": request.address.postal_code.upper(),
        "phone": request.phone,
    }
    values: dict[str, Any] = {
        name: None if value is None else _seal(privacy, conn, user_id, f"kyc_profiles.{name}", value)
        for name, value in clear.items()
    }
    values.update(
        legal_name_key=screening_key(request.legal_name),
        address_country=request.address.country,
        updated_at=context.now,
    )
    updated = conn.execute(kyc_profiles.update().where(kyc_profiles.c.user_id == user_id).values(**values))
    if updated.rowcount == 0:
        conn.execute(kyc_profiles.insert().values(user_id=user_id, created_at=context.now, **values))
    if KycLevel(user.kyc_level) is KycLevel.NONE:
        conn.execute(users.update().where(users.c.id == user_id).values(kyc_level=KycLevel.BASIC.value))
    return view_of(conn, user_id, privacy=privacy)


def screen_profile(conn: Connection, *, user_id: str, context: EventContext, privacy: PersonalDataVault) -> list[str]:
    """Screen the user's legal name, sign-up name and countries against the sanctions list once
    they submitted their profile; a match is recorded on the user (`sanctions.matched`)."""
    row = conn.execute(
        sa.select(
            users.c.full_name_encrypted, users.c.country, kyc_profiles.c.legal_name, kyc_profiles.c.address_country
        )
        .select_from(users.join(kyc_profiles, kyc_profiles.c.user_id == users.c.id))
        .where(users.c.id == user_id)
    ).one()
    names = [
        _open(privacy, conn, user_id, "kyc_profiles.legal_name", row.legal_name),
        privacy.open(conn, user_id, "full_name", row.full_name_encrypted),
    ]
    return sanctions.screen_and_record(
        conn,
        user_id=user_id,
        names=[name for name in names if name],
        countries=[row.address_country, row.country],
        screened_at="kyc",
        context=context,
    )


def _check_age(date_of_birth: date, today: date) -> None:
    if date_of_birth >= today:
        raise ApiError.invalid("parameter_invalid", "date_of_birth must be in the past", "date_of_birth")
    age = age_in_years(date_of_birth, today)
    if age > AGE_YEARS_MAX:
        raise ApiError.invalid(
            "parameter_invalid", f"date_of_birth is more than {AGE_YEARS_MAX} years ago", "date_of_birth"
        )
    if age < ADULT_AGE_YEARS:
        raise ApiError.invalid(
            "kyc_underage", f"you must be {ADULT_AGE_YEARS} or older to verify your identity", "date_of_birth"
        )


# --- documents ----------------------------------------------------------------------------------


class DocumentUpload:
    """A document's file, decoded and checked: its bytes, their type by magic bytes, their digest."""

    def __init__(self, data: bytes, content_type: str) -> None:
        self.data = data
        self.content_type = content_type
        self.sha256 = hashlib.sha256(data).hexdigest()


def check_document(request: KycDocumentRequest, *, today: date) -> DocumentUpload:
    """The file of `request`, decoded, if it is an accepted type within the size limit and the
    document has not expired; the contract's error otherwise (413 too large, 415 a type not
    accepted or a file whose bytes are not what it says, 400 the rest)."""
    if request.expiry_date <= today:
        raise ApiError.invalid("document_expired", "the document has expired", "expiry_date")
    if request.content_type not in ALLOWED_CONTENT_TYPES:
        raise ApiError.invalid(
            "content_type_unsupported",
            f"content_type must be one of {', '.join(ALLOWED_CONTENT_TYPES)}",
            "content_type",
            status=415,
        )
    # Decoded size is at most three quarters of the text: refuse a text that cannot fit before
    # decoding it at all.
    if len(request.file) > _base64_length(KYC_DOCUMENT_BYTES_MAX) + _BASE64_SLACK_CHARS:
        raise _too_large()
    try:
        data = base64.b64decode(request.file, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError.invalid("parameter_invalid", "file must be base64 (RFC 4648, padded)", "file") from None
    if len(data) > KYC_DOCUMENT_BYTES_MAX:
        raise _too_large()
    if not data:
        raise ApiError.invalid("parameter_invalid", "file is empty", "file")
    sniffed = content_type_of(data)
    if sniffed != request.content_type:
        raise ApiError.invalid(
            "content_type_mismatch",
            f"the file is not {request.content_type}"
            + (f" (its first bytes are those of {sniffed})" if sniffed else " nor any accepted type"),
            "file",
            status=415,
        )
    return DocumentUpload(data, sniffed)


# A few characters of line breaks or padding beyond the exact length are no reason to decode.
_BASE64_SLACK_CHARS = 4


def _base64_length(byte_count: int) -> int:
    return 4 * -(-byte_count // 3)


def _too_large() -> ApiError:
    return ApiError.invalid(
        "document_too_large",
        f"the file is larger than {KYC_DOCUMENT_BYTES_MAX // (1024 * 1024)} MiB",
        "file",
        status=413,
    )


def upload_allowed(conn: Connection, user: Any) -> None:
    """Nothing, if the user may upload a document now; a 409 that says why not otherwise."""
    level = KycLevel(user.kyc_level)
    if level is KycLevel.NONE:
        raise ApiError.invalid(
            "kyc_basic_required",
            "give your legal name, date of birth, address and phone first (POST /v1/kyc)",
            status=409,
        )
    if level is KycLevel.VERIFIED:
        raise ApiError.invalid("kyc_already_verified", "your identity is verified already", status=409)
    counts: dict[str, int] = dict(
        conn.execute(
            sa.select(kyc_documents.c.status, sa.func.count())
            .where(kyc_documents.c.user_id == user.id)
            .group_by(kyc_documents.c.status)
        ).all()
    )
    if any(counts.get(status, 0) for status in _IN_PROGRESS):
        raise ApiError.invalid(
            "kyc_document_in_progress", "a document of yours is being checked: wait for its outcome", status=409
        )
    if sum(counts.values()) >= KYC_DOCUMENTS_PER_USER_MAX:
        raise ApiError.invalid(
            "kyc_document_limit",
            f"at most {KYC_DOCUMENTS_PER_USER_MAX} documents per user; contact support",
            status=409,
        )


def record_document(
    conn: Connection,
    *,
    user_id: str,
    document_id: str,
    request: KycDocumentRequest,
    upload: DocumentUpload,
    context: EventContext,
    privacy: PersonalDataVault,
) -> tuple[Any, list[str]]:
    """Record a document whose file is stored already, `pending`, with `kyc.submitted`."""
    user = _lock_user(conn, user_id)
    upload_allowed(conn, user)
    conn.execute(
        kyc_documents.insert().values(
            id=document_id,
            user_id=user_id,
            document_type=request.document_type,
            document_number=_seal(privacy, conn, user_id, "kyc_documents.document_number", request.document_number),
            issuing_country=request.issuing_country,
            expiry_date=request.expiry_date,
            content_type=upload.content_type,
            size_bytes=len(upload.data),
            sha256=upload.sha256,
            object_key=object_key_of(user_id, document_id),
            status=DocumentStatus.PENDING.value,
            version=1,
            created_at=context.now,
            updated_at=context.now,
        )
    )
    conn.execute(users.update().where(users.c.id == user_id).values(kyc_status=KycStatus.PENDING.value))
    event_id = context.record(
        conn,
        event_type="kyc.submitted",
        subject=document_id,
        payload=KycSubmitted(
            document_id=document_id,
            user_id=user_id,
            document_type=request.document_type,
            issuing_country=request.issuing_country,
        ),
    )
    return read_row(conn, kyc_documents, document_id, lock=False), [event_id]


def new_document_id() -> str:
    return new_id("kyd")


# --- the decisions ------------------------------------------------------------------------------


def verify_document(
    conn: Connection, document_id: str, *, context: EventContext, privacy: PersonalDataVault
) -> list[str]:
    """The sandbox verifier's decision on a pending document (docs/operators.md, "KYC sandbox").
    A document decided already is left as it is."""
    row = read_row(conn, kyc_documents, document_id, lock=True)
    if row is None:
        raise KycDocumentMissing(f"no KYC document {document_id}")
    if DocumentStatus(row.status) is not DocumentStatus.PENDING:
        return []
    _lock_user(conn, row.user_id)
    number = _open(privacy, conn, row.user_id, "kyc_documents.document_number", row.document_number)
    if number is None:
        return []  # the owner's records were shredded while it waited: nothing left to verify
    decision = sandbox_decision(number, row.expiry_date, context.now.date())
    return [_decide(conn, row, decision, context=context)]


def decide_document_review(
    conn: Connection,
    document_id: str,
    *,
    decision: ReviewDecision,
    actor_id: str,
    reason: str | None,
    context: EventContext,
) -> tuple[Any, list[str]]:
    """An operator's decision on a document in review. The same decision again changes nothing
    and answers as before; the opposite one is a 409 `review_already_decided`."""
    row = read_row(conn, kyc_documents, document_id, lock=True)
    if row is None:
        raise _document_not_found()
    outcome = decide_review(
        DocumentStatus(row.status), decided_by_operator=row.decided_by is not None, decision=decision
    )
    if outcome is ReviewOutcome.REPLAY:
        return row, []
    if outcome is ReviewOutcome.ALREADY_DECIDED:
        raise ApiError.invalid(
            "review_already_decided", f"this document was {row.status} in review already", status=409
        )
    if outcome is ReviewOutcome.NOT_IN_REVIEW:
        raise ApiError.invalid(
            "kyc_document_not_in_review", f"this document is {row.status}, not in review", status=409
        )
    _lock_user(conn, row.user_id)
    code = None if decision is ReviewDecision.APPROVE else REVIEW_REJECTED_CODE
    event_ids = [
        _decide(conn, row, KycDecision(decision.status, code), context=context, reviewer_id=actor_id, reason=reason),
        record_admin_action(
            conn,
            actor_id=actor_id,
            action=f"kyc.{decision.value}",
            target_id=document_id,
            context=context,
            reason=reason,
            details={"user_id": row.user_id},
        ),
    ]
    return read_row(conn, kyc_documents, document_id, lock=False), event_ids


def _decide(
    conn: Connection,
    row: Any,
    decision: KycDecision,
    *,
    context: EventContext,
    reviewer_id: str | None = None,
    reason: str | None = None,
) -> str:
    """Move the document to the decision's status with its event, and its owner's KYC with it."""
    target = decision.status
    check_transition(DocumentStatus(row.status), target)
    fields: dict[str, Any] = {}
    common = dict(
        document_id=row.id, user_id=row.user_id, document_type=row.document_type, issuing_country=row.issuing_country
    )
    payload: KycVerified | KycRejected | KycReview
    if target is DocumentStatus.REVIEW:
        fields["review_reason"] = decision.code
        payload = KycReview(**common, review_reason=decision.code or "manual_review_required")
    else:
        fields.update(decided_by=reviewer_id, decision_reason=reason, decided_at=context.now)
        if target is DocumentStatus.VERIFIED:
            payload = KycVerified(**common, reviewer_id=reviewer_id)
        else:
            fields["failure_code"] = decision.code
            payload = KycRejected(**common, failure_code=decision.code or REVIEW_REJECTED_CODE, reviewer_id=reviewer_id)
    user_values: dict[str, str] = {"kyc_status": target.user_status.value}
    if target is DocumentStatus.VERIFIED:
        user_values["kyc_level"] = KycLevel.VERIFIED.value
    conn.execute(users.update().where(users.c.id == row.user_id).values(**user_values))
    return advance(
        conn,
        kyc_documents,
        row,
        status=target.value,
        event_type=_EVENT_OF_STATUS[target],
        payload=payload,
        context=context,
        **fields,
    )


# --- reading ------------------------------------------------------------------------------------


def view_of(conn: Connection, user_id: str, *, privacy: PersonalDataVault) -> KycResponse:
    """The user's KYC as they see it: level, status, profile, documents newest first."""
    user = get_user(conn, user_id)
    profile = conn.execute(sa.select(kyc_profiles).where(kyc_profiles.c.user_id == user_id)).first()
    documents = conn.execute(
        sa.select(kyc_documents)
        .where(kyc_documents.c.user_id == user_id)
        .order_by(kyc_documents.c.created_at.desc(), kyc_documents.c.id.desc())
        .limit(KYC_DOCUMENTS_PER_USER_MAX)
    ).all()
    return KycResponse(
        level=user.kyc_level,
        status=user.kyc_status,
        profile=None if profile is None else _profile_view(conn, profile, privacy),
        documents=[document_view(conn, row, privacy=privacy) for row in documents],
    )


def _number(conn: Connection, row: Any, privacy: PersonalDataVault) -> str:
    """The document's number opened ("" once its records were shredded)."""
    return _open(privacy, conn, row.user_id, "kyc_documents.document_number", row.document_number) or ""


def document_view(conn: Connection, row: Any, *, privacy: PersonalDataVault) -> KycDocumentResponse:
    """A document as its owner sees it: the number's last characters only."""
    return KycDocumentResponse.model_validate(
        {**row._mapping, "number_last4": number_last4(_number(conn, row, privacy))}
    )


def admin_document_view(conn: Connection, row: Any, *, privacy: PersonalDataVault) -> AdminKycDocumentResponse:
    """A document as it is listed for operators (auditors among them): no full number, no file."""
    return AdminKycDocumentResponse.model_validate(
        {**row._mapping, "number_last4": number_last4(_number(conn, row, privacy))}
    )


def _profile_view(conn: Connection, row: Any, privacy: PersonalDataVault) -> KycProfileResponse | None:
    """The profile opened; None once its records were shredded."""
    opened = {
        name: _open(privacy, conn, row.user_id, f"kyc_profiles.{name}", getattr(row, name))
        for name in ("legal_name", "date_of_birth", "address_line1", "address_line2", "city", "postal_code", "phone")
    }
    if opened["legal_name"] is None:
        return None
    return KycProfileResponse.model_validate(
        {
            **row._mapping,
            **opened,
            "address": {
                "line1": opened["address_line1"],
                "line2": opened["address_line2"],
                "city": opened["city"],
                "postal_code": opened["postal_code"],
                "country": row.address_country,
            },
        }
    )


def review_queue(conn: Connection, *, limit: int, starting_after: str | None) -> tuple[Sequence[Any], bool]:
    """A page of the documents waiting in review, oldest upload first, and whether more follow."""
    in_review = kyc_documents.c.status == DocumentStatus.REVIEW.value
    key = sa.tuple_(kyc_documents.c.created_at, kyc_documents.c.id)
    query = sa.select(kyc_documents).where(in_review)
    if starting_after is not None:
        # The cursor may have been decided since the last page: it is still a place in the order.
        cursor = conn.execute(
            sa.select(kyc_documents.c.created_at, kyc_documents.c.id).where(kyc_documents.c.id == starting_after)
        ).first()
        if cursor is None:
            raise ApiError.invalid("cursor_invalid", "starting_after names no KYC document", "starting_after")
        query = query.where(key > sa.tuple_(sa.literal(cursor.created_at), sa.literal(cursor.id)))
    rows = conn.execute(
        query.order_by(kyc_documents.c.created_at.asc(), kyc_documents.c.id.asc()).limit(limit + 1)
    ).all()
    return rows[:limit], len(rows) > limit


def document_for_operator(conn: Connection, document_id: str) -> Any:
    """The document row, or a 404."""
    row = read_row(conn, kyc_documents, document_id, lock=False)
    if row is None:
        raise _document_not_found()
    return row


def admin_document_detail(
    conn: Connection, row: Any, store: DocumentStore, *, privacy: PersonalDataVault
) -> AdminKycDocumentDetail:
    """One document for support and admins: the full number, the owner's profile, the file."""
    profile = conn.execute(sa.select(kyc_profiles).where(kyc_profiles.c.user_id == row.user_id)).first()
    stored = store.get(row.object_key)
    digest = hashlib.sha256(stored.data).hexdigest()
    if digest != row.sha256:
        # The bucket is written only at upload: a different file there is a broken store or a
        # tampered object, never something to show as the user's document.
        raise RuntimeError(f"KYC document {row.id}: the stored file's SHA-256 differs from the upload's")
    return AdminKycDocumentDetail.model_validate(
        {
            **admin_document_view(conn, row, privacy=privacy).model_dump(),
            "document_number": _number(conn, row, privacy),
            "profile": None if profile is None else _profile_view(conn, profile, privacy),
            "file": AdminKycDocumentFile(
                content_type=row.content_type,
                size_bytes=len(stored.data),
                sha256=digest,
                content_base64=base64.b64encode(stored.data).decode("ascii"),
            ),
        }
    )


def _document_not_found() -> ApiError:
    return ApiError.not_found("kyc_document_not_found", "no KYC document has this id", "document_id")


def _lock_user(conn: Connection, user_id: str) -> Any:
    user = read_row(conn, users, user_id, lock=True)
    if user is None:
        raise ApiError.not_found("user_not_found", "the user does not exist")
    return user
