"""The HTTP side of every client function: routing, parsing, the error contract, authentication.

Each route is declared once (schemas.routing.Route, in its function's table under
schemas.routes); the router serves it as declared: it authenticates the caller and validates the
body and query before the handler runs. A handler receives the request, its path parameters and
what its route declares (`principal`, `body`, `query`), and returns `(status, body)` where
the body is a pydantic model or a dict. Everything that goes wrong becomes the contract's error
object, `{"error": {"type", "code", "message", "param"}}`, with its status code: a client never
sees a stack trace, and every response carries `X-Request-Id`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import flask
import jwt
import pydantic
from pydantic import BaseModel, TypeAdapter
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from schemas.api import IDEMPOTENCY_KEY_LENGTH_MAX
from schemas.routing import FORM, JSON, RateClass, Route
from shared.adapters.database import DatabaseUnavailable, translate_errors
from shared.hygiene import InputRefused, media_type_of, parse_strict_json, preflight_headers, security_headers
from shared.ids import new_id
from shared.observability import (
    note_route,
    request_id,
    security_event,
    security_event_of_refusal,
)
from shared.observability.tracing import step as traced_step
from shared.rate_limits import Quota, RateLimits
from shared.signing import ACCESS_TOKEN_SECONDS_MAX, CLOCK_LEEWAY_SECONDS, VERIFYING_ALGORITHMS, SigningKey

__all__ = [
    "SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS",
    "ApiError",
    "Principal",
    "Router",
    "authenticate",
    "client_address",
    "idempotency_key",
    "issue_access_token",
    "JWT_AUDIENCE",
    "JWT_ISSUER",
    "response_of_row",
    "service_unavailable_body",
    "verify_access_token",
]

logger = logging.getLogger("paystream.http")

REQUEST_BODY_BYTES_MAX = 64 * 1024
JWT_ISSUER = "paystream"
# Who access tokens are for: the platform's API, and nothing else that trusts the same keys.
JWT_AUDIENCE = "paystream-api"
# What a verified token must carry, whatever else it says.
_REQUIRED_CLAIMS = ["aud", "iss", "exp", "iat", "sub", "jti"]
_WERKZEUG_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")

Model = TypeVar("Model", bound=BaseModel)
# A handler returns (status, body) for JSON, or a ready flask.Response for anything else (CSV).
Handler = Callable[..., "tuple[int, Any] | flask.Response"]


# What a 503 tells the client to wait: about as long as a database fail-over or a restarted
# function process takes to answer again.
SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS = 2


def service_unavailable_body() -> dict[str, Any]:
    """The error body of a 503: a dependency is down and the request may be retried."""
    return ApiError(503, "api_error", "service_unavailable", "the service is unavailable, retry later").body()


class ApiError(Exception):
    """An error the client caused or must be told about, in the contract's shape.

    `headers` go on the answer (a 429's Retry-After); `event_fields` go on the security event
    the router logs when the refusal is one (a user id, an outcome: never a credential)."""

    def __init__(
        self,
        status: int,
        type_: str,
        code: str,
        message: str,
        param: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        event_fields: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.code = code
        self.message = message
        self.param = param
        self.headers = list(headers)
        self.event_fields = dict(event_fields or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "code": self.code, "message": self.message, "param": self.param}}

    @classmethod
    def invalid(cls, code: str, message: str, param: str | None = None, status: int = 400) -> ApiError:
        return cls(status, "invalid_request_error", code, message, param)

    @classmethod
    def not_found(cls, code: str, message: str, param: str | None = None) -> ApiError:
        return cls(404, "not_found_error", code, message, param)

    @classmethod
    def unauthenticated(cls, code: str, message: str) -> ApiError:
        return cls(401, "authentication_error", code, message)

    @classmethod
    def forbidden(cls, code: str, message: str) -> ApiError:
        return cls(403, "authorization_error", code, message)

    @classmethod
    def rate_limited(
        cls,
        code: str,
        message: str,
        *,
        retry_after_seconds: int,
        headers: Iterable[tuple[str, str]] = (),
        event_fields: dict[str, object] | None = None,
    ) -> ApiError:
        """A 429 `rate_limit_error` that tells the client when to retry (Retry-After)."""
        return cls(
            429,
            "rate_limit_error",
            code,
            message,
            headers=[("Retry-After", str(max(1, retry_after_seconds))), *headers],
            event_fields=event_fields,
        )


# Set by the gateway in front of every function from the connection's peer, replacing whatever
# a client sent: the NGINX Ingress does (X-Real-IP is $remote_addr), and the local gateway does
# the same. X-Forwarded-For's first hop is the client's own to write, so it keys nothing here.
CLIENT_ADDRESS_HEADER = "X-Real-IP"


def client_address(request: flask.Request) -> str:
    """The client's IP address: the gateway's X-Real-IP, or the connection's peer when a
    function is called directly (its tests; a function is never exposed without a gateway)."""
    forwarded = request.headers.get(CLIENT_ADDRESS_HEADER, "").strip()
    try:
        return str(ipaddress.ip_address(forwarded))
    except ValueError:
        return request.remote_addr or ""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, with the operator roles the access token names. A route that
    admits operators only re-reads the roles from the database before it runs (Router).

    `session_id` and `token_version` are the token's `sid` and `ver`: the caller's function
    checks them against the stored ones (shared.services.sessions), so that an ended session
    or a changed password stops the token at once."""

    user_id: str
    roles: frozenset[str] = frozenset()
    session_id: str = ""
    token_version: int = 0


def _validation_error(error: pydantic.ValidationError) -> ApiError:
    first = error.errors()[0]
    param = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"]
    if first["type"] == "missing":
        return ApiError.invalid("parameter_missing", f"{param} is required", param)
    if first["type"] == "extra_forbidden":
        return ApiError.invalid("parameter_unknown", f"{param} is not a known parameter", param)
    return ApiError.invalid("parameter_invalid", f"{param}: {message}", param)


def _body_bytes(request: flask.Request, bytes_max: int = REQUEST_BODY_BYTES_MAX) -> bytes:
    if request.content_length is not None and request.content_length > bytes_max:
        raise ApiError.invalid("body_too_large", "the request body is too large", status=413)
    body = request.get_data(cache=True)
    if len(body) > bytes_max:
        raise ApiError.invalid("body_too_large", "the request body is too large", status=413)
    return body


def _require_media_type(request: flask.Request, body: bytes, media_type: str) -> None:
    """A 415 when a request carries a body in another media type than the route takes; a
    request without a body (a full refund, paying a request) needs no Content-Type."""
    if body and media_type_of(request.content_type) != media_type:
        raise ApiError(
            415,
            "invalid_request_error",
            "unsupported_media_type",
            f"the request body must be {media_type}",
            "Content-Type",
        )


def _single_values(values: Any, where: str) -> dict[str, str]:
    """A form's or query string's parameters, each given once (a repeated one is a 400: which
    of its values counts would otherwise be the parser's choice)."""
    for name in values:
        if len(values.getlist(name)) > 1:
            raise ApiError.invalid("parameter_repeated", f"{name} is given more than once in the {where}", name)
    return values.to_dict()


def _parse_json(
    request: flask.Request,
    adapter: TypeAdapter[Any],
    *,
    empty_is_object: bool,
    bytes_max: int = REQUEST_BODY_BYTES_MAX,
) -> Any:
    """The request's JSON body validated by `adapter`.

    With `empty_is_object`, no body at all reads as `{}`: for actions whose parameters are all
    optional (`POST .../decline`, a full refund)."""
    body = _body_bytes(request, bytes_max)
    _require_media_type(request, body, JSON)
    if not body.strip() and empty_is_object:
        body = b"{}"
    try:
        document = parse_strict_json(body) if body else None
    except InputRefused as refusal:
        raise ApiError.invalid(refusal.code, refusal.message) from None
    if not isinstance(document, dict):
        raise ApiError.invalid("invalid_json", "the request body must be a JSON object")
    try:
        return adapter.validate_python(document)
    except pydantic.ValidationError as error:
        raise _validation_error(error) from None


def _parse_form(request: flask.Request, adapter: TypeAdapter[Any]) -> Any:
    """The request's form body (application/x-www-form-urlencoded) validated by `adapter`."""
    _require_media_type(request, _body_bytes(request), FORM)
    try:
        return adapter.validate_python(_single_values(request.form, "form"))
    except pydantic.ValidationError as error:
        raise _validation_error(error) from None


def _parse_query(request: flask.Request, model: type[Model]) -> Model:
    """The query string validated into `model`."""
    try:
        return model.model_validate(_single_values(request.args, "query string"))
    except pydantic.ValidationError as error:
        raise _validation_error(error) from None


def response_of_row(model: type[Model], row: Any, **fields: Any) -> Model:
    """`model`, a response body, from a stored row: its columns, each `<name>_minor` amount as
    `<name>` (minor units either way), then `fields`."""
    values = dict(row._mapping)
    values.update(
        {
            name.removesuffix("_minor"): value
            for name, value in values.items()
            if name.endswith("_amount_minor") or name == "amount_minor"
        }
    )
    return model.model_validate({**values, **fields})


def idempotency_key(request: flask.Request, *, required: bool = False) -> str | None:
    """The `Idempotency-Key` header, checked for length and printable characters; with
    `required`, a request without one is a 400 `idempotency_key_required`."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        if required:
            raise ApiError.invalid(
                "idempotency_key_required",
                "this request moves money: send an Idempotency-Key header (a UUID) to make it safe to retry",
                "Idempotency-Key",
            )
        return None
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_LENGTH_MAX or not key.isprintable():
        raise ApiError.invalid(
            "idempotency_key_invalid",
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_LENGTH_MAX} printable characters",
            "Idempotency-Key",
        )
    return key


def issue_access_token(
    *,
    user_id: str,
    roles: Iterable[str] = (),
    session_id: str,
    token_version: int,
    signing_key: SigningKey,
    now_epoch_seconds: int,
    ttl_seconds: int,
) -> str:
    """A short-lived signed access token for the user's session, naming the operator roles they
    hold and the user's token version. It lives at most ACCESS_TOKEN_SECONDS_MAX."""
    if not 0 < ttl_seconds <= ACCESS_TOKEN_SECONDS_MAX:
        raise ValueError(f"an access token lives 1 to {ACCESS_TOKEN_SECONDS_MAX} seconds, not {ttl_seconds}")
    claims = {
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "sub": user_id,
        "sid": session_id,
        "ver": token_version,
        "roles": sorted(roles),
        "iat": now_epoch_seconds,
        "exp": now_epoch_seconds + ttl_seconds,
        "jti": new_id("at"),
    }
    return jwt.encode(claims, signing_key.key, algorithm=signing_key.algorithm, headers={"kid": signing_key.kid})


def _invalid_token() -> ApiError:
    return ApiError.unauthenticated("invalid_token", "the access token is not valid")


def authenticate(
    request: flask.Request, verification_keys: dict[str, tuple[Any, str]], *, now_epoch_seconds: int
) -> Principal:
    """The caller behind the bearer token, or a 401.

    The token must be signed by one of `verification_keys` (`kid` → public key, algorithm),
    name this platform as issuer and its API as audience, carry every claim of
    _REQUIRED_CLAIMS, and live at most ACCESS_TOKEN_SECONDS_MAX from its `iat`, which may not
    be in the future beyond the clock leeway: a token minted with a far `exp` is refused."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError.unauthenticated("missing_token", "a bearer access token is required")
    return verify_access_token(token, verification_keys, now_epoch_seconds=now_epoch_seconds)


def verify_access_token(
    token: str, verification_keys: dict[str, tuple[Any, str]], *, now_epoch_seconds: int
) -> Principal:
    """The principal an access token names, if it is valid (see `authenticate`); a 401 if not."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key, algorithm = verification_keys[kid] if isinstance(kid, str) else (None, "")
        if key is None or algorithm not in VERIFYING_ALGORITHMS:
            raise _invalid_token()
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=JWT_ISSUER,
            audience=JWT_AUDIENCE,
            leeway=CLOCK_LEEWAY_SECONDS,
            options={"require": _REQUIRED_CLAIMS},
        )
    except KeyError:
        raise _invalid_token() from None
    except jwt.ExpiredSignatureError:
        raise ApiError.unauthenticated("token_expired", "the access token has expired") from None
    except jwt.InvalidTokenError:
        raise _invalid_token() from None
    issued_at, expires_at = claims["iat"], claims["exp"]
    if not all(isinstance(value, int) for value in (issued_at, expires_at)):
        raise _invalid_token()
    if issued_at > now_epoch_seconds + CLOCK_LEEWAY_SECONDS or expires_at - issued_at > ACCESS_TOKEN_SECONDS_MAX:
        raise _invalid_token()
    roles = claims.get("roles", [])
    session_id, version = claims.get("sid", ""), claims.get("ver", 0)
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise _invalid_token()
    if not isinstance(session_id, str) or not session_id or not isinstance(version, int) or isinstance(version, bool):
        raise _invalid_token()
    return Principal(user_id=str(claims["sub"]), roles=frozenset(roles), session_id=session_id, token_version=version)


