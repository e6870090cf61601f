"""The routes of `admin`: the operator side. Every route names the roles it admits; any other
caller gets 403 `authorization_error` (docs/operators.md has the matrix). A route that reads
(GET) admits auditors where its area is theirs to read; auditors never decide or change.
"""

from __future__ import annotations

from schemas.api import EmptyRequest, ErasureResponse
from schemas.audit import (
    ArchiveDayRequest,
    ArchiveQuery,
    AuditQuery,
    AuditRecordList,
    AuditVerification,
    AuditVerifyQuery,
    DayArchive,
    ReportQuery,
)
from schemas.operators import (
    AdminKycDocumentDetail,
    AdminKycDocumentResponse,
    AdminKycReviewList,
    AdminLevelLimits,
    AdminLimitList,
    AdminUserList,
    AdminUserResponse,
    ApproveReviewRequest,
    FraudThresholdsResponse,
    FraudThresholdsUpdate,
    KycApproveRequest,
    KycReviewQuery,
    LimitChangeRequest,
    ReasonRequest,
    ReviewList,
    ReviewQuery,
    ReviewResponse,
    RoleGrantRequest,
    UnfreezeRequest,
    UserLookupQuery,
)
from schemas.routing import RateClass, Route, RouteTable

__all__ = [
    "ADMINS",
    "ADMIN_READERS",
    "APPROVE_KYC_REVIEW",
    "APPROVE_REVIEW",
    "ARCHIVE_DAY",
    "AUDIT_RECORDS",
    "CHANGE_LIMIT",
    "DECLINE_REVIEW",
    "FREEZE_USER",
    "GET_ARCHIVE",
    "GET_KYC_DOCUMENT",
    "GET_REPORT",
    "GET_REVIEW",
    "GET_FRAUD_THRESHOLDS",
    "GET_USER",
    "GRANT_ROLE",
    "LIST_KYC_REVIEWS",
    "LIST_LIMITS",
    "LIST_REVIEWS",
    "LOOKUP_USERS",
    "OPERATORS",
    "READERS",
    "REJECT_KYC_REVIEW",
    "REVOKE_ROLE",
    "UPDATE_FRAUD_THRESHOLDS",
    "ROUTES",
    "UNFREEZE_USER",
    "ERASE_USER",
    "VERIFY_AUDIT",
]

# Who may do what, by area (see the module docstring).
OPERATORS = ("support", "admin")  # work the queues and the users
READERS = ("support", "admin", "auditor")  # read the queues and the users
ADMINS = ("admin",)  # roles, limits, fraud thresholds
ADMIN_READERS = ("admin", "auditor")  # read roles, limits and thresholds; the audit and reports

LOOKUP_USERS = Route(
    method="GET",
    path="/v1/admin/users",
    operation_id="adminLookupUsers",
    summary="Look a user up by e-mail address",
    query_model=UserLookupQuery,
    response_model=AdminUserList,
    roles=READERS,
    description="The user with this e-mail address (any case), with roles, wallets and latest payments; "
    "an empty list if there is none.",
    rate_class=RateClass.READ,
)
GET_USER = Route(
    method="GET",
    path="/v1/admin/users/{user_id}",
    operation_id="adminGetUser",
    summary="A user, with roles, wallets and latest payments",
    response_model=AdminUserResponse,
    error_statuses=(404,),
    roles=READERS,
    rate_class=RateClass.READ,
)
GRANT_ROLE = Route(
    method="POST",
    path="/v1/admin/users/{user_id}/roles",
    operation_id="adminGrantRole",
    summary="Grant an operator role",
    request_model=RoleGrantRequest,
    response_model=AdminUserResponse,
    error_statuses=(404,),
    roles=ADMINS,
    description="Granting a role the user holds changes nothing. Recorded in the audit trail.",
    rate_class=RateClass.WRITE,
)
REVOKE_ROLE = Route(
    method="POST",
    path="/v1/admin/users/{user_id}/roles/{role}/revoke",
    operation_id="adminRevokeRole",
    summary="Revoke an operator role",
    request_model=EmptyRequest,
    request_body_required=False,
    response_model=AdminUserResponse,
    error_statuses=(404, 409),
    roles=ADMINS,
    description="The role stops working at the user's next call, whatever their token says. An admin "
    "cannot revoke their own admin role (409). Recorded in the audit trail.",
    rate_class=RateClass.WRITE,
)

