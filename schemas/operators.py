"""Request and response models of the operator side (`/v1/admin/...`): users and roles, the
review queue of held payments, KYC reviews.

Kept apart from :mod:`schemas.api`, the client contract, which it builds on; the OpenAPI
document and the exported JSON Schemas list both.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, create_model, model_validator

from schemas import audit
from schemas.api import (
    EMAIL_LENGTH_MAX,
    NOTE_LENGTH_MAX,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    CurrencyCode,
    Identifier,
    KycDocumentResponse,
    KycLevelName,
    KycProfileResponse,
    LimitNameLiteral,
    OperatorRole,
    PaymentResponse,
    UserResponse,
    UtcDatetime,
    WalletResponse,
    _Request,
    _Response,
)
from schemas.text import normalise_email

__all__ = [
    "REQUEST_MODELS",
    "RESPONSE_MODELS",
    "AdminKycDocumentDetail",
    "AdminKycDocumentFile",
    "AdminKycDocumentResponse",
    "AdminKycReviewList",
    "AdminLevelLimits",
    "AdminLimit",
    "AdminLimitList",
    "AdminUserList",
    "AdminUserResponse",
    "FRAUD_THRESHOLD_DESCRIPTIONS",
    "FRAUD_THRESHOLD_VALUE_MAX",
    "FraudThresholds",
    "FraudThresholdsResponse",
    "FraudThresholdsUpdate",
    "ApproveReviewRequest",
    "KycApproveRequest",
    "KycReviewQuery",
    "LimitChangeRequest",
    "OperatorRole",
    "PayerHistory",
    "PreviousReviews",
    "ReasonRequest",
    "ReviewList",
    "ReviewPayment",
    "ReviewQuery",
    "ReviewResponse",
    "ReviewStatusName",
    "RoleGrantRequest",
    "UnfreezeRequest",
    "UserLookupQuery",
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

    email: Annotated[str, Field(min_length=3, max_length=EMAIL_LENGTH_MAX), AfterValidator(normalise_email)]

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


# --- the review queue of held payments ---------------------------------------------------------

# Where a review stands (shared.domain.review.ReviewStatus).
ReviewStatusName = Literal["open", "approved", "declined"]
# Fraud scores run from 0 (no signal) to 100 (certain fraud).
_FraudScore = Annotated[int, Field(ge=0, le=100)]


class ReviewQuery(BaseModel):
    """Query of `GET /v1/admin/reviews`: a page of reviews, oldest first, and filters that all
    must hold."""

    # Query values always arrive as strings ("25" must become 25), as in ListQuery.
    model_config = _Request.model_config

    limit: Annotated[int, Field(ge=1, le=PAGE_LIMIT_MAX, description="How many reviews to return (1 to 100).")] = (
        PAGE_LIMIT_DEFAULT
    )
    starting_after: Annotated[
        Identifier | None,
        Field(description="A cursor: the payment id of the last review of the previous page (next page)."),
    ] = None
    status: Annotated[ReviewStatusName, Field(description="Only reviews in this status (default: the open ones).")] = (
        "open"
    )
    currency: Annotated[CurrencyCode | None, Field(description="Only payments in this currency.")] = None
    min_score: Annotated[_FraudScore | None, Field(description="Only reviews whose fraud score is at least this.")] = (
        None
    )


class ApproveReviewRequest(_Request):
    """Body of `POST /v1/admin/reviews/{payment_id}/approve`: an optional note for the audit trail."""

    reason: _Reason | None = None


class ReviewPayment(_Response):
    """The held payment, as it was asked for."""

    id: str
    amount: int = Field(description="Minor units of `currency`.")
    currency: str
    payer_id: str
    payer_email: str
    payee_id: str
    payee_email: str
    note: str
    created_at: UtcDatetime


class PreviousReviews(_Response):
    """How the payer's reviews opened before this one stand."""

    open: int
    approved: int
    declined: int = Field(description="Declined by a reviewer, or by the sweeper for their age.")


class PayerHistory(_Response):
    """What the payer's past says, besides the payment under review."""

    account_created_at: UtcDatetime
    account_age_seconds: int = Field(description="How old the payer's account was when the review opened.")
    completed_payments: int = Field(
        description="The payer's other payments that reached their payee (refunded since or not)."
    )
    completed_volume_usd: int = Field(
        description="Their total in USD minor units (cents), each currency at the newest reference rate, rounded down."
    )
    previous_reviews: PreviousReviews


class ReviewResponse(_Response):
    """A held payment's review: the payment, why it was held, the payer's history, and the
    decision once made. `reasons` are the rules that fired (for operators only); the payer sees
    `review_reason`, a coarse category."""

    payment_id: str
    status: ReviewStatusName
    fraud_score: int
    reasons: list[str]
    review_reason: str
    created_at: UtcDatetime = Field(description="When the payment was held and the review opened.")
    decided_by: str | None = Field(description="The reviewer's user id; null while open or if it expired.")
    decision_reason: str | None
    decided_at: UtcDatetime | None
    payment: ReviewPayment
    payer_history: PayerHistory


class ReviewList(_Response):
    data: list[ReviewResponse]
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


# --- limits per KYC level, and frozen accounts --------------------------------------------------


class LimitChangeRequest(_Request):
    """Body of `POST /v1/admin/limits/{kyc_level}/{limit}`: the new amount, and why."""

    amount: Annotated[
        int,
        Field(
            gt=0,
            description="The new limit in USD minor units (cents). A level's limits keep single_payment <= "
            "sent_24h <= sent_30d.",
        ),
    ]
    reason: _Reason


