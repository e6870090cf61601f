"""Every route of the versioned API declares a rate class, and the facts derived from the
classes (the document, docs/security.md's table) say the same as the code."""

from __future__ import annotations

import dataclasses

import pytest

from schemas.openapi import build_openapi
from schemas.routes import ROUTE_TABLES
from schemas.routing import API_PATH_PREFIX, RateClass, Route
from shared.deploy.common import REPOSITORY_ROOT
from shared.functions import load_module
from shared.rate_limits import limits_table

# The POSTs that move money, named here on their own: each must draw on the MONEY budget.
MONEY_MOVING = {
    ("POST", "/v1/payments"),
    ("POST", "/v1/payments/{payment_id}/refunds"),
    ("POST", "/v1/payment-requests/{payment_request_id}/pay"),
    ("POST", "/v1/topups"),
    ("POST", "/v1/conversions"),
    ("POST", "/v1/withdrawals"),
}
# Unauthenticated routes that take a credential or create one: the strictest budget.
CREDENTIAL = {
    ("POST", "/v1/users"),
    ("POST", "/v1/oauth/token"),
    ("POST", "/v1/oauth/revoke"),
    ("POST", "/v1/users/password-reset"),
    ("POST", "/v1/users/password-reset/confirm"),
}

ROUTES = [(table.function, route) for table in ROUTE_TABLES for route in table.routes]


@pytest.mark.parametrize(("function", "route"), ROUTES, ids=[route.endpoint for _, route in ROUTES])
def test_every_api_route_declares_its_rate_class_and_nothing_else_is_limited(function, route):
    if not route.path.startswith(API_PATH_PREFIX):  # the probes, the document, /.well-known
        assert route.rate_class is None
        return
    assert isinstance(route.rate_class, RateClass)
    if (route.method, route.path) in MONEY_MOVING:
        expected = RateClass.MONEY
    elif (route.method, route.path) in CREDENTIAL:
        expected = RateClass.CREDENTIAL
    elif not route.bearer_auth:
        expected = RateClass.PUBLIC
    else:
        expected = RateClass.READ if route.method == "GET" else RateClass.WRITE
    assert route.rate_class is expected


def test_the_money_moving_routes_are_every_route_that_requires_an_idempotency_key():
    required = {(route.method, route.path) for _, route in ROUTES if route.idempotency_key_required}
    money = {(route.method, route.path) for _, route in ROUTES if route.rate_class is RateClass.MONEY}
    assert required == money == MONEY_MOVING


def test_a_route_that_forgets_its_rate_class_or_misplaces_one_is_refused_where_it_is_declared():
    payment = next(route for _, route in ROUTES if route.operation_id == "createPayment")
    with pytest.raises(ValueError, match="rate class"):
        dataclasses.replace(payment, rate_class=None)
    with pytest.raises(ValueError, match="money"):
        dataclasses.replace(payment, rate_class=RateClass.WRITE)
    with pytest.raises(ValueError, match="per user"):
        Route(
            method="GET", path="/v1/things", operation_id="t", summary="t", response_model=None,
            bearer_auth=False, rate_class=RateClass.READ,
        )  # fmt: skip


@pytest.mark.parametrize("function", sorted({table.function for table in ROUTE_TABLES} - {"*"}))
def test_every_route_a_function_serves_is_declared_with_its_class(function):
    declared = {
        (route.method, route.path): route.rate_class
        for table in ROUTE_TABLES
        if table.function in (function, "*")
        for route in table.routes
    }
    served = load_module(function).router.routes()
    assert served and served <= set(declared)
    assert all(declared[endpoint] is not None for endpoint in served if endpoint[1].startswith(API_PATH_PREFIX))


def test_every_operation_of_the_document_names_its_rate_class():
    for path, operations in build_openapi()["paths"].items():
        for operation in operations.values():
            if path.startswith(API_PATH_PREFIX):
                assert operation["x-paystream-rate-class"] in {rate_class.value for rate_class in RateClass}
                assert "429" in operation["responses"]
            else:
                assert "x-paystream-rate-class" not in operation and "429" not in operation["responses"]


def test_the_table_of_limits_in_docs_security_is_the_one_the_code_declares():
    assert limits_table() in (REPOSITORY_ROOT / "docs" / "security.md").read_text()
