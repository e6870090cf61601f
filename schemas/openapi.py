"""The OpenAPI 3.1 document of Paystream's core HTTP contract, built from the declared routes.

Every client route is declared once, in its function's table under :mod:`schemas.routes`, with its
request and response models, the errors it can return, and whether it needs a bearer token or
takes an ``Idempotency-Key``. :func:`build_openapi` turns those tables, and the pydantic models of
:mod:`schemas.api`, into the document served at ``GET /openapi.json`` and committed as
``docs/openapi.json`` (``python -m schemas.export`` regenerates it; a test fails when it drifts).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, TypeAdapter

from schemas import operators
from schemas.api import (
    IDEMPOTENCY_KEY_LENGTH_MAX,
    IDENTIFIER_LENGTH_MAX,
    REQUEST_MODELS,
    REQUEST_UNIONS,
    RESPONSE_MODELS,
    ErrorResponse,
)
from schemas.routes import ROUTE_TABLES
from schemas.routing import EVERY_HTTP_FUNCTION, JSON, Route

__all__ = [
    "OPENAPI_VERSION",
    "API_VERSION",
    "ERROR_STATUS_DESCRIPTIONS",
    "build_openapi",
]

OPENAPI_VERSION = "3.1.0"
API_VERSION = "v1"
REF_TEMPLATE = "#/components/schemas/{model}"

# What each error status means in this contract, and the component name of its shared response.
ERROR_STATUS_DESCRIPTIONS: Mapping[int, tuple[str, str]] = MappingProxyType(
    {
        400: (
            "BadRequest",
            "The request is malformed or a parameter is invalid (`invalid_request_error`).",
        ),
        401: (
            "Unauthorized",
            "No valid credentials: a missing, expired or revoked token, or a wrong password (`authentication_error`).",
        ),
        402: (
            "PaymentRequired",
            "The card was declined or cannot be used (`card_error`); nothing was charged.",
        ),
        403: (
            "Forbidden",
            "The caller is authenticated but may not do this (`authorization_error`).",
        ),
        404: (
            "NotFound",
            "No such resource visible to the caller (`not_found_error`). Another user's resources "
            "are reported as not found.",
        ),
        409: (
            "Conflict",
            "The Idempotency-Key was already used with a different body (`idempotency_error`), "
            "the resource already exists, or its state does not allow the action, such as "
            "paying an expired or already paid request (`invalid_request_error`).",
        ),
        413: (
            "ContentTooLarge",
            "The request body, or a file in it, is larger than the route accepts (`invalid_request_error`).",
        ),
        415: (
            "UnsupportedMediaType",
            "The request body is not in the media type the route takes (`unsupported_media_type`), "
            "or a file in it is of a type the route does not accept, or its bytes are not of the "
            "type it claims (`invalid_request_error`).",
        ),
        422: (
            "UnprocessableEntity",
            "The request is well-formed but cannot be carried out, for example an unsupported "
            "currency or insufficient funds (`invalid_request_error`).",
        ),
        429: (
            "TooManyRequests",
            "Too many requests (`rate_limit_error`): the route's rate class budget is spent "
            "(`rate_limited`), or failed sign-ins locked this one out (`sign_in_locked`); retry "
            "after the `Retry-After` delay.",
        ),
        500: ("InternalServerError", "Something went wrong on Paystream's side (`api_error`)."),
        503: (
            "ServiceUnavailable",
            "A dependency is unreachable; the request may be retried after the `Retry-After` delay (`api_error`).",
        ),
    }
)

_SUCCESS_DESCRIPTIONS = {200: "OK", 201: "Created", 202: "Accepted"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _request_schema_name(model: type[BaseModel] | TypeAdapter[Any]) -> str:
    if isinstance(model, type):
        return model.__name__
    for name, adapter in REQUEST_UNIONS.items():
        if adapter is model:
            return name
    raise ValueError(f"request adapter {model!r} is not listed in schemas.api.REQUEST_UNIONS")


def _component_schemas() -> dict[str, Any]:
    """Every request and response model, with nested models as shared ``$ref`` components."""
    models: list[tuple[str, TypeAdapter[Any]]] = [
        (model.__name__, TypeAdapter(model))
        for model in (*REQUEST_MODELS, *operators.REQUEST_MODELS, *RESPONSE_MODELS, *operators.RESPONSE_MODELS)
    ]
    models.extend(REQUEST_UNIONS.items())
    # Validation mode for every model keeps one schema per name (mixing modes would split some
    # into -Input/-Output pairs). For responses the one difference is that defaulted fields
    # (`param`, `checks`, `events`) read as optional, though the functions always send them.
    top_level, definitions = TypeAdapter.json_schemas(
        [(name, "validation", adapter) for name, adapter in models], ref_template=REF_TEMPLATE
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    for (name, _mode), schema in top_level.items():
        # Models come back as a $ref to their definition; unions come back inline.
        if "$ref" not in schema:
            schemas[name] = schema
    return schemas


def _headers() -> dict[str, Any]:
    return {
        "X-Request-Id": {
            "description": "The id of this request; quote it when reporting a problem.",
            "schema": {"type": "string"},
        },
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 0},
        },
        **_RATE_LIMIT_HEADERS,
    }


# The RateLimit header fields (IETF draft-ietf-httpapi-ratelimit-headers) on every answer of a
# rate-limited route, for the budget of its rate class (`x-paystream-rate-class`).
_RATE_LIMIT_HEADERS: dict[str, Any] = {
    "RateLimit-Limit": {
        "description": "The requests the budget of the route's rate class allows per window.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Remaining": {
        "description": "The requests left in the budget now.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the budget has room again.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Policy": {
        "description": "The budget: `limit;w=window seconds`.",
        "schema": {"type": "string"},
    },
}


def _rate_limit_header_refs() -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in _RATE_LIMIT_HEADERS}


def _request_id_header() -> dict[str, Any]:
    return {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}


def _error_responses() -> dict[str, Any]:
    responses = {}
    for status, (name, description) in ERROR_STATUS_DESCRIPTIONS.items():
        headers = _request_id_header()
        if status in (429, 503):
            headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
        if status == 429:
            headers.update(_rate_limit_header_refs())
        responses[name] = {
            "description": description,
            "headers": headers,
            "content": {JSON: {"schema": _ref(ErrorResponse.__name__)}},
        }
    return responses


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        branches = prop.get("anyOf")
        if branches:
            # A query value is absent or a string, never JSON null: keep the non-null branch.
            (value_schema,) = [b for b in branches if b.get("type") != "null"]
        else:
            value_schema = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
        if prop.get("default") is not None:
            value_schema = {**value_schema, "default": prop["default"]}
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": value_schema,
        }
        if prop.get("description"):
            parameter["description"] = prop["description"]
        parameters.append(parameter)
    return parameters


def _tag(function: str) -> dict[str, str]:
    """The tag of a function's operations: its name, or `health` for what every one answers."""
    if function == EVERY_HTTP_FUNCTION:
        return {"name": "health", "description": "Answered by every HTTP function."}
    return {"name": function, "description": f"Served by the `{function}` function."}


