"""Request and response bodies of Paystream's public HTTP contract (core).

Requests are strict: unknown fields are rejected, surrounding whitespace is stripped from text
(passwords excepted) and amounts must be JSON integers of minor units, so `10.5`, `"10"` and
`true` never become money. Whether a well-formed currency code is one Paystream *supports* is not
checked here: the function checks it, so that the client gets `currency_not_supported` rather
than a generic validation error.

Responses ignore unknown attributes so that a function can build one from a wider row, and their
datetimes serialize as ISO 8601 in UTC (`2025-03-14T09:26:53Z`).

The field types at the top of this module (`AmountMinor`, `CurrencyCode`, `Identifier`,
`UtcDatetime`) are shared with the event payloads in :mod:`schemas.events`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from schemas.text import iso_datetime_text, normalise_email, normalise_email_or_id, refuse_unsafe_text

__all__ = [
    # Bounds and vocabularies.
    "AMOUNT_MINOR_MAX",
    "IDENTIFIER_LENGTH_MAX",
    "NOTE_LENGTH_MAX",
    "IDEMPOTENCY_KEY_LENGTH_MAX",
    "PAGE_LIMIT_DEFAULT",
    "PAGE_LIMIT_MAX",
    "ERROR_TYPES",
    "PAYMENT_STATUSES",
    "TOPUP_STATUSES",
    "CONVERSION_STATUSES",
    "WITHDRAWAL_STATUSES",
    "TRANSACTION_TYPES",
    # Shared field types.
    "AmountMinor",
    "CurrencyCode",
    "CountryCode",
    "Identifier",
    "UtcDatetime",
    "ErrorType",
    "PaymentStatus",
    "TopupStatus",
    "ConversionStatus",
    "WithdrawalStatus",
    "TransactionType",
    "TransactionStatus",
    "RefundStatus",
    "PaymentRequestStatus",
    "FundingSourceType",
    # Requests.
    "SignUpRequest",
    "PasswordGrant",
    "RefreshTokenGrant",
    "RevokeRequest",
    "PasswordChangeRequest",
    "MfaCodeRequest",
    "PasswordResetRequest",
    "PasswordResetConfirmRequest",
    "EmailVerificationRequest",
    "PayRequestRequest",
    "OptionalOtp",
    "TokenRequest",
    "TOKEN_REQUEST_ADAPTER",
    "CardFundingSourceRequest",
    "BankAccountFundingSourceRequest",
    "FundingSourceRequest",
    "FUNDING_SOURCE_REQUEST_ADAPTER",
    "TopupRequest",
    "PaymentRequest",
    "ConversionQuoteRequest",
    "ConversionRequest",
    "WithdrawalRequest",
    "RefundRequest",
    "RequestMoneyRequest",
    "EmptyRequest",
    "EXPIRES_IN_DAYS_DEFAULT",
    "EXPIRES_IN_DAYS_MAX",
    "ListQuery",
    "TransactionQuery",
    "StatementQuery",
    "STATEMENT_DAYS_MAX",
    # Responses.
    "UserResponse",
    "MfaEnrolmentResponse",
    "MfaRecoveryCodes",
    "MfaStatusResponse",
    "AcceptedResponse",
    "PasswordResetResponse",
    "TokenResponse",
    "SessionResponse",
    "SessionList",
    "RevokeResponse",
    "JsonWebKey",
    "JsonWebKeySet",
    "OpenIdConfiguration",
    "FundingSourceResponse",
    "FundingSourceList",
    "WalletResponse",
    "WalletList",
    "TopupResponse",
    "PaymentResponse",
    "ConversionQuoteResponse",
    "ConversionResponse",
    "WithdrawalResponse",
    "RefundResponse",
    "RefundList",
    "PaymentRequestResponse",
    "PaymentRequestList",
    "REFUND_STATUSES",
    "PAYMENT_REQUEST_STATUSES",
    "TimelineEvent",
    "TransactionResponse",
    "TransactionList",
    "HealthResponse",
    "ErrorBody",
    "ErrorResponse",
    # Groupings used by the JSON Schema export and the OpenAPI document.
    "REQUEST_MODELS",
    "RESPONSE_MODELS",
    "NotificationResponse",
    "NotificationList",
    "REQUEST_UNIONS",
    # Know your customer.
    "KYC_LEVELS",
    "KYC_STATUSES",
    "KYC_DOCUMENT_TYPES",
    "KYC_DOCUMENT_STATUSES",
    "KYC_DOCUMENTS_PER_USER_MAX",
    "KYC_DOCUMENT_BYTES_MAX",
    "KYC_DOCUMENT_REQUEST_BYTES_MAX",
    "KycLevelName",
    "LIMIT_NAMES",
    "LimitNameLiteral",
    "LimitUsageResponse",
    "UserLimitsResponse",
    "UserExport",
    "ErasureResponse",
    "KycStatusName",
    "KycDocumentTypeName",
    "KycDocumentStatusName",
    "IsoDate",
    "KycAddress",
    "KycProfileRequest",
    "KycDocumentRequest",
    "KycAddressResponse",
    "KycProfileResponse",
    "KycDocumentResponse",
    "KycResponse",
]

# ---------------------------------------------------------------------------------------------
# Bounds. Every size a client controls has a named limit.
# ---------------------------------------------------------------------------------------------

# One quadrillion minor units (ten trillion dollars) is far above any single real payment, and
# far below 2**53, so every amount survives a round trip through a JavaScript client's float.
AMOUNT_MINOR_MAX = 10**15
# Prefixed UUIDs (`pay_` + 32 hex digits) and transfer ids built from them (`<payment_id>:debit`)
# fit comfortably; anything longer is not an id Paystream issued.
IDENTIFIER_LENGTH_MAX = 100
EMAIL_LENGTH_MAX = 320
# The password policy's own minimum (shared.domain.passwords, 12) is checked by the function, so
# that a short password is a `weak_password` like every other the policy refuses.
PASSWORD_LENGTH_MAX = 128
# A second-factor code: 6 digits, or a recovery code ("7kq2m-xw9fa"), with room for spaces.
OTP_LENGTH_MAX = 32
# A password reset token (43 characters of base64url) with room to spare.
RESET_TOKEN_LENGTH_MAX = 200
VERIFICATION_CODE_LENGTH_MAX = 16
FULL_NAME_LENGTH_MAX = 200
NOTE_LENGTH_MAX = 500
# Refresh tokens are opaque strings or JWTs; a few KiB bounds both.
TOKEN_LENGTH_MAX = 4096
PAGE_LIMIT_DEFAULT = 10
PAGE_LIMIT_MAX = 100
# Clients send a UUID; 255 leaves room for their own formats without letting a key grow unbounded.
IDEMPOTENCY_KEY_LENGTH_MAX = 255

# ---------------------------------------------------------------------------------------------
# Vocabularies.
# ---------------------------------------------------------------------------------------------

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "authorization_error",
    "not_found_error",
    "idempotency_error",
    "card_error",
    "rate_limit_error",
    "api_error",
]
ERROR_TYPES: tuple[str, ...] = get_args(ErrorType)

PaymentStatus = Literal["pending", "held", "completed", "declined", "failed", "refunded", "partially_refunded"]
PAYMENT_STATUSES: tuple[str, ...] = get_args(PaymentStatus)

RefundStatus = Literal["pending", "completed", "failed"]
REFUND_STATUSES: tuple[str, ...] = get_args(RefundStatus)

PaymentRequestStatus = Literal["open", "accepted", "paid", "declined", "cancelled", "expired"]
PAYMENT_REQUEST_STATUSES: tuple[str, ...] = get_args(PaymentRequestStatus)

TopupStatus = Literal["succeeded", "declined"]
TOPUP_STATUSES: tuple[str, ...] = get_args(TopupStatus)

ConversionStatus = Literal["completed", "failed"]
CONVERSION_STATUSES: tuple[str, ...] = get_args(ConversionStatus)

# A withdrawal is `pending` (its funds reserved) until the payout succeeds or fails.
WithdrawalStatus = Literal["pending", "succeeded", "failed"]
WITHDRAWAL_STATUSES: tuple[str, ...] = get_args(WithdrawalStatus)

# A request moves no money: it is in the history so that both people see it, never in a statement.
TransactionType = Literal["payment", "topup", "refund", "request", "conversion", "withdrawal"]
TRANSACTION_TYPES: tuple[str, ...] = get_args(TransactionType)

# A transaction is a projection of a payment, a top-up, a refund, a payment request, a conversion
# or a withdrawal, so it carries any of their statuses.
TransactionStatus = Literal[
    "pending",
    "held",
    "completed",
    "declined",
    "failed",
    "refunded",
    "partially_refunded",
    "succeeded",
    "open",
    "accepted",
    "paid",
    "cancelled",
    "expired",
]

FundingSourceType = Literal["card", "bank_account"]

# Know your customer (shared.domain.kyc): the level a user reached, where their identity check
# stands, and the identity documents accepted with their own status.
KycLevelName = Literal["none", "basic", "verified"]
KYC_LEVELS: tuple[str, ...] = get_args(KycLevelName)
# The limits of a KYC level (shared.domain.limits.LimitName).
LimitNameLiteral = Literal["single_payment", "sent_24h", "sent_30d", "withdrawal_24h"]
LIMIT_NAMES: tuple[str, ...] = get_args(LimitNameLiteral)
KycStatusName = Literal["unverified", "pending", "verified", "rejected", "review"]
KYC_STATUSES: tuple[str, ...] = get_args(KycStatusName)
KycDocumentTypeName = Literal["passport", "national_id", "driving_licence"]
KYC_DOCUMENT_TYPES: tuple[str, ...] = get_args(KycDocumentTypeName)
KycDocumentStatusName = Literal["pending", "verified", "rejected", "review"]
KYC_DOCUMENT_STATUSES: tuple[str, ...] = get_args(KycDocumentStatusName)

# ---------------------------------------------------------------------------------------------
# Shared field types.
# ---------------------------------------------------------------------------------------------

AmountMinor = Annotated[
    StrictInt,
    Field(gt=0, le=AMOUNT_MINOR_MAX, description="A positive amount in minor units (cents)."),
]
CurrencyCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{3}$",
        description="An ISO 4217 currency code, upper case.",
        examples=["USD"],
    ),
]
CountryCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{2}$", description="An ISO 3166-1 alpha-2 country code.", examples=["US"]),
]
Identifier = Annotated[str, Field(min_length=1, max_length=IDENTIFIER_LENGTH_MAX)]


def _as_utc(value: datetime) -> datetime:
    # Paystream stores every timestamp in UTC, and SQLite hands them back without tzinfo: a naive
    # value is therefore UTC, not local time. Aware values are converted so output is always `Z`.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
# A date-time in a query string: ISO 8601 text only (a number would read as a Unix time).
QueryDatetime = Annotated[datetime, BeforeValidator(iso_datetime_text), AfterValidator(_as_utc)]


def _normalised_email_text(value: Any) -> Any:
    return normalise_email(value) if isinstance(value, str) else value


# An e-mail address as it enters the platform, in its one spelling (schemas.text).
NormalisedEmail = Annotated[
    EmailStr,
    BeforeValidator(_normalised_email_text),
    Field(max_length=EMAIL_LENGTH_MAX),
    AfterValidator(normalise_email),
]
# A person's name: no control characters and no bidirectional controls (schemas.text).
PersonName = Annotated[str, Field(min_length=1, max_length=FULL_NAME_LENGTH_MAX), AfterValidator(refuse_unsafe_text)]

# Passwords keep their whitespace: stripping it would silently change the secret the user chose.
_Password = Annotated[str, StringConstraints(strip_whitespace=False)]

# ---------------------------------------------------------------------------------------------
# Requests.
# ---------------------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SignUpRequest(_Request):
    """Body of `POST /v1/users`."""

    # Normalised (NFKC, case-folded) so that sign-in, uniqueness and payments "to" an email all
    # agree on one spelling, and a look-alike address is the same address.
    email: NormalisedEmail
    password: Annotated[
        _Password,
        Field(
            min_length=1,
            max_length=PASSWORD_LENGTH_MAX,
            description="At least 12 characters, not a commonly used password, and not containing the "
            "e-mail address or the name: otherwise a 400 `weak_password` naming the rule.",
        ),
    ]
    full_name: PersonName
    country: CountryCode


class PasswordGrant(_Request):
    """OAuth2 resource-owner password grant (form body of `POST /v1/oauth/token`)."""

    grant_type: Literal["password"]
    # The e-mail address the user signed up with; compared case-insensitively by the function.
    username: Annotated[str, Field(min_length=1, max_length=EMAIL_LENGTH_MAX), AfterValidator(normalise_email)]
    # No minimum length here: a short password simply fails to authenticate, and telling the
    # caller about the sign-up policy at sign-in would leak nothing useful.
    password: Annotated[_Password, Field(min_length=1, max_length=PASSWORD_LENGTH_MAX)]
    otp: (
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=OTP_LENGTH_MAX,
                description="The current code of the second factor (or a recovery code), for an account that "
                "has one: without it a 401 `mfa_required`, a wrong one a 401 `invalid_otp`.",
            ),
        ]
        | None
    ) = None


class RefreshTokenGrant(_Request):
    """OAuth2 refresh-token grant (form body of `POST /v1/oauth/token`)."""

    grant_type: Literal["refresh_token"]
    refresh_token: Annotated[str, Field(min_length=1, max_length=TOKEN_LENGTH_MAX)]


class RevokeRequest(_Request):
    """Form body of `POST /v1/oauth/revoke` (RFC 7009): a refresh or an access token."""

    token: Annotated[str, Field(min_length=1, max_length=TOKEN_LENGTH_MAX)]
    # Where to look first; a wrong hint is not an error, the other kind is looked up too.
    token_type_hint: Literal["access_token", "refresh_token"] | None = None


class PasswordChangeRequest(_Request):
    """Body of `POST /v1/users/me/password`."""

    current_password: Annotated[_Password, Field(min_length=1, max_length=PASSWORD_LENGTH_MAX)]
    # The same rules as a new account's password (the password policy, checked by the function).
    new_password: Annotated[_Password, Field(min_length=1, max_length=PASSWORD_LENGTH_MAX)]


# The second-factor code of a request that may need one (a large payment, paying a request).
OptionalOtp = Annotated[
    str,
    Field(
        min_length=1,
        max_length=OTP_LENGTH_MAX,
        description="The current code of the payer's second factor (or a recovery code): needed above the "
        "platform's threshold (1,000 USD by default) by a payer who has turned the factor on.",
    ),
]


class MfaCodeRequest(_Request):
    """Body of `POST /v1/users/me/mfa/confirm` and `DELETE /v1/users/me/mfa`."""

    code: Annotated[
        str,
        Field(
            min_length=1,
            max_length=OTP_LENGTH_MAX,
            description="The current 6-digit code of the authenticator app (turning the factor off also "
            "takes a recovery code).",
        ),
    ]


class PasswordResetRequest(_Request):
    """Body of `POST /v1/users/password-reset`."""

    email: NormalisedEmail


class PasswordResetConfirmRequest(_Request):
    """Body of `POST /v1/users/password-reset/confirm`."""

    token: Annotated[str, Field(min_length=1, max_length=RESET_TOKEN_LENGTH_MAX)]
    new_password: Annotated[_Password, Field(min_length=1, max_length=PASSWORD_LENGTH_MAX)]


class EmailVerificationRequest(_Request):
    """Body of `POST /v1/users/me/email/verify`: the code e-mailed to the address."""

    code: Annotated[str, Field(min_length=1, max_length=VERIFICATION_CODE_LENGTH_MAX)]


class PayRequestRequest(_Request):
    """Body of `POST /v1/payment-requests/{id}/pay` (optional: `{}` or no body)."""

    otp: OptionalOtp | None = None


TokenRequest = Annotated[PasswordGrant | RefreshTokenGrant, Field(discriminator="grant_type")]
# A union is not a model: validate it through an adapter built once, at import.
TOKEN_REQUEST_ADAPTER: TypeAdapter[PasswordGrant | RefreshTokenGrant] = TypeAdapter(TokenRequest)


class CardFundingSourceRequest(_Request):
    """A card to link. The number is tokenized by the gateway and never stored."""

    type: Literal["card"]
    number: Annotated[str, Field(pattern=r"^[0-9]{12,19}$")]
    exp_month: Annotated[StrictInt, Field(ge=1, le=12)]
    exp_year: Annotated[StrictInt, Field(ge=2000, le=2100)]
    cvc: Annotated[str, Field(pattern=r"^[0-9]{3,4}$")]


class BankAccountFundingSourceRequest(_Request):
    """A US bank account to link (ABA routing number and account number)."""

    type: Literal["bank_account"]
    routing_number: Annotated[str, Field(pattern=r"^[0-9]{9}$")]
    account_number: Annotated[str, Field(pattern=r"^[0-9]{4,17}$")]
    account_holder_name: PersonName | None = None


FundingSourceRequest = Annotated[
    CardFundingSourceRequest | BankAccountFundingSourceRequest, Field(discriminator="type")
]
FUNDING_SOURCE_REQUEST_ADAPTER: TypeAdapter[CardFundingSourceRequest | BankAccountFundingSourceRequest] = TypeAdapter(
    FundingSourceRequest
)


class TopupRequest(_Request):
    """Body of `POST /v1/topups`: fund a wallet from a linked funding source."""

    funding_source_id: Identifier
    amount: AmountMinor
    currency: CurrencyCode


class PaymentRequest(_Request):
    """Body of `POST /v1/payments`: send money to another user."""

    to: Annotated[
        str,
        Field(
            min_length=1,
            max_length=EMAIL_LENGTH_MAX,
            description="The payee: an e-mail address or a user id.",
        ),
        AfterValidator(normalise_email_or_id),
    ]
    amount: AmountMinor
    currency: CurrencyCode
    note: Annotated[str, Field(max_length=NOTE_LENGTH_MAX)] = ""
    otp: OptionalOtp | None = None


class ConversionQuoteRequest(_Request):
    """Body of `POST /v1/conversions/quotes`: what converting `amount` would give."""

    from_currency: CurrencyCode
    to_currency: CurrencyCode
    amount: Annotated[
        StrictInt,
        Field(gt=0, le=AMOUNT_MINOR_MAX, description="Minor units of from_currency to convert."),
    ]


class ConversionRequest(_Request):
    """Body of `POST /v1/conversions`: either `{quote_id}` (at the quoted rate, while the quote
    is live and unused) or `{from_currency, to_currency, amount}` (at the current rate)."""

    quote_id: Identifier | None = None
    from_currency: CurrencyCode | None = None
    to_currency: CurrencyCode | None = None
    amount: Annotated[
        StrictInt | None,
        Field(gt=0, le=AMOUNT_MINOR_MAX, description="Minor units of from_currency to convert."),
    ] = None

    @model_validator(mode="after")
    def _one_form(self) -> ConversionRequest:
        direct = (self.from_currency, self.to_currency, self.amount)
        if self.quote_id is not None:
            if any(value is not None for value in direct):
                raise ValueError("give either quote_id or from_currency, to_currency and amount")
        elif any(value is None for value in direct):
            raise ValueError("give quote_id, or all of from_currency, to_currency and amount")
        return self


class WithdrawalRequest(_Request):
    """Body of `POST /v1/withdrawals`: pay out to a linked bank account."""

    funding_source_id: Identifier
    amount: AmountMinor
    currency: CurrencyCode


class RefundRequest(_Request):
    """Body of `POST /v1/payments/{payment_id}/refunds`: omit `amount` to refund what is left."""

    amount: Annotated[
        AmountMinor | None,
        Field(description="Minor units to return to the payer; the rest of the payment if omitted."),
    ] = None


EXPIRES_IN_DAYS_DEFAULT = 30
EXPIRES_IN_DAYS_MAX = 90


class RequestMoneyRequest(_Request):
    """Body of `POST /v1/payment-requests`: ask another user for money."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    payer: Annotated[
        str,
        Field(
            alias="from",
            min_length=1,
            max_length=EMAIL_LENGTH_MAX,
            description="Who is asked to pay: an e-mail address or a user id.",
        ),
        AfterValidator(normalise_email_or_id),
    ]
    amount: AmountMinor
    currency: CurrencyCode
    note: Annotated[str, Field(max_length=NOTE_LENGTH_MAX)] = ""
    expires_in_days: Annotated[
        StrictInt,
        Field(ge=1, le=EXPIRES_IN_DAYS_MAX, description="Days until the request expires (1 to 90)."),
    ] = EXPIRES_IN_DAYS_DEFAULT


