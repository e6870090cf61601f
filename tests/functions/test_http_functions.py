"""The client functions through their functions-framework HTTP binding."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from schemas.export import render_json
from schemas.openapi import build_openapi
from schemas.routes import ROUTE_TABLES, every_function
from shared.adapters.tables import outbox
from shared.functions import load_module
from shared.runner.gateway import function_for_path
from shared.settings import Settings
from tests.fixtures.idempotency import fresh_key

# Sooner than the relay would: the publisher, not the relay, must have sent them.
PUBLISH_SECONDS_MAX = Settings.model_fields["outbox_relay_age_seconds"].default - 1
HTTP_ROUTE_TABLES = tuple(table for table in ROUTE_TABLES if table is not every_function.ROUTES)


def _sign_up(users, email="ada@example.com"):
    answer = users.post(
        "/v1/users", json={"email": email, "password": "a long enough password", "full_name": "Ada", "country": "GB"}
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()


def _token(users, email="ada@example.com"):
    answer = users.post(
        "/v1/oauth/token", data={"grant_type": "password", "username": email, "password": "a long enough password"}
    )
    assert answer.status_code == 200
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def test_sign_up_creates_the_user_with_a_wallet_in_their_currency(client_of):
    users, wallets = client_of("users"), client_of("wallets")
    user = _sign_up(users)
    assert user["kyc_status"] == "unverified" and "password" not in str(user)
    answer = wallets.get("/v1/wallets", headers=_token(users))
    assert answer.get_json()["data"] == [{"currency": "GBP", "available": 0, "pending": 0}]


def test_every_response_carries_a_request_id_and_errors_have_the_contract_shape(client_of):
    users = client_of("users")
    answer = users.post(
        "/v1/users", data="[1, 2", headers={"Content-Type": "application/json", "X-Request-Id": "req-test-12345"}
    )
    assert answer.status_code == 400
    assert answer.headers["X-Request-Id"] == "req-test-12345"
    assert answer.get_json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "invalid_json",
            "message": "the request body is not valid JSON",
            "param": None,
        }
    }
    unknown = users.get("/v1/nothing-here")
    assert unknown.status_code == 404 and unknown.get_json()["error"]["type"] == "not_found_error"


def test_sign_up_rejects_extra_fields_and_short_passwords(client_of):
    users = client_of("users")
    extra = users.post(
        "/v1/users",
        json={
            "email": "x@example.com",
            "password": "a long enough password",
            "full_name": "X",
            "country": "US",
            "role": "admin",
        },
    )
    assert extra.status_code == 400 and extra.get_json()["error"]["param"] == "role"
    short = users.post(
        "/v1/users", json={"email": "y@example.com", "password": "short", "full_name": "Y", "country": "US"}
    )
    assert short.status_code == 400 and short.get_json()["error"]["param"] == "password"


def test_an_accepted_payment_is_published_right_after_commit(client_of, runtime):
    users, accounts, wallets, payments = (client_of(n) for n in ("users", "accounts", "wallets", "payments"))
    _sign_up(users, "payer@example.com")
    payee = _sign_up(users, "payee@example.com")
    auth = _token(users, "payer@example.com")
    card = accounts.post(
        "/v1/funding-sources",
        headers=auth,
        json={"type": "card", "number": "4242424242424242", "exp_month": 1, "exp_year": 2040, "cvc": "999"},
    )
    assert card.status_code == 201
    topup = wallets.post(
        "/v1/topups",
        headers={**auth, **fresh_key()},
        json={"funding_source_id": card.get_json()["id"], "amount": 5000, "currency": "USD"},
    )
    assert topup.status_code == 201
    accepted = payments.post(
        "/v1/payments",
        headers={**auth, **fresh_key()},
        json={"to": payee["id"], "amount": 1200, "currency": "USD", "note": "books"},
    )
    assert accepted.status_code == 202
    assert accepted.get_json()["status"] == "pending"
    # The background publisher empties the outbox within moments, long before the relay's turn.
    deadline = time.monotonic() + PUBLISH_SECONDS_MAX
    while True:
        with runtime.engine.connect() as conn:
            waiting = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
        if waiting == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert waiting == 0


def test_each_client_function_serves_exactly_the_routes_it_declares():
    for table in HTTP_ROUTE_TABLES:
        declared = {(r.method, r.path) for r in (*table.routes, *every_function.ROUTES.routes)}
        assert load_module(table.function).router.routes() == declared, table.function


def test_every_declared_route_answers_and_asks_for_a_token_when_it_declares_one(client_of):
    # A route that is not served answers 404 route_not_found (or 405); a guarded one refuses a
    # request without a token before it reads anything.
    for table in HTTP_ROUTE_TABLES:
        client = client_of(table.function)
        for route in (*table.routes, *every_function.ROUTES.routes):
            path = route.path.replace("{", "").replace("}", "")
            answer = client.open(path, method=route.method)
            error = (answer.get_json(silent=True) or {}).get("error") or {}
            assert error.get("code") not in ("route_not_found", "method_not_allowed"), path
            if route.bearer_auth:
                assert (answer.status_code, error["code"]) == (401, "missing_token"), path
            else:
                assert answer.status_code != 401, path


def test_the_document_served_is_the_one_declared(client_of):
    served = client_of("payments").get("/openapi.json")
    assert served.status_code == 200
    assert served.get_json() == json.loads(render_json(build_openapi()))


def test_the_gateway_sends_every_declared_path_to_the_function_that_serves_it():
    for table in HTTP_ROUTE_TABLES:
        for route in table.routes:
            assert function_for_path(route.path.replace("{", "").replace("}", "")) == table.function
    for route in every_function.ROUTES.routes:
        assert function_for_path(route.path) is not None, route.path


def test_the_history_filters_by_currency_type_status_and_dates(client_of):
    # GIVEN top-ups in two currencies, one declined, and a payment
    users, accounts, wallets, payments, transactions = (
        client_of(n) for n in ("users", "accounts", "wallets", "payments", "transactions")
    )
    _sign_up(users, "filter@example.com")
    payee = _sign_up(users, "filtered@example.com")
    auth = _token(users, "filter@example.com")
    card = accounts.post(
        "/v1/funding-sources",
        headers=auth,
        json={"type": "card", "number": "4242424242424242", "exp_month": 1, "exp_year": 2040, "cvc": "999"},
    ).get_json()
    declined = accounts.post(
        "/v1/funding-sources",
        headers=auth,
        json={"type": "card", "number": "4000000000000002", "exp_month": 1, "exp_year": 2040, "cvc": "999"},
    ).get_json()
    for source, amount, currency in ((card, 5000, "USD"), (card, 3000, "EUR"), (declined, 700, "USD")):
        wallets.post(
            "/v1/topups",
            headers={**auth, **fresh_key()},
            json={"funding_source_id": source["id"], "amount": amount, "currency": currency},
        )
    payment = payments.post(
        "/v1/payments", headers={**auth, **fresh_key()}, json={"to": payee["id"], "amount": 1200, "currency": "USD"}
    ).get_json()

    def amounts(**query):
        answer = transactions.get("/v1/transactions", headers=auth, query_string=query)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return sorted(item["amount"] for item in answer.get_json()["data"])

    # THEN each filter keeps exactly what it names
    assert amounts() == [700, 1200, 3000, 5000]
    assert amounts(currency="EUR") == [3000]
    assert amounts(type="payment") == [1200]
    assert amounts(type="topup", status="declined") == [700]
    created = transactions.get(f"/v1/transactions/{payment['id']}", headers=auth).get_json()["created_at"]
    assert amounts(**{"from": created}) == [1200]
    assert amounts(**{"to": created}) == [700, 3000, 5000]
    # AND nonsense is a clear 400
    for bad in (
        {"currency": "usd"},
        {"type": "bonus"},
        {"from": "yesterday"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"colour": "red"},
    ):
        answer = transactions.get("/v1/transactions", headers=auth, query_string=bad)
        assert answer.status_code == 400, bad
        assert answer.get_json()["error"]["type"] == "invalid_request_error"


def test_a_statement_lists_posted_movements_between_its_opening_and_closing_balances(client_of):
    import csv
    import io
    from datetime import UTC, datetime, timedelta

    users, accounts, wallets, transactions = (client_of(n) for n in ("users", "accounts", "wallets", "transactions"))
    _sign_up(users, "statement@example.com")
    auth = _token(users, "statement@example.com")
    good = accounts.post(
        "/v1/funding-sources",
        headers=auth,
        json={"type": "card", "number": "4242424242424242", "exp_month": 1, "exp_year": 2040, "cvc": "999"},
    ).get_json()
    bad = accounts.post(
        "/v1/funding-sources",
        headers=auth,
        json={"type": "card", "number": "4000000000000002", "exp_month": 1, "exp_year": 2040, "cvc": "999"},
    ).get_json()
    for source, amount in ((good, 1005), (bad, 999), (good, 2000)):
        wallets.post(
            "/v1/topups",
            headers={**auth, **fresh_key()},
            json={"funding_source_id": source["id"], "amount": amount, "currency": "USD"},
        )
    now = datetime.now(UTC)
    # WHEN the statement of the last hour is asked for
    answer = transactions.get(
        "/v1/statements",
        headers=auth,
        query_string={
            "currency": "USD",
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(minutes=1)).isoformat(),
        },
    )
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.headers["X-Request-Id"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    # THEN the declined top-up is not a movement, and the closing balance is the wallet's
    assert [r["type"] for r in rows] == ["opening_balance", "topup", "topup", "closing_balance"]
    assert [r["balance_minor"] for r in rows] == ["0", "1005", "3005", "3005"]
    assert rows[-1]["balance"] == "30.05"
    (wallet,) = [w for w in wallets.get("/v1/wallets", headers=auth).get_json()["data"] if w["currency"] == "USD"]
    assert int(rows[-1]["balance_minor"]) == wallet["available"]
    # AND a statement that starts after the first top-up opens with it
    later = transactions.get(
        "/v1/statements",
        headers=auth,
        query_string={"currency": "USD", "from": rows[2]["date"], "to": (now + timedelta(minutes=1)).isoformat()},
    )
    later_rows = list(csv.DictReader(io.StringIO(later.get_data(as_text=True))))
    assert later_rows[0]["balance_minor"] == "1005" and later_rows[-1]["balance_minor"] == "3005"
    # AND a range that is backwards, too long, or without a currency is a 400
    for query in (
        {"currency": "USD", "from": "2026-02-01", "to": "2026-01-01"},
        {"currency": "USD", "from": "2024-01-01", "to": "2026-01-01"},
        {"from": "2026-01-01", "to": "2026-02-01"},
    ):
        refused = transactions.get("/v1/statements", headers=auth, query_string=query)
        assert refused.status_code == 400, query