def _error_statuses(route: Route) -> list[int]:
    """The route's own errors, and those the rest of its declaration implies; adding these here
    avoids a route that forgets them."""
    statuses = {*route.error_statuses, 500}  # every operation can fail on Paystream's side
    if route.request_model is not None or route.query_model is not None or route.idempotency_key_required:
        statuses.add(400)
    if route.request_model is not None:  # a body in another media type than the route takes
        statuses.add(415)
    if route.bearer_auth:
        statuses.add(401)
    if route.roles:
        statuses.add(403)
    if route.idempotency_key:
        statuses.add(409)
    if route.rate_class is not None:  # rate limited; health probes and /.well-known are not
        statuses.add(429)
    return sorted(statuses)


def _operation(function: str, route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [_tag(function)["name"]],
        "x-paystream-function": function,
    }
    if route.description:
        operation["description"] = route.description
    if route.roles:
        # Who may call it, for readers and for the role walk-test's tooling alike.
        operation["x-paystream-roles"] = list(route.roles)
    if route.rate_class is not None:
        # Whose budget it draws on (shared.rate_limits; docs/security.md has the limits).
        operation["x-paystream-rate-class"] = route.rate_class.value

    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": IDENTIFIER_LENGTH_MAX},
        }
        for name in route.path_parameters
    ]
    if route.idempotency_key:
        name = "IdempotencyKeyRequired" if route.idempotency_key_required else "IdempotencyKey"
        parameters.append({"$ref": f"#/components/parameters/{name}"})
    if route.query_model is not None:
        parameters.extend(_query_parameters(route.query_model))
    if parameters:
        operation["parameters"] = parameters

    if route.request_model is not None:
        operation["requestBody"] = {
            "required": route.request_body_required,
            "content": {route.request_content_type: {"schema": _ref(_request_schema_name(route.request_model))}},
        }

    if route.response_content_type != JSON:
        success_schema: dict[str, Any] = {"type": "string"}
    elif route.response_model is None:
        success_schema = {"type": "object"}
    else:
        success_schema = _ref(route.response_model.__name__)
    responses: dict[str, Any] = {
        str(route.response_status): {
            "description": _SUCCESS_DESCRIPTIONS[route.response_status],
            "headers": {**_request_id_header(), **(_rate_limit_header_refs() if route.rate_class else {})},
            "content": {route.response_content_type: {"schema": success_schema}},
        }
    }
    overrides = dict(route.error_body_overrides)
    for status in _error_statuses(route):
        name, description = ERROR_STATUS_DESCRIPTIONS[status]
        if status in overrides:
            responses[str(status)] = {
                "description": description,
                "headers": _request_id_header(),
                "content": {JSON: {"schema": _ref(overrides[status].__name__)}},
            }
        else:
            responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
    operation["responses"] = responses

    if route.bearer_auth:
        operation["security"] = [{"bearerAuth": []}]
    return operation


