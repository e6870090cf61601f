"""What a client route declares: how it is reached, who may call it, what it takes and returns.

Each route is declared once, in its function's table under :mod:`schemas.routes`, and the rest
is derived from that declaration: the function's router (:class:`shared.http.Router` matches the
path, authenticates the caller and parses the body and query the route declares), the OpenAPI
document (:mod:`schemas.openapi`) and the API gateway's path table
(:data:`shared.functions.HTTP_ROUTE_PREFIXES`). This module imports nothing heavier than
pydantic, so the gateway can read the tables without importing the functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

__all__ = [
    "API_PATH_PREFIX",
    "EVERY_HTTP_FUNCTION",
    "FORM",
    "JSON",
    "RateClass",
    "Route",
    "RouteTable",
]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# The versioned API, as opposed to the probes and the document every function answers.
API_PATH_PREFIX = "/v1/"
# The function of the routes that every HTTP function answers: health and the document.
EVERY_HTTP_FUNCTION = "*"

_PATH_PARAMETER = re.compile(r"\{(\w+)\}")
# The gateway routes an API path by its resource (`/v1/payments/...` by `/v1/payments`), any
# other path by its first segment.
_GATEWAY_PREFIX = re.compile(rf"{re.escape(API_PATH_PREFIX)}[^/]+|/[^/]+")


class RateClass(StrEnum):
    """How a route's requests are counted against a rate limit (shared.rate_limits): which
    budget they draw on, and whose it is. Authenticated classes are counted per user,
    unauthenticated ones per client address."""

    # A POST that moves money: the tightest budget of a user.
    MONEY = "money"
    # Any other change a user makes (a funding source, a KYC submission, a session ended).
    WRITE = "write"
    # Reading what the user holds.
    READ = "read"
    # An unauthenticated route that proves no credential.
    PUBLIC = "public"
    # Signing up, getting or revoking a token, resetting a password: the strictest budget, per
    # client address, since these are what a guesser or a sign-up spammer calls.
    CREDENTIAL = "credential"

    @property
    def per_user(self) -> bool:
        """Counted per authenticated user (else per client address)."""
        return self in (RateClass.MONEY, RateClass.WRITE, RateClass.READ)


@dataclass(frozen=True)
class Route:
    """One client endpoint, with everything the router and the OpenAPI document need of it."""

    method: Literal["GET", "POST", "DELETE"]
    # OpenAPI's syntax: `/v1/payments/{payment_id}`; each placeholder is a handler argument.
    path: str
    operation_id: str
    summary: str
    # None means a free-form JSON object (only the OpenAPI document itself).
    response_model: type[BaseModel] | None
    response_status: int = 200
    # A model, or the adapter of a discriminated union of models (token and funding-source
    # bodies). The router validates the body into it and hands it to the handler as `body`.
    request_model: type[BaseModel] | TypeAdapter[Any] | None = None
    request_content_type: str = JSON
    # The largest body the router reads for this route; None: the router's default (64 KiB).
    # Only a route that takes a file needs more.
    request_body_bytes_max: int | None = None
    # False for actions whose parameters are all optional: no body at all then reads as `{}`.
    request_body_required: bool = True
    # The success body's media type; anything but JSON is a string (a CSV statement).
    response_content_type: str = JSON
    # The errors particular to the route. The document adds those the rest of the declaration
    # implies (400 for a body or query, 401 for a token, 409 for an Idempotency-Key), 429 on
    # the versioned API and 500 everywhere.
    error_statuses: tuple[int, ...] = ()
    # The router refuses a request without a valid bearer token (401) and hands the handler
    # the caller as `principal`. A route is public only when it says so.
    bearer_auth: bool = True
    # The operator roles admitted (shared.domain.roles); empty admits every authenticated user.
    # Any other caller gets 403 `authorization_error`.
    roles: tuple[str, ...] = ()
    # The route takes an `Idempotency-Key` header: the same key and body replay the first answer.
    idempotency_key: bool = False
    # The route moves money, so a request without the header is a 400 `idempotency_key_required`
    # (a retried payment must not pay twice); implies `idempotency_key`.
    idempotency_key_required: bool = False
    # The router validates the query string into it and hands it to the handler as `query`.
    query_model: type[BaseModel] | None = None
    # Error statuses whose body is not the shared ErrorResponse: only readiness, which answers
    # 503 with its health report so that an operator sees which dependency is down.
    error_body_overrides: tuple[tuple[int, type[BaseModel]], ...] = ()
    description: str = ""
    # The budget the route's requests draw on (shared.rate_limits). Every route of the versioned
    # API declares one; None, for the probes, the document and /.well-known, is unlimited.
    rate_class: RateClass | None = None

    def __post_init__(self) -> None:
        if self.idempotency_key_required and not self.idempotency_key:
            raise ValueError(f"{self.method} {self.path} requires an Idempotency-Key it does not take")
        name = f"{self.method} {self.path}"
        if self.path.startswith(API_PATH_PREFIX) != (self.rate_class is not None):
            raise ValueError(f"{name}: a route declares a rate class if and only if it is under {API_PATH_PREFIX}")
        if self.idempotency_key_required != (self.rate_class is RateClass.MONEY):
            raise ValueError(f"{name}: a route that moves money (Idempotency-Key required) is MONEY, and only it")
        if self.rate_class is not None and self.rate_class.per_user != self.bearer_auth:
            raise ValueError(f"{name}: an authenticated route is counted per user, a public one per address")

    @property
    def path_parameters(self) -> tuple[str, ...]:
        """Names of the `{placeholders}` in the path, in order."""
        return tuple(_PATH_PARAMETER.findall(self.path))

    @property
    def rule(self) -> str:
        """The path in werkzeug's syntax (`/v1/payments/<payment_id>`), for the router."""
        return _PATH_PARAMETER.sub(r"<\1>", self.path)

    @property
    def endpoint(self) -> str:
        """`POST /v1/payments/<payment_id>`: the route's name in spans, logs and metrics."""
        return f"{self.method} {self.rule}"

    @property
    def gateway_prefix(self) -> str:
        """The path prefix the API gateway (and the Ingress) sends to the route's function."""
        match = _GATEWAY_PREFIX.match(self.path)
        if match is None:  # every path starts with "/": a route declared otherwise is a bug
            raise ValueError(f"route path {self.path!r} does not start with '/'")
        return match.group()


@dataclass(frozen=True)
class RouteTable:
    """The routes one HTTP function serves (or, for EVERY_HTTP_FUNCTION, every one of them)."""

    function: str
    routes: tuple[Route, ...]