class EmptyRequest(_Request):
    """The body of an action that takes no parameters (`{}` or no body at all)."""


class ListQuery(BaseModel):
    """Query string of a list endpoint: a page size and at most one cursor."""

    # Not strict, unlike the bodies: query values always arrive as strings ("25" must become 25).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    limit: Annotated[int, Field(ge=1, le=PAGE_LIMIT_MAX, description="How many items to return (1 to 100).")] = (
        PAGE_LIMIT_DEFAULT
    )
    starting_after: Annotated[
        Identifier | None,
        Field(description="A cursor: the id of the last item of the previous page (next page)."),
    ] = None
    ending_before: Annotated[
        Identifier | None,
        Field(
            description="A cursor: the id of the first item of the current page (previous page). "
            "Cannot be combined with starting_after."
        ),
    ] = None

    @model_validator(mode="after")
    def _one_cursor_at_most(self) -> ListQuery:
        # Paging forward and backward at once has no single meaning.
        if self.starting_after is not None and self.ending_before is not None:
            raise ValueError("starting_after and ending_before cannot be used together")
        return self


class TransactionQuery(ListQuery):
    """Query string of the history: a page, and filters that all must hold."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    currency: Annotated[
        CurrencyCode | None,
        Field(description="Only movements of this currency (a conversion counts in both of its)."),
    ] = None
    type: Annotated[
        TransactionType | None,
        Field(description="Only payments, top-ups, refunds, requests, conversions or withdrawals."),
    ] = None
    status: Annotated[TransactionStatus | None, Field(description="Only this status.")] = None
    created_from: Annotated[
        QueryDatetime | None,
        Field(alias="from", description="Created at or after this instant (ISO 8601; UTC if no zone)."),
    ] = None
    created_to: Annotated[
        QueryDatetime | None,
        Field(alias="to", description="Created before this instant (ISO 8601; UTC if no zone)."),
    ] = None

    @model_validator(mode="after")
    def _range_in_order(self) -> TransactionQuery:
        if self.created_from and self.created_to and self.created_from >= self.created_to:
            raise ValueError("from must be before to")
        return self


STATEMENT_DAYS_MAX = 366


class StatementQuery(BaseModel):
    """Query string of a statement: one currency and a date range (at most a year)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    currency: Annotated[CurrencyCode, Field(description="The wallet's currency.")]
    created_from: Annotated[
        QueryDatetime, Field(alias="from", description="Start, inclusive (ISO 8601; UTC if no zone).")
    ]
    created_to: Annotated[QueryDatetime, Field(alias="to", description="End, exclusive (ISO 8601; UTC if no zone).")]

    @model_validator(mode="after")
    def _range_in_order(self) -> StatementQuery:
        if self.created_from >= self.created_to:
            raise ValueError("from must be before to")
        if (self.created_to - self.created_from).days > STATEMENT_DAYS_MAX:
            raise ValueError(f"a statement covers at most {STATEMENT_DAYS_MAX} days")
        return self


