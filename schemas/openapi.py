"""The OpenAPI 3.1 document of Paystream's core HTTP contract, built from a route table.

:data:`ROUTES` is the one list of client endpoints: method, path, the HTTP function that serves it,
its request and response models, the errors it can return, and whether it needs a bearer token or
takes an ``Idempotency-Key``. :func:`build_openapi` turns it, and the pydantic models of
:mod:`schemas.api`, into the document served at ``GET /openapi.json`` and committed as
``docs/openapi.json`` (``python -m schemas.export`` regenerates it; a test fails when it drifts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from schemas.api import (
    ConversionQuoteRequest,
    ConversionQuoteResponse,
    ConversionRequest,
    ConversionResponse,
    WithdrawalRequest,
    WithdrawalResponse,
    FUNDING_SOURCE_REQUEST_ADAPTER,
    IDEMPOTENCY_KEY_LENGTH_MAX,
    IDENTIFIER_LENGTH_MAX,
    REQUEST_MODELS,
    REQUEST_UNIONS,
    RESPONSE_MODELS,
    TOKEN_REQUEST_ADAPTER,
    ErrorResponse,
    FundingSourceList,
    FundingSourceResponse,
    HealthResponse,
    ListQuery,
    StatementQuery,
    TransactionQuery,
    EmptyRequest,
    PaymentRequest,
    PaymentRequestList,
    PaymentRequestResponse,
    PaymentResponse,
    RefundList,
    RefundRequest,
    RefundResponse,
    RequestMoneyRequest,
    SignUpRequest,
    TokenResponse,
    TopupRequest,
    TopupResponse,
    TransactionList,
    TransactionResponse,
    UserResponse,
    WalletList,
    NotificationList,
)

__all__ = [
    "OPENAPI_VERSION",
    "API_VERSION",
    "JSON",
    "FORM",
    "EVERY_HTTP_FUNCTION",
    "HTTP_FUNCTIONS",
    "ERROR_STATUS_DESCRIPTIONS",
    "RouteSpec",
    "ROUTES",
    "build_openapi",
]

OPENAPI_VERSION = "3.1.0"
API_VERSION = "v1"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
REF_TEMPLATE = "#/components/schemas/{model}"

HTTP_FUNCTIONS: tuple[str, ...] = (
    "users", "accounts", "wallets", "payments", "transactions", "notifications"
)
# Health and the document itself are answered by every HTTP function, not routed to one.
EVERY_HTTP_FUNCTION = "*"

# What each error status means in this contract, and the component name of its shared response.
ERROR_STATUS_DESCRIPTIONS: Mapping[int, tuple[str, str]] = MappingProxyType(
    {
        400: (
            "BadRequest",
            "The request is malformed or a parameter is invalid (`invalid_request_error`).",
        ),
        401: (
            "Unauthorized",
            "No valid credentials: a missing, expired or revoked token, or a wrong password "
            "(`authentication_error`).",
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
        422: (
            "UnprocessableEntity",
            "The request is well-formed but cannot be carried out, for example an unsupported "
            "currency or insufficient funds (`invalid_request_error`).",
        ),
        429: (
            "TooManyRequests",
            "Too many requests (`rate_limit_error`); retry after the `Retry-After` delay.",
        ),
        500: ("InternalServerError", "Something went wrong on Paystream's side (`api_error`)."),
        503: (
            "ServiceUnavailable",
            "A dependency is unreachable; the request may be retried after the `Retry-After` "
            "delay (`api_error`).",
        ),
    }
)

# Every operation can fail on Paystream's side, and every /v1 operation can be rate limited
# (health probes are not); adding these here avoids a route that forgets them.
_ALWAYS_POSSIBLE = (500,)
_RATE_LIMITED_PREFIX = "/v1/"


@dataclass(frozen=True)
class RouteSpec:
    """One client endpoint of the core contract."""

    method: Literal["GET", "POST"]
    path: str
    # The HTTP function (functions/<name>) that serves the path, or EVERY_HTTP_FUNCTION.
    function: str
    operation_id: str
    summary: str
    response_status: int
    # None means a free-form JSON object (only the OpenAPI document itself).
    response_model: type[BaseModel] | None
    # A model, or the adapter of a discriminated union of models (token and funding-source bodies).
    request_model: type[BaseModel] | TypeAdapter[Any] | None = None
    request_content_type: str = JSON
    # The success body's media type; anything but JSON is a string (a CSV statement).
    response_content_type: str = JSON
    error_statuses: tuple[int, ...] = ()
    bearer_auth: bool = False
    idempotency_key: bool = False
    query_model: type[BaseModel] | None = None
    # Error statuses whose body is not the shared ErrorResponse: only readiness, which answers
    # 503 with its health report so that an operator sees which dependency is down.
    error_body_overrides: tuple[tuple[int, type[BaseModel]], ...] = ()
    description: str = ""

    @property
    def path_parameters(self) -> tuple[str, ...]:
        """Names of the ``{placeholders}`` in the path, in order."""
        return tuple(re.findall(r"\{(\w+)\}", self.path))


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        method="POST",
        path="/v1/users",
        function="users",
        operation_id="createUser",
        summary="Sign up",
        request_model=SignUpRequest,
        response_model=UserResponse,
        response_status=201,
        error_statuses=(400, 409),
        description="Creates a user. An e-mail address already in use is a 409.",
    ),
    RouteSpec(
        method="POST",
        path="/v1/oauth/token",
        function="users",
        operation_id="createToken",
        summary="Get a token pair (OAuth2 password or refresh_token grant)",
        request_model=TOKEN_REQUEST_ADAPTER,
        request_content_type=FORM,
        response_model=TokenResponse,
        response_status=200,
        error_statuses=(400, 401),
        description="Refresh tokens rotate: each use returns a new one, and reusing a spent one "
        "revokes every token of its family.",
    ),
    RouteSpec(
        method="GET",
        path="/v1/users/me",
        function="users",
        operation_id="getCurrentUser",
        summary="The caller, with its KYC status",
        response_model=UserResponse,
        response_status=200,
        error_statuses=(401,),
        bearer_auth=True,
    ),
    RouteSpec(
        method="POST",
        path="/v1/funding-sources",
        function="accounts",
        operation_id="createFundingSource",
        summary="Link a card or a bank account",
        request_model=FUNDING_SOURCE_REQUEST_ADAPTER,
        response_model=FundingSourceResponse,
        response_status=201,
        error_statuses=(400, 401, 402),
        bearer_auth=True,
        description="Card numbers are tokenized by the gateway and never stored; only the brand "
        "and last four digits are returned.",
    ),
    RouteSpec(
        method="GET",
        path="/v1/funding-sources",
        function="accounts",
        operation_id="listFundingSources",
        summary="The caller's funding sources",
        response_model=FundingSourceList,
        response_status=200,
        error_statuses=(401,),
        bearer_auth=True,
    ),
    RouteSpec(
        method="GET",
        path="/v1/wallets",
        function="wallets",
        operation_id="listWallets",
        summary="The caller's balances, one per currency",
        response_model=WalletList,
        response_status=200,
        error_statuses=(401,),
        bearer_auth=True,
    ),
    RouteSpec(
        method="POST",
        path="/v1/topups",
        function="wallets",
        operation_id="createTopup",
        summary="Fund a wallet from a linked funding source",
        request_model=TopupRequest,
        response_model=TopupResponse,
        response_status=201,
        error_statuses=(400, 401, 402, 404, 409, 422),
        bearer_auth=True,
        idempotency_key=True,
        description="In the sandbox, card 4242424242424242 succeeds and 4000000000000002 is "
        "declined (402 `card_error`, nothing credited).",
    ),
    RouteSpec(
        method="POST",
        path="/v1/conversions/quotes",
        function="wallets",
        operation_id="createConversionQuote",
        summary="Price a conversion between two currencies",
        request_model=ConversionQuoteRequest,
        response_model=ConversionQuoteResponse,
        response_status=201,
        error_statuses=(400, 401, 422, 503),
        bearer_auth=True,
        description="The quote fixes the rate and amounts for 60 seconds (PAYSTREAM_FX_QUOTE_TTL_"
        "SECONDS) and is honoured once. Rates are the ECB's euro reference rates; the customer rate "
        "is the mid rate less the spread. The customer receives the amount at the customer rate "
        "rounded down to a minor unit; the spread and the remainder are the fee, in the target "
        "currency. 503 `fx_rates_stale` when the rates are older than the platform accepts.",
    ),
    RouteSpec(
        method="POST",
        path="/v1/conversions",
        function="wallets",
        operation_id="createConversion",
        summary="Convert between two of the caller's balances",
        request_model=ConversionRequest,
        response_model=ConversionResponse,
        response_status=201,
        error_statuses=(400, 401, 402, 404, 409, 422, 503),
        bearer_auth=True,
        idempotency_key=True,
        description="Either `{quote_id}` (at the quoted rate while the quote is live and unused: "
        "400 `quote_expired`, 409 `quote_already_used`) or `{from_currency, to_currency, amount}` "
        "(at the current rate). The wallet debit, the credit and the fee move together or not at "
        "all: 402 `insufficient_funds` records a failed conversion and moves nothing.",
    ),
    RouteSpec(
        method="GET",
        path="/v1/conversions/{conversion_id}",
        function="wallets",
        operation_id="getConversion",
        summary="A conversion of the caller's",
        response_model=ConversionResponse,
        response_status=200,
        error_statuses=(401, 404),
        bearer_auth=True,
    ),
    RouteSpec(
        method="POST",
        path="/v1/withdrawals",
        function="wallets",
        operation_id="createWithdrawal",
        summary="Pay out to a linked bank account",
        request_model=WithdrawalRequest,
        response_model=WithdrawalResponse,
        response_status=202,
        error_statuses=(400, 401, 402, 404, 409, 422),
        bearer_auth=True,
        idempotency_key=True,
        description="The funds are reserved at once (`pending`); the payout follows "
        "asynchronously and the withdrawal becomes `succeeded`, or `failed` with the funds "
        "returned. A card is refused (400 `funding_source_not_a_bank_account`). In the sandbox, "
        "bank account 000111111116 fails (`no_account`) and 000111111113 is closed "
        "(`account_closed`); others are paid.",
    ),
    RouteSpec(
        method="GET",
        path="/v1/withdrawals/{withdrawal_id}",
        function="wallets",
        operation_id="getWithdrawal",
        summary="A withdrawal of the caller's and its status",
        response_model=WithdrawalResponse,
        response_status=200,
        error_statuses=(401, 404),
        bearer_auth=True,
    ),
    RouteSpec(
        method="POST",
        path="/v1/payments",
        function="payments",
        operation_id="createPayment",
        summary="Send money to another user",
        request_model=PaymentRequest,
        response_model=PaymentResponse,
        response_status=202,
        error_statuses=(400, 401, 404, 409, 422),
        bearer_auth=True,
        idempotency_key=True,
        description="Accepted as `pending`; fraud scoring, the debit and the settlement follow "
        "asynchronously. Poll `GET /v1/payments/{payment_id}` for the outcome.",
    ),
    RouteSpec(
        method="GET",
        path="/v1/payments/{payment_id}",
        function="payments",
        operation_id="getPayment",
        summary="A payment and its status",
        response_model=PaymentResponse,
        response_status=200,
        error_statuses=(401, 404),
        bearer_auth=True,
    ),
    RouteSpec(
        method="POST",
        path="/v1/payments/{payment_id}/refunds",
        function="payments",
        operation_id="createRefund",
        summary="Refund all or part of a payment you received",
        request_model=RefundRequest,
        response_model=RefundResponse,
        response_status=202,
        error_statuses=(400, 401, 403, 404, 409),
        bearer_auth=True,
        idempotency_key=True,
        description="Only the payee of a completed (or partially refunded) payment may refund it; "
        "the payer gets a 403. Omit `amount` (or send no body) to refund what is left. Refunds "
        "in flight count: their total never exceeds the payment. Accepted as `pending`; the "
        "refund is reserved from the payee's wallet and credited to the payer asynchronously, "
        "and the payment becomes `partially_refunded`, then `refunded`.",
    ),
    RouteSpec(
        method="GET",
        path="/v1/payments/{payment_id}/refunds",
        function="payments",
        operation_id="listRefunds",
        summary="A payment's refunds, oldest first",
        response_model=RefundList,
        response_status=200,
        error_statuses=(401, 404),
        bearer_auth=True,
    ),
    RouteSpec(
        method="GET",
        path="/v1/refunds/{refund_id}",
        function="payments",
        operation_id="getRefund",
        summary="A refund and its status (for the payment's payer and payee)",
        response_model=RefundResponse,
        response_status=200,
        error_statuses=(401, 404),
        bearer_auth=True,
    ),
    RouteSpec(
        method="POST",
        path="/v1/payment-requests",
        function="payments",
        operation_id="createPaymentRequest",
        summary="Ask another user for money",
        request_model=RequestMoneyRequest,
        response_model=PaymentRequestResponse,
        response_status=201,
        error_statuses=(400, 401, 404, 409),
        bearer_auth=True,
        idempotency_key=True,
        description="`from` is the payer's e-mail address or user id. The request is `open` until "
        "the payer pays or declines it, the requester cancels it, or it expires after "
        "`expires_in_days` (30 by default).",
    ),
    RouteSpec(
        method="GET",
        path="/v1/payment-requests",
        function="payments",
        operation_id="listPaymentRequests",
        summary="Requests you made and requests made of you, newest first",
        response_model=PaymentRequestList,
        response_status=200,
        error_statuses=(400, 401),
        bearer_auth=True,
        query_model=ListQuery,
    ),
    RouteSpec(
        method="GET",
        path="/v1/payment-requests/{payment_request_id}",
        function="payments",
        operation_id="getPaymentRequest",
        summary="A payment request and its status",
        response_model=PaymentRequestResponse,
        response_status=200,
        error_statuses=(401, 404),
        bearer_auth=True,
    ),
    RouteSpec(
        method="POST",
        path="/v1/payment-requests/{payment_request_id}/pay",
        function="payments",
        operation_id="payPaymentRequest",
        summary="Pay a request made of you",
        request_model=EmptyRequest,
        response_model=PaymentResponse,
        response_status=202,
        error_statuses=(400, 401, 403, 404, 409),
        bearer_auth=True,
        idempotency_key=True,
        description="Creates a payment to the requester through the usual saga and returns it "
        "(`pending`). The request is `accepted` meanwhile, `paid` once the payment completes, "
        "and `open` again if it fails or is declined. Only the payer may pay (403 otherwise); "
        "a request already paid or being paid, or expired, is a 409.",
    ),
    RouteSpec(
        method="POST",
        path="/v1/payment-requests/{payment_request_id}/decline",
        function="payments",
        operation_id="declinePaymentRequest",
        summary="Decline a request made of you",
        request_model=EmptyRequest,
        response_model=PaymentRequestResponse,
        response_status=200,
        error_statuses=(400, 401, 403, 404, 409),
        bearer_auth=True,
        idempotency_key=True,
    ),
    RouteSpec(
        method="POST",
        path="/v1/payment-requests/{payment_request_id}/cancel",
        function="payments",
        operation_id="cancelPaymentRequest",
        summary="Cancel a request you made",
        request_model=EmptyRequest,
        response_model=PaymentRequestResponse,
        response_status=200,
        error_statuses=(400, 401, 403, 404, 409),
        bearer_auth=True,
        idempotency_key=True,
    ),
    RouteSpec(
        method="GET",
        path="/v1/transactions",
        function="transactions",
        operation_id="listTransactions",
        summary="The caller's history, newest first, filtered by currency, type, status and dates",
        response_model=TransactionList,
        response_status=200,
        error_statuses=(400, 401),
        bearer_auth=True,
        query_model=TransactionQuery,
    ),
    RouteSpec(
        method="GET",
        path="/v1/transactions/{transaction_id}",
        function="transactions",
        operation_id="getTransaction",
        summary="One transaction with its event timeline",
        response_model=TransactionResponse,
        response_status=200,
        error_statuses=(401, 404),
        bearer_auth=True,
    ),
    RouteSpec(
        method="GET",
        path="/v1/statements",
        function="transactions",
        operation_id="getStatement",
        summary="A CSV statement of one wallet over a date range, with its balances",
        description="Rows are the posted movements (completed or refunded payments, completed "
        "refunds and conversions, succeeded top-ups and withdrawals; never payment requests) by "
        "the time they were made; a conversion counts in both its currencies (debited in one, "
        "credited in the other). Each row has the balance after it; the first row is the opening "
        "balance and the last the closing balance, which for a range ending now equals the "
        "wallet's posted balance.",
        response_model=None,
        response_content_type="text/csv",
        response_status=200,
        error_statuses=(400, 401),
        bearer_auth=True,
        query_model=StatementQuery,
    ),
    RouteSpec(
        method="GET",
        path="/v1/notifications",
        function="notifications",
        operation_id="listNotifications",
        summary="The caller's in-app notifications, newest first",
        response_model=NotificationList,
        response_status=200,
        error_statuses=(400, 401),
        bearer_auth=True,
        query_model=ListQuery,
    ),
    RouteSpec(
        method="GET",
        path="/healthz",
        function=EVERY_HTTP_FUNCTION,
        operation_id="getLiveness",
        summary="Liveness: the process answers",
        response_model=HealthResponse,
        response_status=200,
    ),
    RouteSpec(
        method="GET",
        path="/readyz",
        function=EVERY_HTTP_FUNCTION,
        operation_id="getReadiness",
        summary="Readiness: every dependency is reachable",
        response_model=HealthResponse,
        response_status=200,
        error_statuses=(503,),
        error_body_overrides=((503, HealthResponse),),
    ),
    RouteSpec(
        method="GET",
        path="/openapi.json",
        function=EVERY_HTTP_FUNCTION,
        operation_id="getOpenApiDocument",
        summary="This document",
        response_model=None,
        response_status=200,
    ),
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
        (model.__name__, TypeAdapter(model)) for model in (*REQUEST_MODELS, *RESPONSE_MODELS)
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
    }


def _request_id_header() -> dict[str, Any]:
    return {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}


def _error_responses() -> dict[str, Any]:
    responses = {}
    for status, (name, description) in ERROR_STATUS_DESCRIPTIONS.items():
        headers = _request_id_header()
        if status in (429, 503):
            headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
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
            value_schema = {
                k: v for k, v in prop.items() if k not in ("title", "description", "default")
            }
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


def _operation(route: RouteSpec) -> dict[str, Any]:
    tag = "health" if route.function == EVERY_HTTP_FUNCTION else route.function
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [tag],
        "x-paystream-function": route.function,
    }
    if route.description:
        operation["description"] = route.description

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
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if route.query_model is not None:
        parameters.extend(_query_parameters(route.query_model))
    if parameters:
        operation["parameters"] = parameters

    if route.request_model is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                route.request_content_type: {
                    "schema": _ref(_request_schema_name(route.request_model))
                }
            },
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
            "headers": _request_id_header(),
            "content": {route.response_content_type: {"schema": success_schema}},
        }
    }
    statuses = set(route.error_statuses) | set(_ALWAYS_POSSIBLE)
    if route.path.startswith(_RATE_LIMITED_PREFIX):
        statuses.add(429)
    overrides = dict(route.error_body_overrides)
    for status in sorted(statuses):
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


def build_openapi() -> dict[str, Any]:
    """Build the OpenAPI 3.1 document of the core contract (a fresh dict on every call)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)

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
                "`Idempotency-Key`: the same key and body replay the first response."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": name, "description": f"Served by the `{name}` function."}
            for name in HTTP_FUNCTIONS
        ]
        + [{"name": "health", "description": "Answered by every HTTP function."}],
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
                }
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