def _id_parameters() -> dict[type[BaseModel], str]:
    """The path parameter that names each resource, read off the routes that fetch one: the
    model `GET /v1/payments/{payment_id}` returns is named by `payment_id`."""
    named: dict[type[BaseModel], str] = {}
    for table in ROUTE_TABLES:
        for route in table.routes:
            if route.method == "GET" and route.response_model is not None and len(route.path_parameters) == 1:
                named.setdefault(route.response_model, route.path_parameters[0])
    return named


def _links(route: Route, id_parameters: Mapping[type[BaseModel], str]) -> dict[str, Any]:
    """OpenAPI links from a create operation to every operation that takes the id it returns
    (its other path parameters, if any, are the create operation's own), so that a client, or a
    fuzzer's stateful phase, can follow a resource from its creation."""
    creates = route.method == "POST" and route.response_status in (201, 202)
    if not creates or route.response_model is None or route.response_model not in id_parameters:
        return {}
    parameter = id_parameters[route.response_model]
    links: dict[str, Any] = {}
    for table in ROUTE_TABLES:
        for target in table.routes:
            others = set(target.path_parameters) - {parameter}
            if parameter not in target.path_parameters or not others <= set(route.path_parameters):
                continue
            values = {parameter: "$response.body#/id"}
            values.update({name: f"$request.path.{name}" for name in sorted(others)})
            links[target.operation_id] = {"operationId": target.operation_id, "parameters": values}
    return links


def build_openapi() -> dict[str, Any]:
    """Build the OpenAPI 3.1 document of the core contract (a fresh dict on every call)."""
    paths: dict[str, dict[str, Any]] = {}
    id_parameters = _id_parameters()
    for table in ROUTE_TABLES:
        for route in table.routes:
            operation = _operation(table.function, route)
            links = _links(route, id_parameters)
            if links:
                operation["responses"][str(route.response_status)]["links"] = links
            paths.setdefault(route.path, {})[route.method.lower()] = operation

    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Paystream API",
            "version": API_VERSION,
            "summary": "Send money, fund wallets and follow every payment.",
            "description": (
                "JSON over HTTPS. Amounts are integers in minor units with a three-letter "
                "`currency`. Every response carries `X-Request-Id`. Errors are "
                '`{"error": {"type", "code", "message", "param"}}`. Lists are '
                '`{"data": [...], "has_more": bool}`. Mutating money endpoints take an '
                "`Idempotency-Key`, required on those that move money (payments, paying a request, "
                "top-ups, conversions, withdrawals, refunds): the same key and body replay the "
                "first response."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [_tag(table.function) for table in ROUTE_TABLES],
        "paths": paths,
        "components": {
            "schemas": _component_schemas(),
            "responses": _error_responses(),
            "headers": _headers(),
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "A unique key per operation (a UUID). Replaying the same key "
                    "and body returns the first response; the same key with a different body "
                    "is a 409 `idempotency_error`.",
                    "schema": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": IDEMPOTENCY_KEY_LENGTH_MAX,
                    },
                },
                "IdempotencyKeyRequired": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": True,
                    "description": "Required: the request moves money. A unique key per operation "
                    "(a UUID); without one the answer is 400 `idempotency_key_required`. Replaying "
                    "the same key and body returns the first response; the same key with a "
                    "different body is a 409 `idempotency_error`.",
                    "schema": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": IDEMPOTENCY_KEY_LENGTH_MAX,
                    },
                },
            },
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from `POST /v1/oauth/token`.",
                }
            },
        },
    }
