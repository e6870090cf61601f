"""The routes of `admin`: the operator side. Every route names the roles it admits; any other
caller gets 403 `authorization_error` (docs/operators.md has the matrix). A route that reads
(GET) admits auditors where its area is theirs to read; auditors never decide or change.
"""

from __future__ import annotations

from schemas.api import EmptyRequest
from schemas.operators import (
    AdminKycDocumentDetail,
    AdminKycDocumentResponse,
    AdminKycReviewList,
    AdminUserList,
    AdminUserResponse,
    ApproveReviewRequest,
    FraudThresholdsResponse,
    FraudThresholdsUpdate,
    KycApproveRequest,
    KycReviewQuery,
    ReasonRequest,
    ReviewList,
    ReviewQuery,
    ReviewResponse,
    RoleGrantRequest,
    UserLookupQuery,
)
from schemas.routing import Route, RouteTable

__all__ = [
    "ADMINS",
    "ADMIN_READERS",
    "APPROVE_REVIEW",
    "DECLINE_REVIEW",
    "GET_REVIEW",
    "GET_FRAUD_THRESHOLDS",
    "GET_USER",
    "APPROVE_KYC_REVIEW",
    "GET_KYC_DOCUMENT",
    "GRANT_ROLE",
    "LIST_REVIEWS",
    "LIST_KYC_REVIEWS",
    "LOOKUP_USERS",
    "OPERATORS",
    "READERS",
    "REJECT_KYC_REVIEW",
    "REVOKE_ROLE",
    "UPDATE_FRAUD_THRESHOLDS",
    "ROUTES",
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
)
GET_USER = Route(
    method="GET",
    path="/v1/admin/users/{user_id}",
    operation_id="adminGetUser",
    summary="A user, with roles, wallets and latest payments",
    response_model=AdminUserResponse,
    error_statuses=(404,),
    roles=READERS,
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
)
GET_REVIEW = Route(
    method="GET",
    path="/v1/admin/reviews/{payment_id}",
    operation_id="adminGetReview",
    summary="The review of a held payment",
    response_model=ReviewResponse,
    error_statuses=(404,),
    roles=READERS,
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
)

ROUTES = RouteTable(
    "admin",
    (
        # users and roles
        LOOKUP_USERS,
        GET_USER,
        GRANT_ROLE,
        REVOKE_ROLE,
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
        # fraud thresholds
        GET_FRAUD_THRESHOLDS,
        UPDATE_FRAUD_THRESHOLDS,
    ),
)