class AdminLimit(_Response):
    limit: LimitNameLiteral
    amount: int = Field(description="USD minor units (cents).")
    window_seconds: int | None = Field(description="The window the limit counts over; null for `single_payment`.")
    updated_by: str | None = Field(description="The admin who set it last; null for the seeded default.")
    updated_at: UtcDatetime


class AdminLevelLimits(_Response):
    """The limits of one KYC level, in USD."""

    kyc_level: KycLevelName
    currency: Literal["USD"]
    limits: list[AdminLimit]


class AdminLimitList(_Response):
    data: list[AdminLevelLimits]
    has_more: bool


class UnfreezeRequest(_Request):
    """Body of `POST /v1/admin/users/{user_id}/unfreeze`: an optional note for the audit trail."""

    reason: _Reason | None = None


# --- fraud thresholds ----------------------------------------------------------------------------

# No threshold is ever this large: a typo of a few extra digits is refused, not stored.
FRAUD_THRESHOLD_VALUE_MAX = 10**12
# Every threshold of the fraud rules (shared.domain.fraud.FraudRules has the same names), with
# what it means; docs/operators.md tells how the rules use them.
FRAUD_THRESHOLD_DESCRIPTIONS: dict[str, str] = {
    "review_above_usd": "A payment above this many US dollars is held for review.",
    "decline_above_usd": "A payment above this many US dollars is declined.",
    "velocity_window_seconds": "The window in which a payer's payments are counted.",
    "velocity_review_above": "More payments than this in the window are held for review.",
    "velocity_decline_above": "More payments than this in the window are declined.",
    "new_account_seconds": "An account younger than this is new.",
    "new_account_review_above_usd": "A new account's payment above this many US dollars is held.",
    "review_points": "The weighted rules hold a payment whose points reach this.",
    "points_floor_usd": "The weighted rules hold only payments of at least this many US dollars.",
    "first_payee_points": "Points when the payer never paid this payee before.",
    "young_account_seconds": "A payer account younger than this is young.",
    "young_account_points": "Points when the payer's account is young.",
    "fan_in_window_seconds": "The window in which a payee's distinct payers are counted.",
    "fan_in_payee_age_seconds": "Fan-in applies to payees whose account is younger than this.",
    "fan_in_payers_above": "Fan-in fires when more distinct payers than this paid the payee in its window.",
    "fan_in_points": "Points when fan-in fires.",
    "round_amount_major": "An amount is round when it is a whole multiple of this many units of its currency.",
    "round_burst_window_seconds": "The window in which a payer's round amounts are counted.",
    "round_burst_above": (
        "A round payment fires when the payer sent more than this many round amounts in the window before it."
    ),
    "round_burst_points": "Points when a round-amount burst fires.",
    "payee_under_review_points": "Points when the payee has a held payment or a document in review.",
    "country_history_payments_min": "The country rule needs at least this many earlier payments by the payer.",
    "country_change_points": "Points when the payee's country is neither the payer's nor an earlier payee's.",
}


def _threshold_fields(required: bool) -> dict[str, object]:
    kind = Annotated[int, Field(ge=0, le=FRAUD_THRESHOLD_VALUE_MAX)]
    return {
        name: (kind, Field(description=text)) if required else (kind | None, Field(None, description=text))
        for name, text in FRAUD_THRESHOLD_DESCRIPTIONS.items()
    }


FraudThresholds = create_model(  # type: ignore[call-overload]
    "FraudThresholds",
    __base__=_Response,
    __doc__="Every fraud threshold, as score-fraud applies it.",
    **_threshold_fields(required=True),
)
_FraudThresholdsChanges = create_model(  # type: ignore[call-overload]
    "_FraudThresholdsChanges", __base__=_Request, **_threshold_fields(required=False)
)


class FraudThresholdsUpdate(_FraudThresholdsChanges):
    """Body of `PUT` (or `POST`) `/v1/admin/fraud-thresholds`: the thresholds to change, at least
    one; the others keep their values. `reason` goes to the audit trail."""

    reason: _Reason | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> FraudThresholdsUpdate:
        if not any(getattr(self, name) is not None for name in FRAUD_THRESHOLD_DESCRIPTIONS):
            raise ValueError("name at least one threshold to change")
        return self

    def changes(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in FRAUD_THRESHOLD_DESCRIPTIONS if getattr(self, name) is not None}


class FraudThresholdsResponse(_Response):
    """The fraud thresholds in force, their defaults (from the settings), and the last change."""

    thresholds: FraudThresholds
    defaults: FraudThresholds
    updated_at: UtcDatetime | None = Field(description="When an admin last changed a threshold; null if never.")
    updated_by: Identifier | None = Field(description="Who made that change; null if never, or from the command line.")


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    ReasonRequest,
    RoleGrantRequest,
    UserLookupQuery,
    ReviewQuery,
    ApproveReviewRequest,
    KycReviewQuery,
    KycApproveRequest,
    *audit.REQUEST_MODELS,
    LimitChangeRequest,
    UnfreezeRequest,
    FraudThresholdsUpdate,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    AdminUserResponse,
    AdminUserList,
    ReviewResponse,
    ReviewList,
    AdminKycDocumentResponse,
    AdminKycReviewList,
    AdminKycDocumentFile,
    AdminKycDocumentDetail,
    *audit.RESPONSE_MODELS,
    AdminLimit,
    AdminLevelLimits,
    AdminLimitList,
    FraudThresholds,
    FraudThresholdsResponse,
)