# ---------------------------------------------------------------------------------------------
# Responses.
# ---------------------------------------------------------------------------------------------


# The roles an account may hold besides `user` (shared.domain.roles).
OperatorRole = Literal["support", "admin", "auditor"]


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class UserResponse(_Response):
    """A user, as the user sees themself."""

    id: str
    email: str
    full_name: str
    country: str
    kyc_status: KycStatusName
    kyc_level: KycLevelName
    roles: list[OperatorRole] = Field(default_factory=list, description="The operator roles held besides `user`.")
    email_verified: bool = Field(
        False, description="Whether the address is verified; until it is, the account sends at most 100 USD."
    )
    mfa_enabled: bool = Field(False, description="Whether sign-in and large payments need a second-factor code.")
    created_at: UtcDatetime


class MfaEnrolmentResponse(_Response):
    """A new second-factor secret, shown this once: add it to an authenticator app (the URI is
    what its QR code holds), then confirm with a first code."""

    secret: str = Field(description="The TOTP secret (base32): 6 digits, 30-second steps, SHA-1.")
    otpauth_uri: str


class MfaRecoveryCodes(_Response):
    """The second factor is on. Each recovery code stands in for a code once; they are shown
    this once."""

    mfa_enabled: bool
    recovery_codes: list[str]