FREEZE_USER = Route(
    method="POST",
    path="/v1/admin/users/{user_id}/freeze",
    operation_id="adminFreezeUser",
    summary="Freeze an account, saying why",
    request_model=ReasonRequest,
    response_model=AdminUserResponse,
    error_statuses=(404,),
    roles=OPERATORS,
    description="A frozen account still signs in and reads; sending, paying a request, withdrawing and "
    "receiving answer 403 `account_frozen`. Its payments not settled yet, sent or received (pending or "
    "held), are declined with `account_frozen` and the funds held for them returned. Freezing a frozen "
    "account keeps its first reason. Recorded in the audit trail (`user.freeze`).",
    rate_class=RateClass.WRITE,
)
UNFREEZE_USER = Route(
    method="POST",
    path="/v1/admin/users/{user_id}/unfreeze",
    operation_id="adminUnfreezeUser",
    summary="Lift an account's freeze",
    request_model=UnfreezeRequest,
    request_body_required=False,
    response_model=AdminUserResponse,
    error_statuses=(404,),
    roles=OPERATORS,
    description="The account sends, withdraws and receives again; payments declined while it was frozen "
    "stay declined. Recorded in the audit trail (`user.unfreeze`).",
    rate_class=RateClass.WRITE,
)

ERASE_USER = Route(
    method="POST",
    path="/v1/admin/users/{user_id}/erase",
    operation_id="adminEraseUser",
    summary="Erase an account (a data subject's request made to support), saying why",
    request_model=ReasonRequest,
    response_model=ErasureResponse,
    error_statuses=(404, 409),
    roles=ADMINS,
    description="As `DELETE /v1/users/me` for the user: the personal data key is destroyed, the account "
    "closed and its tokens refused at once; a wallet that still holds money is a 409 "
    "`balance_remaining`. Recorded in the audit trail (`user.erase`) naming the admin, with ids only.",
    rate_class=RateClass.WRITE,
)

# --- limits per KYC level ------------------------------------------------------------------------

LIST_LIMITS = Route(
    method="GET",
    path="/v1/admin/limits",
    operation_id="adminListLimits",
    summary="The limits of every KYC level, in USD",
    response_model=AdminLimitList,
    roles=ADMIN_READERS,
    description="Per level (`none`, `basic`, `verified`): `single_payment`, `sent_24h`, `sent_30d` and "
    "`withdrawal_24h`, in USD minor units, with who set each last.",
    rate_class=RateClass.READ,
)
CHANGE_LIMIT = Route(
    method="POST",
    path="/v1/admin/limits/{kyc_level}/{limit}",
    operation_id="adminChangeLimit",
    summary="Change one limit of a KYC level",
    request_model=LimitChangeRequest,
    response_model=AdminLevelLimits,
    error_statuses=(404, 422),
    roles=ADMINS,
    description="The new amount applies to every check from now on (payments already accepted by the saga "
    "stay accepted). A level's limits must keep single_payment <= sent_24h <= sent_30d, each at most "
    "100,000,000 USD (422 `limits_inconsistent`); an unknown level or limit is a 404. Recorded in the "
    "audit trail (`limit.change`, with the old and new amounts).",
    rate_class=RateClass.WRITE,
)

# --- the review queue of held payments ---------------------------------------------------------

LIST_REVIEWS = Route(
    method="GET",
    path="/v1/admin/reviews",
    operation_id="adminListReviews",
    summary="The review queue: held payments, oldest first",
    query_model=ReviewQuery,
    response_model=ReviewList,
    roles=READERS,
    description="Open reviews by default (`status` shows decided ones), oldest first, each with the "
    "payment, the rules that fired and the payer's history.",
    rate_class=RateClass.READ,
)
GET_REVIEW = Route(
    method="GET",
    path="/v1/admin/reviews/{payment_id}",
    operation_id="adminGetReview",
    summary="The review of a held payment",
    response_model=ReviewResponse,
    error_statuses=(404,),
    roles=READERS,
    rate_class=RateClass.READ,
)
APPROVE_REVIEW = Route(
    method="POST",
    path="/v1/admin/reviews/{payment_id}/approve",
    operation_id="adminApproveReview",
    summary="Approve a held payment",
    request_model=ApproveReviewRequest,
    request_body_required=False,
    response_model=ReviewResponse,
    error_statuses=(404, 409),
    roles=OPERATORS,
    description="The payment resumes: the funds held for it are posted and the payee is credited "
    "(`payment.released`, then `payment.completed`). Approving again answers as the first time; a "
    "declined review is a 409 `review_already_decided`. Recorded in the audit trail.",
    rate_class=RateClass.WRITE,
)
DECLINE_REVIEW = Route(
    method="POST",
    path="/v1/admin/reviews/{payment_id}/decline",
    operation_id="adminDeclineReview",
    summary="Decline a held payment",
    request_model=ReasonRequest,
    response_model=ReviewResponse,
    error_statuses=(404, 409),
    roles=OPERATORS,
    description="The funds held for the payment return to the payer and it is `declined` with "
    "`review_declined`; `reason` is the payment's `failure_message`, which the payer reads, so write "
    "it for them. Declining again answers as the first time; an approved review is a 409 "
    "`review_already_decided`. Recorded in the audit trail.",
    rate_class=RateClass.WRITE,
)

