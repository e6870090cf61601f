"""The routes of `users`: sign-up, OAuth2 tokens (password and refresh_token grants), the caller."""

from __future__ import annotations

from schemas.api import TOKEN_REQUEST_ADAPTER, SignUpRequest, TokenResponse, UserLimitsResponse, UserResponse
from schemas.routing import FORM, Route, RouteTable

__all__ = ["CURRENT_USER", "CURRENT_USER_LIMITS", "ROUTES", "SIGN_UP", "TOKEN"]

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

ROUTES = RouteTable("users", (SIGN_UP, TOKEN, CURRENT_USER, CURRENT_USER_LIMITS))
