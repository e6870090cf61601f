"""users: sign-up, OAuth2 tokens (password and refresh_token grants), the caller's profile."""

from __future__ import annotations

from typing import Any

import flask
import functions_framework

from schemas.api import TokenResponse, UserResponse
from schemas.routes import users as routes
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import publish_after_commit
from shared.entrypoint import client_router, correlation_id
from shared.http import ApiError, Principal
from shared.observability.security import REFRESH_TOKEN_REUSE, security_event
from shared.services import identity, limits

router = client_router(routes.ROUTES)


@router.handles(routes.SIGN_UP)
def sign_up(request: flask.Request, body):
    runtime = platform()
    with runtime.engine.begin() as conn:
        user, event_ids = identity.sign_up(
            conn, body, ledger=runtime.ledger, now=utc_now(), correlation_id=correlation_id()
        )
    publish_after_commit(runtime, event_ids)
    return 201, UserResponse.model_validate(user, from_attributes=True)


@router.handles(routes.TOKEN)
def token(request: flask.Request, body):
    runtime = platform()
    settings = runtime.settings
    common: dict[str, Any] = dict(
        secret=settings.secret_key.get_secret_value(),
        now=utc_now(),
        access_ttl=settings.access_token_ttl_seconds,
        refresh_ttl=settings.refresh_token_ttl_seconds,
    )
    pair: identity.TokenPair | None
    with runtime.engine.begin() as conn:
        if body.grant_type == "password":
            pair = identity.password_grant(conn, email=body.username, password=body.password, **common)
        else:
            pair = identity.refresh_grant(conn, refresh_token=body.refresh_token, **common)
    if pair is None:
        # A spent token came back: its family is revoked now, and the caller learns only
        # that the token is not valid.
        security_event(REFRESH_TOKEN_REUSE, "refresh token reuse; the token family was revoked")
        raise ApiError.unauthenticated("invalid_refresh_token", "the refresh token is not valid")
    return 200, TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type="bearer",  # noqa: S106 - OAuth's token type, not a secret
        expires_in=pair.expires_in,
    )


@router.handles(routes.CURRENT_USER)
def me(request: flask.Request, principal: Principal):
    with platform().reader.connect() as conn:
        user = identity.get_user(conn, principal.user_id)
        roles = identity.roles_of(conn, user.id)
    return 200, UserResponse.model_validate({**user._mapping, "roles": sorted(roles)})


@router.handles(routes.CURRENT_USER_LIMITS)
def my_limits(request: flask.Request, principal: Principal):
    runtime = platform()
    with runtime.reader.connect() as conn:
        return 200, limits.user_limits(conn, principal.user_id, now=utc_now(), rates=runtime.fx_rates.current())


@functions_framework.http
def users(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