LIST_KYC_REVIEWS = Route(
    method="GET",
    path="/v1/admin/kyc-reviews",
    operation_id="adminListKycReviews",
    summary="Identity documents waiting for a decision, oldest first",
    query_model=KycReviewQuery,
    response_model=AdminKycReviewList,
    roles=READERS,
    description="The documents the sandbox verifier sent to manual review (status `review`), oldest "
    "upload first, a page at a time (`starting_after`). Numbers are shown by their last four "
    "characters; the document itself is `GET /v1/admin/kyc-documents/{document_id}`.",
    rate_class=RateClass.READ,
)
APPROVE_KYC_REVIEW = Route(
    method="POST",
    path="/v1/admin/kyc-reviews/{document_id}/approve",
    operation_id="adminApproveKycReview",
    summary="Approve a document in review: the user is verified",
    request_model=KycApproveRequest,
    request_body_required=False,
    response_model=AdminKycDocumentResponse,
    error_statuses=(404, 409),
    roles=OPERATORS,
    description="Records `kyc.verified` and the action in the audit trail. Approving again answers "
    "the same; a document rejected in review is a 409 `review_already_decided`, one the verifier "
    "decided a 409 `kyc_document_not_in_review`.",
    rate_class=RateClass.WRITE,
)
REJECT_KYC_REVIEW = Route(
    method="POST",
    path="/v1/admin/kyc-reviews/{document_id}/reject",
    operation_id="adminRejectKycReview",
    summary="Reject a document in review, saying why",
    request_model=ReasonRequest,
    response_model=AdminKycDocumentResponse,
    error_statuses=(404, 409),
    roles=OPERATORS,
    description="Records `kyc.rejected` (the user stays at `basic` and may upload another document) "
    "and the action, with its reason, in the audit trail. Rejecting again answers the same; a "
    "document approved in review is a 409 `review_already_decided`.",
    rate_class=RateClass.WRITE,
)
GET_KYC_DOCUMENT = Route(
    method="GET",
    path="/v1/admin/kyc-documents/{document_id}",
    operation_id="adminGetKycDocument",
    summary="An identity document: its full number, the user's profile and the file",
    response_model=AdminKycDocumentDetail,
    error_statuses=(404,),
    roles=OPERATORS,
    description="For support and admins only. The file is read from the encrypted documents bucket "
    "through this function and returned base64-encoded with its content type.",
    rate_class=RateClass.READ,
)

# --- the audit trail and the reports --------------------------------------------------------------

AUDIT_RECORDS = Route(
    method="GET",
    path="/v1/admin/audit",
    operation_id="adminAuditRecords",
    summary="An entity's audit records, with their place in the hash chain",
    query_model=AuditQuery,
    response_model=AuditRecordList,
    roles=ADMIN_READERS,
    description="Every event that names the entity (a payment, and the decisions on its review; a user; "
    "a KYC document), oldest first, each with its `seq`, `prev_hash` and `hash` in the chain and the "
    "event exactly as hashed. Paged by `starting_after` (a seq).",
    rate_class=RateClass.READ,
)
VERIFY_AUDIT = Route(
    method="GET",
    path="/v1/admin/audit/verify",
    operation_id="adminVerifyAudit",
    summary="Walk the audit hash chain and name its first broken link",
    query_model=AuditVerifyQuery,
    response_model=AuditVerification,
    roles=ADMIN_READERS,
    description="Recomputes every hash from `from` (default 1, anchored on the record before it) to `to` "
    "(default: the head) and compares each record with its neighbours and the head. `ok` is false "
    "and `first_broken_seq` names the first link that does not hold, with the reason, when a record "
    "was changed, removed or reordered. `paystream audit verify` is the same walk.",
    rate_class=RateClass.READ,
)
GET_REPORT = Route(
    method="GET",
    path="/v1/admin/reports/{kind}",
    operation_id="adminGetReport",
    summary="A regulatory report of one UTC day, as CSV",
    query_model=ReportQuery,
    response_model=None,
    response_content_type="text/csv",
    error_statuses=(404,),
    roles=ADMIN_READERS,
    description="`kind` is `daily-transactions` (the day's transactions summed per currency, type and "
    "status), `large-transactions` (those at or above the reporting threshold in USD, 10,000 by "
    "default) or `flagged-activity` (holds, fraud declines, reviews with their decisions and "
    "reviewers, and reconciliation differences). Built from the database when asked; the daily "
    "`reconcile` run stores the same CSV in the archive bucket. Cells that a spreadsheet would read "
    "as a formula are prefixed with `'`. An unknown kind is a 404, a date not written YYYY-MM-DD a 400.",
    rate_class=RateClass.READ,
)