class MfaStatusResponse(_Response):
    """Whether the second factor is on."""

    mfa_enabled: bool


class AcceptedResponse(_Response):
    """The request was taken; the answer says nothing more (a password reset, a new code)."""

    status: Literal["accepted"] = "accepted"


class PasswordResetResponse(_Response):
    """The password is reset and every session has ended: sign in with the new password."""

    status: Literal["password_reset"] = "password_reset"


class TokenResponse(_Response):
    """A token pair. Refresh tokens rotate: each use returns a new one."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Lifetime of the access token in seconds.")


class SessionResponse(_Response):
    """A session (one sign-in and its refreshes), as its owner sees it."""

    id: str
    user_agent: str = Field(description="The device's User-Agent at the last sign-in or refresh.")
    ip_address: str = Field(description="The client's address at the last sign-in or refresh.")
    created_at: UtcDatetime
    last_used_at: UtcDatetime
    current: bool = Field(description="Whether this is the session of the token making the request.")
    ended_at: UtcDatetime | None = None


class SessionList(_Response):
    data: list[SessionResponse]
    has_more: bool


class RevokeResponse(_Response):
    """RFC 7009 answers 200 whether or not the token was known; the body says nothing more."""


class JsonWebKey(_Response):
    """A public key that verifies access tokens (RFC 7517, RFC 8037)."""

    model_config = ConfigDict(extra="ignore")
    kty: str
    crv: str
    x: str
    y: str | None = None
    kid: str
    alg: str
    use: str


class JsonWebKeySet(_Response):
    keys: list[JsonWebKey]


class OpenIdConfiguration(_Response):
    """The discovery document (OpenID Connect Discovery 1.0, RFC 8414): where the keys and the
    token endpoints are, and what tokens are signed with."""

    issuer: str
    jwks_uri: str
    token_endpoint: str
    revocation_endpoint: str
    grant_types_supported: list[str]
    response_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    subject_types_supported: list[str]


class FundingSourceResponse(_Response):
    """A linked card or bank account; only its last four digits are ever returned."""

    id: str
    type: FundingSourceType
    brand: str | None
    last4: str
    exp_month: int | None
    exp_year: int | None
    created_at: UtcDatetime


class FundingSourceList(_Response):
    data: list[FundingSourceResponse]
    has_more: bool


class WalletResponse(_Response):
    """One currency's balance, in minor units."""

    currency: str
    available: int
    pending: int