def _to_json(body: Any) -> Any:
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json")
    return body


@dataclass(frozen=True)
class _Binding:
    """A declared route, its handler, and its body's validator (built once, when bound)."""

    route: Route
    handler: Handler
    body: TypeAdapter[Any] | None


class Router:
    """Serves one function's declared routes and applies the error contract.

    Before a route's handler runs, the router does what the route declares, in this order: it
    authenticates the caller (`bearer_auth`, passed as `principal`), then validates the body
    (`request_model`, as `body`) and the query string (`query_model`, as `query`).
    """

    def __init__(
        self,
        function_name: str,
        routes: Iterable[Route],
        caller_of: Callable[[flask.Request], Principal],
        roles_of: Callable[[str], frozenset[str]] | None = None,
        web_origin_of: Callable[[], str] | None = None,
        rate_limits_of: Callable[[], RateLimits] | None = None,
    ) -> None:
        self.function_name = function_name
        # The budgets of the rate classes; None: nothing is limited (a router built in a test).
        self._rate_limits_of = rate_limits_of
        # The one origin whose pages may call the API from a browser (CORS); None: no origin.
        self._web_origin_of = web_origin_of
        # Reads a user's operator roles as stored now, for the routes that admit roles only.
        self._roles_of = roles_of
        self._declared = {route.endpoint: route for route in routes}
        self._caller_of = caller_of
        self._map = Map(strict_slashes=False)
        # Bound once: matching passes each request's path and method explicitly.
        self._matcher = self._map.bind("localhost")
        self._bindings: dict[str, _Binding] = {}

    def handles(self, route: Route) -> Callable[[Handler], Handler]:
        """Bind a handler to `route`, one of the routes this router was made for."""
        if self._declared.get(route.endpoint) != route:
            raise ValueError(f"{route.endpoint} is not a route of {self.function_name}")

        def bind(handler: Handler) -> Handler:
            if route.endpoint in self._bindings:
                raise ValueError(f"{route.endpoint} has a handler already")
            self._map.add(Rule(route.rule, methods=[route.method], endpoint=route.endpoint))
            body = route.request_model
            if body is not None and not isinstance(body, TypeAdapter):
                body = TypeAdapter(body)
            self._bindings[route.endpoint] = _Binding(route, handler, body)
            return handler

        return bind

    def routes(self) -> set[tuple[str, str]]:
        """(method, path) of every route the URL map serves, path parameters written `{name}`."""
        return {
            (method, _WERKZEUG_PARAMETER.sub(r"{\1}", rule.rule))
            for rule in self._map.iter_rules()
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
        }

    def _arguments(self, binding: _Binding, request: flask.Request, quotas: list[Quota]) -> dict[str, Any]:
        route = binding.route
        arguments: dict[str, Any] = {}
        if route.bearer_auth:
            arguments["principal"] = self._caller_of(request)
            # Named in the security event of a refusal that follows (a 403, a 429).
            flask.g.paystream_user_id = arguments["principal"].user_id
        if route.rate_class is not None:
            # Before anything costly that the route does: parsing, a role read, the handler.
            principal = arguments.get("principal")
            self._draw(route.rate_class, principal.user_id if principal else client_address(request), quotas)
        if route.roles:
            arguments["principal"] = self._authorize(route, arguments["principal"])
        if route.idempotency_key_required:
            idempotency_key(request, required=True)
        if binding.body is not None:
            arguments["body"] = (
                _parse_form(request, binding.body)
                if route.request_content_type == FORM
                else _parse_json(
                    request,
                    binding.body,
                    empty_is_object=not route.request_body_required,
                    bytes_max=route.request_body_bytes_max or REQUEST_BODY_BYTES_MAX,
                )
            )
        if route.query_model is not None:
            arguments["query"] = _parse_query(request, route.query_model)
        return arguments

    def _draw(self, rate_class: RateClass, key: str, quotas: list[Quota]) -> None:
        """Draw one request of `key` from the class's budget (its RateLimit headers go on the
        answer), or refuse it with a 429 when the budget is spent."""
        if self._rate_limits_of is None:
            return
        quota = self._rate_limits_of().hit(rate_class, key)
        if quota is None:  # the limiter's store is unreachable: not limited (logged)
            return
        quotas.append(quota)
        if not quota.allowed:
            raise ApiError.rate_limited(
                "rate_limited",
                f"too many requests of this kind ({quota.limit} per {quota.window_seconds} seconds); "
                f"retry after {quota.reset_seconds} seconds",
                retry_after_seconds=quota.reset_seconds,
                event_fields={
                    "rate_class": rate_class.value,
                    "user_id": key if rate_class.per_user else None,
                    "outcome": "rate_limited",
                },
            )

    def _authorize(self, route: Route, principal: Principal) -> Principal:
        """The caller with the roles the database holds now, if one of them is the route's; a
        403 otherwise. The token's claim is not trusted here: a revoked role stops at once."""
        if self._roles_of is None:
            raise RuntimeError(f"{route.endpoint} admits roles, but {self.function_name} cannot read them")
        roles = self._roles_of(principal.user_id)
        if roles.isdisjoint(route.roles):
            raise ApiError.forbidden(
                "role_required", f"{route.method} {route.path} needs one of the roles {', '.join(route.roles)}"
            )
        return Principal(user_id=principal.user_id, roles=roles)

    def dispatch(self, request: flask.Request) -> flask.Response:
        """Answer one request: route, run the handler, shape the result or the error; every
        answer carries the security headers (shared.hygiene)."""
        web_origin = self._web_origin_of() if self._web_origin_of is not None else ""
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response = self._preflight(request, web_origin)
        else:
            response = self._answer(request)
        for name, value in security_headers(
            path=request.path, origin=request.headers.get("Origin"), web_origin=web_origin
        ):
            response.headers[name] = value
        return response

    def _preflight(self, request: flask.Request, web_origin: str) -> flask.Response:
        """A CORS preflight: allowed for the web wallet's origin and a route that exists, in
        the error shape otherwise."""
        method = request.headers["Access-Control-Request-Method"]
        if not web_origin or request.headers.get("Origin") != web_origin:
            error = ApiError.forbidden("origin_not_allowed", "only the web wallet may call the API cross-origin")
            return self._error_response(error)
        try:
            self._matcher.match(path_info=request.path, method=method)
        except NotFound:
            return self._error_response(ApiError.not_found("route_not_found", f"no route for {method} {request.path}"))
        except MethodNotAllowed:
            return self._error_response(
                ApiError.invalid("method_not_allowed", f"{method} is not allowed on {request.path}", status=405)
            )
        response = flask.Response(status=204)
        for name, value in preflight_headers(web_origin, [method]):
            response.headers[name] = value
        response.headers["X-Request-Id"] = request_id()
        return response

    @staticmethod
    def _error_response(error: ApiError) -> flask.Response:
        response = flask.jsonify(error.body())
        response.status_code = error.status
        response.headers["X-Request-Id"] = request_id()
        return response

    def _answer(self, request: flask.Request) -> flask.Response:
        rid = request_id()
        # The budget this request drew from, once drawn: its headers go on every answer after.
        quotas: list[Quota] = []
        extra_headers: list[tuple[str, str]] = []
        try:
            endpoint, params = self._matcher.match(path_info=request.path, method=request.method)
            binding = self._bindings[endpoint]
            note_route(endpoint)
            with translate_errors(), traced_step(endpoint):
                result = binding.handler(request, **self._arguments(binding, request, quotas), **params)
            if isinstance(result, flask.Response):
                result.headers["X-Request-Id"] = rid
                for name, value in (header for quota in quotas for header in quota.headers()):
                    result.headers[name] = value
                return result
            status, body = result
        except NotFound:
            status, body = (
                404,
                ApiError.not_found("route_not_found", f"no route for {request.method} {request.path}").body(),
            )
        except MethodNotAllowed:
            status, body = (
                405,
                ApiError.invalid(
                    "method_not_allowed", f"{request.method} is not allowed on {request.path}", status=405
                ).body(),
            )
        except ApiError as error:
            status, body = error.status, error.body()
            extra_headers = error.headers
            kind = security_event_of_refusal(status, error.code)
            if kind is not None:
                security_event(
                    kind,
                    f"{request.method} {request.path} refused: {error.code}",
                    method=request.method,
                    path=request.path,
                    code=error.code,
                    client_ip=client_address(request),
                    **{"user_id": flask.g.get("paystream_user_id"), **error.event_fields},
                )
        except DatabaseUnavailable:
            logger.exception("database unavailable")
            status, body = 503, service_unavailable_body()
        except Exception:  # a bug or a broken dependency: logged, and a 500 without details
            logger.exception("unhandled error in %s", self.function_name)
            status, body = 500, ApiError(500, "api_error", "internal_error", "an internal error occurred").body()
        response = flask.jsonify(_to_json(body))
        response.status_code = status
        response.headers["X-Request-Id"] = rid
        if status == 503:
            response.headers["Retry-After"] = str(SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS)
        for name, value in (*(header for quota in quotas for header in quota.headers()), *extra_headers):
            response.headers[name] = value
        return response
