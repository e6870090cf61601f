"""Contract tests of the OpenAPI document: valid 3.1, complete, and equal to the committed copy."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from pydantic import TypeAdapter

from schemas.api import ERROR_TYPES
from schemas.export import OPENAPI_PATH, OPERATORS_DOC_PATH, render_json, render_operators_doc
from schemas.openapi import build_openapi
from schemas.routes import ROUTE_TABLES
from schemas.routing import EVERY_HTTP_FUNCTION, FORM, Route
from shared.functions import FUNCTIONS

# The core HTTP contract, as (method, path, success status).
CORE_CONTRACT = {
    ("POST", "/v1/users", 201),
    ("POST", "/v1/oauth/token", 200),
    ("GET", "/v1/users/me", 200),
    ("GET", "/v1/users/me/limits", 200),
    ("POST", "/v1/funding-sources", 201),
    ("GET", "/v1/funding-sources", 200),
    ("GET", "/v1/wallets", 200),
    ("POST", "/v1/topups", 201),
    ("POST", "/v1/conversions/quotes", 201),
    ("POST", "/v1/conversions", 201),
    ("GET", "/v1/conversions/{conversion_id}", 200),
    ("POST", "/v1/withdrawals", 202),
    ("GET", "/v1/withdrawals/{withdrawal_id}", 200),
    ("POST", "/v1/payments", 202),
    ("GET", "/v1/payments/{payment_id}", 200),
    ("POST", "/v1/payments/{payment_id}/refunds", 202),
    ("GET", "/v1/payments/{payment_id}/refunds", 200),
    ("GET", "/v1/refunds/{refund_id}", 200),
    ("POST", "/v1/payment-requests", 201),
    ("GET", "/v1/payment-requests", 200),
    ("GET", "/v1/payment-requests/{payment_request_id}", 200),
    ("POST", "/v1/payment-requests/{payment_request_id}/pay", 202),
    ("POST", "/v1/payment-requests/{payment_request_id}/decline", 200),
    ("POST", "/v1/payment-requests/{payment_request_id}/cancel", 200),
    ("GET", "/v1/transactions", 200),
    ("GET", "/v1/transactions/{transaction_id}", 200),
    ("GET", "/v1/notifications", 200),
    ("GET", "/v1/statements", 200),
    ("POST", "/v1/kyc", 200),
    ("POST", "/v1/kyc/documents", 202),
    ("GET", "/v1/kyc", 200),
    ("GET", "/healthz", 200),
    ("GET", "/readyz", 200),
    ("GET", "/openapi.json", 200),
    ("POST", "/v1/oauth/revoke", 200),
    ("POST", "/v1/users/me/password", 200),
    ("GET", "/v1/users/me/sessions", 200),
    ("DELETE", "/v1/users/me/sessions/{session_id}", 200),
    ("GET", "/v1/users/me/export", 200),
    ("DELETE", "/v1/users/me", 200),
    ("POST", "/v1/users/me/mfa", 200),
    ("POST", "/v1/users/me/mfa/confirm", 200),
    ("DELETE", "/v1/users/me/mfa", 200),
    ("POST", "/v1/users/me/email/verify", 200),
    ("POST", "/v1/users/me/email/verification-code", 202),
    ("POST", "/v1/users/password-reset", 202),
    ("POST", "/v1/users/password-reset/confirm", 200),
    ("GET", "/.well-known/jwks.json", 200),
    ("GET", "/.well-known/openid-configuration", 200),
}
PUBLIC_PATHS = {
    "/v1/users",
    "/v1/oauth/token",
    "/v1/oauth/revoke",
    # A reset is asked for, and confirmed, by someone who cannot sign in.
    "/v1/users/password-reset",
    "/v1/users/password-reset/confirm",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
}
ROUTES = tuple(route for table in ROUTE_TABLES for route in table.routes)
FUNCTION_OF = {route: table.function for table in ROUTE_TABLES for route in table.routes}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_openapi()


def _operation(document: dict[str, Any], route: Route) -> dict[str, Any]:
    return document["paths"][route.path][route.method.lower()]


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name]
    return node


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1.")


def test_the_committed_document_equals_a_fresh_build(document: dict[str, Any]) -> None:
    committed = OPENAPI_PATH.read_text(encoding="utf-8")
    assert committed == render_json(document), "docs/openapi.json is out of date: run `python -m schemas.export`"


def test_building_twice_gives_independent_equal_documents() -> None:
    first, second = build_openapi(), build_openapi()
    assert first == second
    first["paths"].clear()
    assert second["paths"]


def test_every_http_function_has_a_route_table_and_a_tag(document: dict[str, Any]) -> None:
    http_functions = [f.name for f in FUNCTIONS if f.serves_clients]
    assert [table.function for table in ROUTE_TABLES] == [*http_functions, EVERY_HTTP_FUNCTION]
    assert [tag["name"] for tag in document["tags"]] == [*http_functions, "health"]


def test_the_route_table_is_the_core_contract_and_the_operator_side() -> None:
    declared = {(r.method, r.path, r.response_status) for r in ROUTES}
    assert {route for route in declared if not route[1].startswith("/v1/admin/")} == CORE_CONTRACT
    # Every operator route admits named roles and nobody else.
    assert all(r.roles for r in ROUTES if r.path.startswith("/v1/admin/"))
    assert not any(r.roles for r in ROUTES if not r.path.startswith("/v1/admin/"))
    assert len({(r.method, r.path) for r in ROUTES}) == len(ROUTES)
    assert len({r.operation_id for r in ROUTES}) == len(ROUTES)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_is_documented_with_its_status_and_errors(document: dict[str, Any], route: Route) -> None:
    operation = _operation(document, route)
    assert operation["operationId"] == route.operation_id
    assert operation["x-paystream-function"] == FUNCTION_OF[route]
    assert str(route.response_status) in operation["responses"]
    for status in route.error_statuses:
        assert str(status) in operation["responses"]
    # Placeholders in the path are declared as path parameters.
    declared = {p["name"] for p in operation.get("parameters", ()) if p.get("in") == "path"}
    assert declared == set(route.path_parameters)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_response_carries_x_request_id(document: dict[str, Any], route: Route) -> None:
    for status, response in _operation(document, route)["responses"].items():
        headers = _resolve(document, response)["headers"]
        assert "X-Request-Id" in headers, f"{route.method} {route.path} {status}"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_only_sign_up_sign_in_and_health_are_public(document: dict[str, Any], route: Route) -> None:
    operation = _operation(document, route)
    if route.path in PUBLIC_PATHS:
        assert not route.bearer_auth and "security" not in operation
    else:
        assert route.bearer_auth and operation["security"] == [{"bearerAuth": []}]
        assert "401" in operation["responses"]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_money_moving_endpoints_take_an_idempotency_key(document: dict[str, Any]) -> None:
    takes_key = {(r.method, r.path) for r in ROUTES if r.idempotency_key}
    assert takes_key == {
        ("POST", "/v1/topups"),
        ("POST", "/v1/payments"),
        ("POST", "/v1/conversions"),
        ("POST", "/v1/withdrawals"),
        ("POST", "/v1/payments/{payment_id}/refunds"),
        ("POST", "/v1/payment-requests"),
        ("POST", "/v1/payment-requests/{payment_request_id}/pay"),
        ("POST", "/v1/payment-requests/{payment_request_id}/decline"),
        ("POST", "/v1/payment-requests/{payment_request_id}/cancel"),
    }
    # Those that move money require it: without one the answer is 400 idempotency_key_required.
    requires_key = {(r.method, r.path) for r in ROUTES if r.idempotency_key_required}
    assert requires_key == {
        ("POST", "/v1/topups"),
        ("POST", "/v1/payments"),
        ("POST", "/v1/conversions"),
        ("POST", "/v1/withdrawals"),
        ("POST", "/v1/payments/{payment_id}/refunds"),
        ("POST", "/v1/payment-requests/{payment_request_id}/pay"),
    }
    for route in ROUTES:
        parameters = _operation(document, route).get("parameters", [])
        refs = [p.get("$ref") for p in parameters]
        assert ("#/components/parameters/IdempotencyKey" in refs) == (
            route.idempotency_key and not route.idempotency_key_required
        )
        assert ("#/components/parameters/IdempotencyKeyRequired" in refs) == route.idempotency_key_required
        if route.idempotency_key:
            assert "409" in _operation(document, route)["responses"]
        if route.idempotency_key_required:
            assert "400" in _operation(document, route)["responses"]
    for name, required in (("IdempotencyKey", False), ("IdempotencyKeyRequired", True)):
        key = document["components"]["parameters"][name]
        assert (key["name"], key["in"], key["required"]) == ("Idempotency-Key", "header", required)


def test_create_operations_link_to_the_operations_that_take_their_id(document: dict[str, Any]) -> None:
    links = document["paths"]["/v1/payments"]["post"]["responses"]["202"]["links"]
    assert links["getPayment"] == {"operationId": "getPayment", "parameters": {"payment_id": "$response.body#/id"}}
    assert "createRefund" in links
    refund_links = document["paths"]["/v1/payments/{payment_id}/refunds"]["post"]["responses"]["202"]["links"]
    assert refund_links["getRefund"]["parameters"] == {"refund_id": "$response.body#/id"}
    operation_ids = {op["operationId"] for ops in document["paths"].values() for op in ops.values()}
    for ops in document["paths"].values():
        for operation in ops.values():
            for response in operation["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in operation_ids


def test_a_declined_top_up_is_a_402_card_error(document: dict[str, Any]) -> None:
    responses = document["paths"]["/v1/topups"]["post"]["responses"]
    error = _resolve(document, responses["402"])
    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    assert "card_error" in error["description"]


def test_the_token_endpoint_takes_a_form_of_either_grant(document: dict[str, Any]) -> None:
    body = document["paths"]["/v1/oauth/token"]["post"]["requestBody"]["content"]
    assert list(body) == [FORM]
    union = _resolve(document, body[FORM]["schema"])
    assert union["discriminator"]["propertyName"] == "grant_type"
    assert set(union["discriminator"]["mapping"]) == {"password", "refresh_token"}


def test_the_transaction_list_pages_with_limit_and_cursors_and_filters(
    document: dict[str, Any],
) -> None:
    parameters = document["paths"]["/v1/transactions"]["get"]["parameters"]
    by_name = {p["name"]: p for p in parameters if p["in"] == "query"}
    assert set(by_name) == {"limit", "starting_after", "ending_before", "currency", "type", "status", "from", "to"}
    assert by_name["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 10,
    }
    assert not any(p["required"] for p in by_name.values())


def test_errors_share_one_schema_with_the_eight_types(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert set(schemas["ErrorBody"]["properties"]["type"]["enum"]) == set(ERROR_TYPES)
    for name, response in document["components"]["responses"].items():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}, name


def test_readiness_reports_its_checks_when_unavailable(document: dict[str, Any]) -> None:
    responses = document["paths"]["/readyz"]["get"]["responses"]
    assert responses["503"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HealthResponse"}
    # A crash is still an ordinary error, and probes are never rate limited.
    assert responses["500"] == {"$ref": "#/components/responses/InternalServerError"}
    assert "429" not in responses


def test_every_v1_operation_can_be_rate_limited(document: dict[str, Any]) -> None:
    for route in ROUTES:
        if route.path.startswith("/v1/"):
            assert "429" in _operation(document, route)["responses"], route.path


def test_a_body_is_optional_only_where_every_parameter_is(document: dict[str, Any]) -> None:
    for route in ROUTES:
        if route.request_model is None:
            continue
        body = _operation(document, route)["requestBody"]
        assert body["required"] == route.request_body_required, route.path
        if not route.request_body_required:
            # No body reads as `{}`, which the model must accept (validated as the router does).
            model = route.request_model
            adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
            adapter.validate_python({})


def test_the_roles_matrix_in_the_operators_guide_is_the_one_the_routes_declare() -> None:
    current = OPERATORS_DOC_PATH.read_text(encoding="utf-8")
    assert render_operators_doc(current) == current, "docs/operators.md is out of date: run `python -m schemas.export`"
    assert "| `POST /v1/admin/users/{user_id}/roles` | no | yes | no |" in current
