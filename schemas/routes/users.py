"""The routes of `users`: sign-up, OAuth2 tokens (password and refresh_token grants), the caller."""

from __future__ import annotations

from schemas.api import TOKEN_REQUEST_ADAPTER, SignUpRequest, TokenResponse, UserResponse
from schemas.routing import FORM, Route, RouteTable

__all__ = ["CURRENT_USER", "ROUTES", "SIGN_UP", "TOKEN"]

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

ROUTES = RouteTable("users", (SIGN_UP, TOKEN, CURRENT_USER))