class WalletList(_Response):
    data: list[WalletResponse]
    has_more: bool


class TopupResponse(_Response):
    id: str
    status: TopupStatus
    amount: int
    currency: str
    funding_source_id: str
    decline_code: str | None
    created_at: UtcDatetime


class PaymentResponse(_Response):
    id: str
    status: PaymentStatus
    amount: int
    currency: str
    payer_id: str
    payee_id: str
    note: str
    failure_code: str | None
    failure_message: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    review_reason: str | None = Field(
        None,
        description="Why the payment was held for review, as a coarse category such as `unusual_amount`, "
        "`unusual_activity` or `new_account` (never the rule or its threshold). Shown to the payer only; "
        "null if the payment was never held.",
    )


class ConversionQuoteResponse(_Response):
    """A conversion offer, honoured once until `expires_at`. `rate` is the customer rate (the
    mid rate less the spread), shown rounded; the amounts follow the rounding rule exactly."""

    id: str
    from_currency: str
    to_currency: str
    amount: int = Field(description="Minor units of from_currency taken from the wallet.")
    receive_amount: int = Field(
        description="Minor units of to_currency credited: the amount at the customer rate, rounded down."
    )
    fee: int = Field(description="Minor units of to_currency kept: the spread and the remainder.")
    fee_currency: str
    rate: str
    mid_rate: str
    spread_basis_points: int
    rates_published_on: str
    created_at: UtcDatetime
    expires_at: UtcDatetime


