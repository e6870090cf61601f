"""The routes of `users`: sign-up, OAuth2 tokens (password and refresh_token grants), the caller."""

from __future__ import annotations

from schemas.api import (
    TOKEN_REQUEST_ADAPTER,
    AcceptedResponse,
    EmailVerificationRequest,
    ErasureResponse,
    JsonWebKeySet,
    MfaCodeRequest,
    MfaEnrolmentResponse,
    MfaRecoveryCodes,
    MfaStatusResponse,
    OpenIdConfiguration,
    PasswordChangeRequest,
    PasswordResetConfirmRequest,
    PasswordResetRequest,
    PasswordResetResponse,
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
from schemas.routing import FORM, RateClass, Route, RouteTable

__all__ = [
    "CHANGE_PASSWORD",
    "CONFIRM_MFA",
    "CONFIRM_PASSWORD_RESET",
    "CURRENT_USER",
    "CURRENT_USER_LIMITS",
    "DISABLE_MFA",
    "END_SESSION",
    "ENROL_MFA",
    "ERASE_CURRENT_USER",
    "EXPORT_CURRENT_USER",
    "JWKS",
    "LIST_SESSIONS",
    "OPENID_CONFIGURATION",
    "REQUEST_PASSWORD_RESET",
    "RESEND_VERIFICATION_CODE",
    "REVOKE",
    "ROUTES",
    "SIGN_UP",
    "TOKEN",
    "VERIFY_EMAIL",
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
    description="Creates a user. An e-mail address already in use is a 409. The password must be at "
    "least 12 characters, not a commonly used one, and must not contain the e-mail address or the "
    "name (a 400 `weak_password` names the rule it breaks). A 6-digit code is e-mailed to the "
    "address: until it is verified (`POST /v1/users/me/email/verify`), the account sends at most "
    "100 USD in all.",
    rate_class=RateClass.CREDENTIAL,
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
    "revokes every token of its family. An account with the second factor on needs its current "
    "code in `otp` with the password: a 401 `mfa_required` without it, `invalid_otp` when it is "
    "wrong or used already.",
    rate_class=RateClass.CREDENTIAL,
)
CURRENT_USER = Route(
    method="GET",
    path="/v1/users/me",
    operation_id="getCurrentUser",
    summary="The caller, with its KYC status",
    response_model=UserResponse,
    rate_class=RateClass.READ,
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
    rate_class=RateClass.READ,
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
    rate_class=RateClass.CREDENTIAL,
)
CHANGE_PASSWORD = Route(
    method="POST",
    path="/v1/users/me/password",
    operation_id="changePassword",
    summary="Change the caller's password, ending every session",
    request_model=PasswordChangeRequest,
    response_model=TokenResponse,
    description="Needs the current password (a wrong one is a 400 `current_password_wrong`); the new "
    "one must pass the password policy (a 400 `weak_password`). "
    "Every session of the caller ends, this one included, and every access token issued "
    "before is refused at once; the answer is a fresh token pair in a new session, so the "
    "device that changed the password stays signed in.",
    rate_class=RateClass.WRITE,
)
LIST_SESSIONS = Route(
    method="GET",
    path="/v1/users/me/sessions",
    operation_id="listSessions",
    summary="The caller's sessions: device, address and last use",
    response_model=SessionList,
    description="The sessions that can still be used, most recently used first. `current` marks "
    "the one of the token making the request.",
    rate_class=RateClass.READ,
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
    rate_class=RateClass.WRITE,
)
EXPORT_CURRENT_USER = Route(
    method="GET",
    path="/v1/users/me/export",
    operation_id="exportCurrentUser",
    summary="Everything Paystream holds about the caller, as JSON (GDPR access and portability)",
    response_model=UserExport,
    description="The profile, funding sources (masked), wallets, transactions, notifications, sessions "
    "and KYC, with the personal data decrypted for its owner.",
    rate_class=RateClass.READ,
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
    rate_class=RateClass.WRITE,
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

ENROL_MFA = Route(
    method="POST",
    path="/v1/users/me/mfa",
    operation_id="enrolMfa",
    summary="Start turning on the second factor (TOTP): a new secret",
    response_model=MfaEnrolmentResponse,
    error_statuses=(409,),
    description="Returns a new secret and its `otpauth://` URI for an authenticator app, shown this "
    "once. The factor is not on until `POST /v1/users/me/mfa/confirm` with a first code; enrolling "
    "again before that replaces the secret. A 409 `mfa_already_enabled` when it is on.",
    rate_class=RateClass.WRITE,
)
CONFIRM_MFA = Route(
    method="POST",
    path="/v1/users/me/mfa/confirm",
    operation_id="confirmMfa",
    summary="Turn on the second factor with a first code; get ten recovery codes",
    request_model=MfaCodeRequest,
    response_model=MfaRecoveryCodes,
    error_statuses=(409,),
    description="A wrong code is a 400 `invalid_otp`. Once on, signing in needs a code, and so does "
    "a payment above 1,000 USD. The ten recovery codes are shown this once; each works once in "
    "place of a code.",
    rate_class=RateClass.WRITE,
)
DISABLE_MFA = Route(
    method="DELETE",
    path="/v1/users/me/mfa",
    operation_id="disableMfa",
    summary="Turn off the second factor, with a current code or a recovery code",
    request_model=MfaCodeRequest,
    response_model=MfaStatusResponse,
    error_statuses=(403, 409),
    description="A wrong or used code is a 403 `invalid_otp`; a 409 `mfa_not_enabled` when it is off. "
    "The secret and the recovery codes are deleted.",
    rate_class=RateClass.WRITE,
)
VERIFY_EMAIL = Route(
    method="POST",
    path="/v1/users/me/email/verify",
    operation_id="verifyEmail",
    summary="Verify the caller's e-mail address with the code sent to it",
    request_model=EmailVerificationRequest,
    response_model=UserResponse,
    error_statuses=(409,),
    description="A wrong code is a 400 `invalid_verification_code`; after five wrong tries, or an "
    "hour, the code stops working (400 `verification_code_expired`): ask for a new one. A 409 "
    "`email_already_verified` when it is verified.",
    rate_class=RateClass.WRITE,
)
RESEND_VERIFICATION_CODE = Route(
    method="POST",
    path="/v1/users/me/email/verification-code",
    operation_id="sendVerificationCode",
    summary="E-mail a new verification code to the caller's address",
    response_model=AcceptedResponse,
    response_status=202,
    error_statuses=(409,),
    description="The new code replaces the last. At most one a minute: sooner is a 429 "
    "`verification_code_throttled`. A 409 `email_already_verified` when it is verified.",
    rate_class=RateClass.WRITE,
)
REQUEST_PASSWORD_RESET = Route(
    method="POST",
    path="/v1/users/password-reset",
    operation_id="requestPasswordReset",
    summary="E-mail a one-time password reset link",
    request_model=PasswordResetRequest,
    response_model=AcceptedResponse,
    response_status=202,
    bearer_auth=False,
    description="Answers 202 alike whether or not an account has the address, so the answer tells "
    "nobody who has an account. The link's token works once, within 30 minutes. At most five "
    "e-mails an hour go to one address.",
    rate_class=RateClass.CREDENTIAL,
)
CONFIRM_PASSWORD_RESET = Route(
    method="POST",
    path="/v1/users/password-reset/confirm",
    operation_id="confirmPasswordReset",
    summary="Set a new password with the token of a reset link; every session ends",
    request_model=PasswordResetConfirmRequest,
    response_model=PasswordResetResponse,
    bearer_auth=False,
    description="An unknown, used or expired token is a 400 `invalid_reset_token`; a password the "
    "policy refuses is a 400 `weak_password` (the token still works). Every session of the user "
    "ends and every access token issued before is refused at once; the address counts as "
    "verified. The second factor, if on, stays on.",
    rate_class=RateClass.CREDENTIAL,
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
        ENROL_MFA,
        CONFIRM_MFA,
        DISABLE_MFA,
        VERIFY_EMAIL,
        RESEND_VERIFICATION_CODE,
        REQUEST_PASSWORD_RESET,
        CONFIRM_PASSWORD_RESET,
        JWKS,
        OPENID_CONFIGURATION,
    ),
)
