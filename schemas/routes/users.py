"""The routes of `users`: sign-up, OAuth2 tokens (password and refresh_token grants), the caller."""

from __future__ import annotations

from schemas.api import (
    TOKEN_REQUEST_ADAPTER,
    ErasureResponse,
    JsonWebKeySet,
    OpenIdConfiguration,
    PasswordChangeRequest,
    RevokeRequest,
    RevokeResponse,
    SessionList,
    SessionResponse,
    SignUpRequest,
    TokenResponse,
    UserExport,
    UserLimitsResponse,
    UserResponse,
)
from schemas.routing import FORM, Route, RouteTable

__all__ = [
    "CHANGE_PASSWORD",
    "CURRENT_USER",
    "CURRENT_USER_LIMITS",
    "END_SESSION",
    "ERASE_CURRENT_USER",
    "EXPORT_CURRENT_USER",
    "JWKS",
    "LIST_SESSIONS",
    "OPENID_CONFIGURATION",
    "REVOKE",
    "ROUTES",
    "SIGN_UP",
    "TOKEN",
]

SIGN_UP = Route(
    method="POST",
    path="/v1/users",
    operation_id="createUser",
    summary="Sign up",
    request_model=SignUpRequest,
    response_model=UserResponse,
    response_status=201,
    error_statuses=(409,),
    bearer_auth=False,
    description="Creates a user. An e-mail address already in use is a 409.",
)
TOKEN = Route(
    method="POST",
    path="/v1/oauth/token",
    operation_id="createToken",
    summary="Get a token pair (OAuth2 password or refresh_token grant)",
    request_model=TOKEN_REQUEST_ADAPTER,
    request_content_type=FORM,
    response_model=TokenResponse,
    error_statuses=(401,),
    bearer_auth=False,
    description="Refresh tokens rotate: each use returns a new one, and reusing a spent one "
    "revokes every token of its family.",
)
CURRENT_USER = Route(
    method="GET",
    path="/v1/users/me",
    operation_id="getCurrentUser",
    summary="The caller, with its KYC status",
    response_model=UserResponse,
)

CURRENT_USER_LIMITS = Route(
    method="GET",
    path="/v1/users/me/limits",
    operation_id="getCurrentUserLimits",
    summary="The limits of the caller's KYC level, what was used and what remains (USD)",
    response_model=UserLimitsResponse,
    description="Every amount is in USD minor units (cents), whatever the currencies moved, each "
    "converted at the newest reference rate. `single_payment` applies to each payment alone; "
    "`sent_24h` and `sent_30d` count the payments accepted by fraud scoring in the window (until "
    "they are declined or fail); `withdrawal_24h` the withdrawals pending or paid out. A higher "
    "KYC level (`POST /v1/kyc`, `POST /v1/kyc/documents`) raises them.",
)

REVOKE = Route(
    method="POST",
    path="/v1/oauth/revoke",
    operation_id="revokeToken",
    summary="Revoke a token, ending its session (RFC 7009); signing out",
    request_model=RevokeRequest,
    request_content_type=FORM,
    response_model=RevokeResponse,
    bearer_auth=False,
    description="Revoking a refresh token revokes every token of its family, and revoking an "
    "access token ends its session: either way the session ends, and its access tokens are "
    "refused at once. This is how a client signs out. The answer is 200 whether or not the "
    "token was known, valid or already revoked (RFC 7009, section 2.2).",
)
CHANGE_PASSWORD = Route(
    method="POST",
    path="/v1/users/me/password",
    operation_id="changePassword",
    summary="Change the caller's password, ending every session",
    request_model=PasswordChangeRequest,
    response_model=TokenResponse,
    description="Needs the current password (a wrong one is a 400 `current_password_wrong`). "
    "Every session of the caller ends, this one included, and every access token issued "
    "before is refused at once; the answer is a fresh token pair in a new session, so the "
    "device that changed the password stays signed in.",
)
LIST_SESSIONS = Route(
    method="GET",
    path="/v1/users/me/sessions",
    operation_id="listSessions",
    summary="The caller's sessions: device, address and last use",
    response_model=SessionList,
    description="The sessions that can still be used, most recently used first. `current` marks "
    "the one of the token making the request.",
)
END_SESSION = Route(
    method="DELETE",
    path="/v1/users/me/sessions/{session_id}",
    operation_id="endSession",
    summary="End one of the caller's sessions",
    response_model=SessionResponse,
    error_statuses=(404,),
    description="Its refresh tokens are revoked and its access tokens refused at once. Ending a "
    "session that has already ended answers it again; another user's session is a 404.",
)
EXPORT_CURRENT_USER = Route(
    method="GET",
    path="/v1/users/me/export",
    operation_id="exportCurrentUser",
    summary="Everything Paystream holds about the caller, as JSON (GDPR access and portability)",
    response_model=UserExport,
    description="The profile, funding sources (masked), wallets, transactions, notifications, sessions "
    "and KYC, with the personal data decrypted for its owner.",
)
ERASE_CURRENT_USER = Route(
    method="DELETE",
    path="/v1/users/me",
    operation_id="eraseCurrentUser",
    summary="Close the caller's account and erase their personal data",
    response_model=ErasureResponse,
    error_statuses=(409,),
    description="Crypto-shredding: the caller's personal data key is destroyed, so their e-mail address, "
    "name and funding sources can never be read again; the account is closed and every token of it "
    "refused at once. A wallet that still holds money is a 409 `balance_remaining`: withdraw it first. "
    "The ledger and the audit trail stay (ids only), and the KYC records stay under a retention key "
    "until `records_kept_until` (docs/security.md). Others see the account as a deleted user.",
)
JWKS = Route(
    method="GET",
    path="/.well-known/jwks.json",
    operation_id="getJsonWebKeySet",
    summary="The public keys that verify access tokens (JWK Set)",
    response_model=JsonWebKeySet,
    bearer_auth=False,
    description="Every key a live token may be signed with: after a rotation, the new key and "
    "the old one until the tokens it signed have expired.",
)
OPENID_CONFIGURATION = Route(
    method="GET",
    path="/.well-known/openid-configuration",
    operation_id="getOpenIdConfiguration",
    summary="The discovery document: issuer, keys and token endpoints",
    response_model=OpenIdConfiguration,
    bearer_auth=False,
)

ROUTES = RouteTable(
    "users",
    (
        SIGN_UP,
        TOKEN,
        REVOKE,
        CURRENT_USER,
        CURRENT_USER_LIMITS,
        CHANGE_PASSWORD,
        LIST_SESSIONS,
        END_SESSION,
        EXPORT_CURRENT_USER,
        ERASE_CURRENT_USER,
        JWKS,
        OPENID_CONFIGURATION,
    ),
)