class ConversionResponse(_Response):
    id: str
    status: ConversionStatus
    quote_id: str | None
    from_currency: str
    to_currency: str
    amount: int
    receive_amount: int
    fee: int
    fee_currency: str
    rate: str
    mid_rate: str
    spread_basis_points: int
    rates_published_on: str
    failure_code: str | None
    created_at: UtcDatetime


class WithdrawalResponse(_Response):
    id: str
    status: WithdrawalStatus
    amount: int
    currency: str
    funding_source_id: str
    failure_code: str | None


class RefundResponse(_Response):
    """A refund of a payment: money from the payment's payee back to its payer."""

    id: str
    payment_id: str
    status: RefundStatus
    amount: int
    currency: str
    payer_id: str
    payee_id: str
    failure_code: str | None
    failure_message: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class RefundList(_Response):
    data: list[RefundResponse]
    has_more: bool


class PaymentRequestResponse(_Response):
    """A request for money from `payer_id` to `requester_id`; `payment_id` once it is paid."""

    id: str
    status: PaymentRequestStatus
    amount: int
    currency: str
    requester_id: str
    payer_id: str
    note: str
    payment_id: str | None
    expires_at: UtcDatetime
    created_at: UtcDatetime
    updated_at: UtcDatetime


class PaymentRequestList(_Response):
    data: list[PaymentRequestResponse]
    has_more: bool


class TimelineEvent(_Response):
    """One event in a transaction's timeline (`payment.requested`, `payment.debited`...)."""

    id: str
    type: str
    occurred_at: UtcDatetime
    data: dict[str, Any]


class TransactionResponse(_Response):
    """One line of the caller's history, seen from the caller's side (debit or credit)."""

    id: str
    type: TransactionType
    direction: Literal["debit", "credit"]
    amount: int
    currency: str
    status: TransactionStatus
    counterparty_id: str | None
    description: str
    failure_code: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    # A conversion: `amount` of `currency` left one wallet and `counter_amount` of
    # `counter_currency` entered another. Null for every other type.
    counter_amount: int | None = None
    counter_currency: str | None = None
    # Present on GET /v1/transactions/{id}; lists leave it out to stay small.
    events: list[TimelineEvent] | None = None


