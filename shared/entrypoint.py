"""What every client (HTTP) function shares: its router, answering the routes every client
function answers (liveness, readiness, the OpenAPI document) besides its own."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import cache
from typing import Any

import flask
import redis
import sqlalchemy as sa
from pydantic import BaseModel

from schemas.api import HealthResponse
from schemas.openapi import build_openapi
from schemas.routes import every_function
from schemas.routing import RouteTable
from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import publish_after_commit
from shared.http import Principal, Router, authenticate, idempotency_key
from shared.observability import request_id
from shared.rate_limits import RateLimits
from shared.services import sessions
from shared.services.idempotency import Execute, request_fingerprint, run_once
from shared.services.identity import roles_of

__all__ = ["client_router", "correlation_id", "respond_once"]

logger = logging.getLogger("paystream.entrypoint")


@cache
def _openapi_document() -> dict[str, Any]:
    return build_openapi()


def _caller(request: flask.Request) -> Principal:
    """The authenticated user making the request, or a 401: a valid token of a user who
    exists, of their current token version and of a session that has not ended."""
    runtime = platform()
    now = utc_now()
    keys, _ = runtime.verification_keys.current()
    principal = authenticate(request, keys, now_epoch_seconds=int(now.timestamp()))
    try:
        state = sessions.token_state(
            runtime.redis,
            runtime.reader,
            principal.user_id,
            now=now,
            cache_seconds=runtime.settings.token_state_cache_seconds,
        )
    except redis.RedisError as error:
        # The cache is a shortcut, not the truth: without it, the database answers.
        logger.warning("token state cache unavailable, reading the database: %s", error)
        state = sessions.token_state_uncached(runtime.reader, principal.user_id, now=now)
    sessions.check_token(principal, state)
    return principal


def _roles_of(user_id: str) -> frozenset[str]:
    """The caller's operator roles as stored now (routes that admit roles re-check them)."""
    with platform().reader.connect() as conn:
        return roles_of(conn, user_id)


def _web_origin() -> str:
    """The web wallet's origin, the only one CORS admits (PAYSTREAM_WEB_ORIGIN)."""
    return platform().settings.web_origin


def _rate_limits() -> RateLimits:
    """The budgets of the route classes, shared by every replica (shared.rate_limits)."""
    return platform().rate_limits


def correlation_id() -> str:
    """The request id, carried into every event the request causes."""
    return request_id()


# What a retry may change without being another request: a second-factor code changes every 30
# seconds, so a retry with a fresh one is the same payment (and is answered from the first).
_NOT_FINGERPRINTED = {"otp"}


def respond_once(
    request: flask.Request, principal: Principal, body: BaseModel, execute: Execute, *, now: datetime
) -> tuple[int, Any]:
    """Answer a mutating money request at most once per Idempotency-Key (see
    shared.services.idempotency), then publish the events its transaction recorded."""
    runtime = platform()
    status, response, event_ids = run_once(
        runtime.engine,
        user_id=principal.user_id,
        key=idempotency_key(request),
        fingerprint=request_fingerprint(
            request.method, request.path, body.model_dump(mode="json", exclude=_NOT_FINGERPRINTED)
        ),
        now=now,
        execute=execute,
    )
    publish_after_commit(runtime, event_ids)
    return status, response


def _readiness() -> tuple[int, HealthResponse]:
    runtime = platform()
    checks: dict[str, str] = {}

    def check(name: str, probe) -> None:
        try:
            probe()
            checks[name] = "ok"
        except Exception as error:  # noqa: BLE001 - readiness reports a broken dependency, it does not crash
            logger.warning("readiness: %s is unavailable: %s", name, error)
            checks[name] = "unavailable"

    def database() -> None:
        with runtime.reader.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    check("database", database)
    check("cache", runtime.redis.ping)
    check("event_bus", runtime.publisher.check_bus)
    ready = all(value == "ok" for value in checks.values())
    return (200 if ready else 503), HealthResponse(status="ok" if ready else "unavailable", checks=checks)


def client_router(routes: RouteTable) -> Router:
    """A router for one client function's declared routes, and the ones every function answers;
    the function binds a handler to each of its own (`@router.handles(route)`)."""
    router = Router(
        routes.function,
        (*routes.routes, *every_function.ROUTES.routes),
        caller_of=_caller,
        roles_of=_roles_of,
        web_origin_of=_web_origin,
        rate_limits_of=_rate_limits,
    )

    @router.handles(every_function.LIVENESS)
    def healthz(request: flask.Request) -> tuple[int, Any]:
        return 200, HealthResponse(status="ok")

    @router.handles(every_function.READINESS)
    def readyz(request: flask.Request) -> tuple[int, Any]:
        return _readiness()

    @router.handles(every_function.DOCUMENT)
    def openapi(request: flask.Request) -> tuple[int, Any]:
        return 200, _openapi_document()

    return router
