"""Request and response models of the operator side (`/v1/admin/...`): users and roles, KYC reviews.

Kept apart from :mod:`schemas.api`, the client contract, which it builds on; the OpenAPI
document and the exported JSON Schemas list both.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from schemas.api import (
    EMAIL_LENGTH_MAX,
    NOTE_LENGTH_MAX,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    Identifier,
    KycDocumentResponse,
    KycProfileResponse,
    OperatorRole,
    PaymentResponse,
    UserResponse,
    UtcDatetime,
    WalletResponse,
    _Request,
    _Response,
)

__all__ = [
    "REQUEST_MODELS",
    "RESPONSE_MODELS",
    "AdminUserList",
    "AdminUserResponse",
    "OperatorRole",
    "ReasonRequest",
    "RoleGrantRequest",
    "UserLookupQuery",
    "KycReviewQuery",
    "KycApproveRequest",
    "AdminKycDocumentResponse",
    "AdminKycReviewList",
    "AdminKycDocumentFile",
    "AdminKycDocumentDetail",
]

# An operator's reason for a decision: shown to other operators and kept in the audit trail.
REASON_LENGTH_MAX = NOTE_LENGTH_MAX
# How many of a user's payments an operator sees on the user's page, newest first.
ADMIN_USER_PAYMENTS_MAX = 20

_Reason = Annotated[str, Field(min_length=1, max_length=REASON_LENGTH_MAX)]


class ReasonRequest(_Request):
    """The body of an operator's decision that needs saying why (freeze, decline)."""

    reason: _Reason


class RoleGrantRequest(_Request):
    """Body of `POST /v1/admin/users/{user_id}/roles`."""

    role: OperatorRole
    reason: _Reason | None = None


class UserLookupQuery(BaseModel):
    """Query of `GET /v1/admin/users`: a user is looked up by e-mail address (any case)."""

    model_config = _Request.model_config

    email: Annotated[str, Field(min_length=3, max_length=EMAIL_LENGTH_MAX)]

    @model_validator(mode="after")
    def _an_address(self) -> UserLookupQuery:
        if "@" not in self.email:
            raise ValueError("email must be an e-mail address")
        return self


class AdminUserResponse(UserResponse):
    """A user as an operator sees them: the profile, roles, freeze, wallets and latest payments."""

    frozen_at: Annotated[UtcDatetime | None, Field(description="When the account was frozen; null if it is not.")]
    frozen_reason: str | None
    wallets: list[WalletResponse]
    payments: list[PaymentResponse] = Field(description=f"The user's latest {ADMIN_USER_PAYMENTS_MAX} payments.")


class AdminUserList(_Response):
    data: list[AdminUserResponse]
    has_more: bool


# --- KYC reviews and documents ----------------------------------------------------------------


class KycReviewQuery(BaseModel):
    """Query of `GET /v1/admin/kyc-reviews`: a page of the queue, oldest first."""

    model_config = _Request.model_config

    limit: Annotated[int, Field(ge=1, le=PAGE_LIMIT_MAX, description="How many items to return (1 to 100).")] = (
        PAGE_LIMIT_DEFAULT
    )
    starting_after: Annotated[
        Identifier | None,
        Field(description="A cursor: the id of the last document of the previous page (next page)."),
    ] = None


class KycApproveRequest(_Request):
    """Body of `POST /v1/admin/kyc-reviews/{document_id}/approve` (the reason is optional)."""

    reason: _Reason | None = None


class AdminKycDocumentResponse(KycDocumentResponse):
    """An identity document as an operator sees it in the queue, with its decisions."""

    user_id: str
    review_reason: str | None = Field(description="Why the verifier sent it to manual review; null if it did not.")
    decided_by: str | None = Field(description="The operator who decided it; null when the verifier did.")
    decision_reason: str | None
    decided_at: Annotated[UtcDatetime | None, Field(description="When it was verified or rejected.")]


class AdminKycReviewList(_Response):
    data: list[AdminKycDocumentResponse]
    has_more: bool


class AdminKycDocumentFile(_Response):
    """The uploaded file itself, read back from the documents bucket."""

    content_type: str
    size_bytes: int
    sha256: str = Field(description="Hex SHA-256 of the bytes, as computed at upload.")
    content_base64: str = Field(description="The bytes, base64-encoded.")


class AdminKycDocumentDetail(AdminKycDocumentResponse):
    """One identity document for support and admins: the full number, the profile the user gave,
    and the file."""

    document_number: str
    profile: KycProfileResponse | None
    file: AdminKycDocumentFile


REQUEST_MODELS: tuple[type[BaseModel], ...] = (ReasonRequest, RoleGrantRequest, UserLookupQuery)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (AdminUserResponse, AdminUserList)
# Appended, not interleaved, so that each area's models stay together.
REQUEST_MODELS += (KycReviewQuery, KycApproveRequest)
RESPONSE_MODELS += (AdminKycDocumentResponse, AdminKycReviewList, AdminKycDocumentFile, AdminKycDocumentDetail)