class TransactionList(_Response):
    data: list[TransactionResponse]
    has_more: bool


class NotificationResponse(_Response):
    """One in-app notification: what happened, in words, and the event that caused it."""

    id: str
    kind: str
    title: str
    body: str
    event_id: str
    read: bool
    created_at: UtcDatetime


class NotificationList(_Response):
    data: list[NotificationResponse]
    has_more: bool


class HealthResponse(_Response):
    """Liveness or readiness, with one entry per dependency checked."""

    status: str
    checks: dict[str, str] = Field(default_factory=dict)


class ErrorBody(_Response):
    type: ErrorType
    code: str
    message: str
    param: str | None = None


class ErrorResponse(_Response):
    """Every error: `{"error": {"type", "code", "message", "param"}}`."""

    error: ErrorBody


# ---------------------------------------------------------------------------------------------
# Know your customer: `POST /v1/kyc`, `POST /v1/kyc/documents`, `GET /v1/kyc`.
# ---------------------------------------------------------------------------------------------

LEGAL_NAME_LENGTH_MAX = FULL_NAME_LENGTH_MAX
ADDRESS_LINE_LENGTH_MAX = 200
CITY_LENGTH_MAX = 100
# A user uploads again after a rejection; this many documents is far beyond any honest need.
KYC_DOCUMENTS_PER_USER_MAX = 10
# What one identity document may weigh, decoded: a phone photo or a scanned PDF page. Over it: 413.
KYC_DOCUMENT_BYTES_MAX = 5 * 1024 * 1024
# The body of an upload: the file in base64 (four characters per three bytes) and the fields
# around it, which the usual 64 KiB bound covers.
KYC_DOCUMENT_REQUEST_BYTES_MAX = 4 * -(-KYC_DOCUMENT_BYTES_MAX // 3) + 64 * 1024
# ITU-T E.164: a plus sign, a country code that does not start with 0, at most 15 digits in all.
PHONE_E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
# Postal codes are letters, digits, spaces and hyphens (SW1A 1AA, 10115, 75008, 100-0001).
POSTAL_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 -]{0,14}[A-Za-z0-9]$"
# Passport, identity card and licence numbers: letters and digits (upper-cased when stored).
DOCUMENT_NUMBER_PATTERN = r"^[A-Za-z0-9]{5,20}$"
CONTENT_TYPE_LENGTH_MAX = 100


def _iso_date_text(value: Any) -> Any:
    # A date travels as `YYYY-MM-DD` text only: pydantic would otherwise read a number as a
    # Unix time, and 0 as 1 January 1970. The text must still name a real day.
    if not isinstance(value, str):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_text), Field(description="A date, `YYYY-MM-DD`.")]


class KycAddress(_Request):
    """A postal address."""

    line1: Annotated[str, Field(min_length=1, max_length=ADDRESS_LINE_LENGTH_MAX)]
    line2: Annotated[str, Field(min_length=1, max_length=ADDRESS_LINE_LENGTH_MAX)] | None = None
    city: Annotated[str, Field(min_length=1, max_length=CITY_LENGTH_MAX)]
    postal_code: Annotated[str, Field(pattern=POSTAL_CODE_PATTERN)]
    country: CountryCode


class KycProfileRequest(_Request):
    """Body of `POST /v1/kyc`: who the user is, which raises their level to `basic`."""

    legal_name: Annotated[
        str,
        Field(min_length=1, max_length=LEGAL_NAME_LENGTH_MAX, description="The name on the identity document."),
        AfterValidator(refuse_unsafe_text),
    ]
    date_of_birth: Annotated[
        IsoDate, Field(description="A real date in the past; the user must be 18 or older.", examples=["1990-04-23"])
    ]
    address: KycAddress
    phone: Annotated[
        str,
        Field(pattern=PHONE_E164_PATTERN, description="E.164: `+` and the country code.", examples=["+447700900123"]),
    ]


class KycDocumentRequest(_Request):
    """Body of `POST /v1/kyc/documents`: an identity document and its image (or PDF)."""

    document_type: KycDocumentTypeName
    document_number: Annotated[
        str,
        Field(pattern=DOCUMENT_NUMBER_PATTERN, description="Letters and digits, 5 to 20; stored upper-cased."),
        AfterValidator(str.upper),
    ]
    issuing_country: CountryCode
    expiry_date: Annotated[IsoDate, Field(description="The document must not have expired.")]
    content_type: Annotated[
        str,
        Field(
            min_length=1,
            max_length=CONTENT_TYPE_LENGTH_MAX,
            description="`image/jpeg`, `image/png` or `application/pdf`; the file's first bytes must agree.",
        ),
    ]
    file: Annotated[
        str,
        Field(
            min_length=1,
            description="The file, base64-encoded (RFC 4648, standard alphabet, padded); at most 5 MiB decoded.",
            json_schema_extra={"contentEncoding": "base64"},
        ),
    ]