ARCHIVE_DAY = Route(
    method="POST",
    path="/v1/admin/archive",
    operation_id="adminArchiveDay",
    summary="Archive a day now: the audit chain's export and the three reports",
    request_model=ArchiveDayRequest,
    response_model=DayArchive,
    roles=ADMINS,
    description="What the scheduled `archive-audit` and `reconcile` runs store for an ended day, done now "
    "for `date` (after an outage, or for today so far): the day's audit records as gzipped JSON Lines "
    "with the head hash in the object's metadata, and the three reports as CSV, each under SSE-KMS. "
    "An object already there with the same bytes is not written again (`written` false). It does not "
    "reconcile the day (the scheduled run does, once the day has ended). Recorded in the audit trail.",
    rate_class=RateClass.WRITE,
)
GET_ARCHIVE = Route(
    method="GET",
    path="/v1/admin/archive",
    operation_id="adminGetArchive",
    summary="What a day's archive holds",
    query_model=ArchiveQuery,
    response_model=DayArchive,
    error_statuses=(404,),
    roles=ADMIN_READERS,
    description="The objects stored for `date` in the archive bucket (the audit export and the reports), "
    "with the digests and the head hash their metadata records; 404 when nothing was archived for it.",
    rate_class=RateClass.READ,
)

# --- fraud thresholds ---------------------------------------------------------------------------

GET_FRAUD_THRESHOLDS = Route(
    method="GET",
    path="/v1/admin/fraud-thresholds",
    operation_id="adminGetFraudThresholds",
    summary="The fraud thresholds in force, with their defaults",
    response_model=FraudThresholdsResponse,
    roles=ADMIN_READERS,
    description="Every threshold and weight of the fraud rules (docs/operators.md explains each), as "
    "score-fraud applies them, the defaults from the settings, and who changed them last.",
    rate_class=RateClass.READ,
)
UPDATE_FRAUD_THRESHOLDS = Route(
    method="POST",
    path="/v1/admin/fraud-thresholds",
    operation_id="adminUpdateFraudThresholds",
    summary="Change fraud thresholds",
    request_model=FraudThresholdsUpdate,
    response_model=FraudThresholdsResponse,
    roles=ADMINS,
    description="Names the thresholds to change; the others keep their values. The new set must be "
    "consistent (a review limit above its decline limit is a 400 `fraud_thresholds_inconsistent`). "
    "score-fraud applies a change within `fraud_thresholds_cache_seconds` (10 s by default). Recorded "
    "in the audit trail with each old and new value.",
    rate_class=RateClass.WRITE,
)

ROUTES = RouteTable(
    "admin",
    (
        # users and roles
        LOOKUP_USERS,
        GET_USER,
        GRANT_ROLE,
        REVOKE_ROLE,
        FREEZE_USER,
        UNFREEZE_USER,
        ERASE_USER,
        # limits per KYC level
        LIST_LIMITS,
        CHANGE_LIMIT,
        # the review queue of held payments
        LIST_REVIEWS,
        GET_REVIEW,
        APPROVE_REVIEW,
        DECLINE_REVIEW,
        # KYC
        LIST_KYC_REVIEWS,
        APPROVE_KYC_REVIEW,
        REJECT_KYC_REVIEW,
        GET_KYC_DOCUMENT,
        # the audit trail and the reports
        AUDIT_RECORDS,
        VERIFY_AUDIT,
        GET_REPORT,
        ARCHIVE_DAY,
        GET_ARCHIVE,
        # fraud thresholds
        GET_FRAUD_THRESHOLDS,
        UPDATE_FRAUD_THRESHOLDS,
    ),
)