class KycAddressResponse(_Response):
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str


class KycProfileResponse(_Response):
    """What the user said about themself in `POST /v1/kyc`."""

    legal_name: str
    date_of_birth: date
    address: KycAddressResponse
    phone: str
    updated_at: UtcDatetime


class KycDocumentResponse(_Response):
    """An identity document as its owner sees it: never the whole number."""

    id: str
    document_type: KycDocumentTypeName
    number_last4: str = Field(description="The last four characters of the document number.")
    issuing_country: str
    expiry_date: date
    content_type: str
    size_bytes: int
    status: KycDocumentStatusName
    failure_code: str | None = Field(description="Why the document was rejected; null otherwise.")
    created_at: UtcDatetime
    updated_at: UtcDatetime


class KycResponse(_Response):
    """The caller's KYC: level, status, the profile given, and the documents uploaded (newest first)."""

    level: KycLevelName
    status: KycStatusName
    profile: KycProfileResponse | None
    documents: list[KycDocumentResponse]


class LimitUsageResponse(_Response):
    """One limit of the caller's KYC level: its amount, what was used of it and what remains, in
    USD minor units (cents), whatever the currencies moved."""

    limit: LimitNameLiteral
    amount: int = Field(description="The limit, in USD minor units.")
    used: int | None = Field(
        description="What the caller moved in the limit's window, in USD minor units, each currency at the "
        "newest reference rate; null for `single_payment`, which applies to each payment on its own."
    )
    remaining: int = Field(description="What may still move under the limit now (`amount - used`, never below 0).")
    window_seconds: int | None = Field(description="How far back `used` counts; null for `single_payment`.")


class UserLimitsResponse(_Response):
    """The limits of the caller's KYC level. Payments count from when fraud scoring accepted them
    until they are declined or fail; withdrawals while pending or paid out."""

    currency: Literal["USD"] = Field(description="The currency of every amount here.")
    kyc_level: KycLevelName
    limits: list[LimitUsageResponse]


class UserExport(_Response):
    """Everything Paystream holds about the caller (`GET /v1/users/me/export`), opened: GDPR
    access and portability. Funding sources are masked as everywhere (last four digits)."""

    exported_at: UtcDatetime
    profile: UserResponse
    funding_sources: list[FundingSourceResponse]
    wallets: list[WalletResponse]
    transactions: list[TransactionResponse] = Field(description="Newest first, at most 10,000.")
    notifications: list[NotificationResponse] = Field(description="Newest first, at most 10,000.")
    sessions: list[SessionResponse] = Field(description="Every session, ended ones included, most recently used first.")
    kyc: KycResponse


class ErasureResponse(_Response):
    """An erased account: closed, its personal data key destroyed, its tokens refused."""

    id: str
    status: Literal["erased"]
    closed_at: UtcDatetime
    records_kept_until: UtcDatetime = Field(
        description="When the records the law requires kept (KYC) are destroyed in turn; the ledger and "
        "the audit trail keep ids only."
    )


# ---------------------------------------------------------------------------------------------
# Groupings, in contract order.
# ---------------------------------------------------------------------------------------------

REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    SignUpRequest,
    PasswordGrant,
    RefreshTokenGrant,
    RevokeRequest,
    PasswordChangeRequest,
    MfaCodeRequest,
    PasswordResetRequest,
    PasswordResetConfirmRequest,
    EmailVerificationRequest,
    PayRequestRequest,
    CardFundingSourceRequest,
    BankAccountFundingSourceRequest,
    TopupRequest,
    PaymentRequest,
    ConversionQuoteRequest,
    ConversionRequest,
    WithdrawalRequest,
    RefundRequest,
    RequestMoneyRequest,
    EmptyRequest,
    ListQuery,
    TransactionQuery,
    StatementQuery,
    KycProfileRequest,
    KycDocumentRequest,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    NotificationResponse,
    NotificationList,
    UserResponse,
    MfaEnrolmentResponse,
    MfaRecoveryCodes,
    MfaStatusResponse,
    AcceptedResponse,
    PasswordResetResponse,
    TokenResponse,
    SessionResponse,
    SessionList,
    RevokeResponse,
    JsonWebKey,
    JsonWebKeySet,
    OpenIdConfiguration,
    FundingSourceResponse,
    FundingSourceList,
    WalletResponse,
    WalletList,
    TopupResponse,
    PaymentResponse,
    ConversionQuoteResponse,
    ConversionResponse,
    WithdrawalResponse,
    RefundResponse,
    RefundList,
    PaymentRequestResponse,
    PaymentRequestList,
    TimelineEvent,
    TransactionResponse,
    TransactionList,
    HealthResponse,
    ErrorBody,
    ErrorResponse,
    KycDocumentResponse,
    KycResponse,
    LimitUsageResponse,
    UserLimitsResponse,
    UserExport,
    ErasureResponse,
)
# The discriminated unions that are request bodies in their own right, by schema name.
REQUEST_UNIONS: dict[str, TypeAdapter[Any]] = {
    "TokenRequest": TOKEN_REQUEST_ADAPTER,
    "FundingSourceRequest": FUNDING_SOURCE_REQUEST_ADAPTER,
}
