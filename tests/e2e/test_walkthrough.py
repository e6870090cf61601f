"""A new user's walk through the public contract, on the embedded default and in services mode."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from schemas.export import OPENAPI_PATH
from tests.e2e.client import REFUND_FINAL_STATUSES, REQUEST_TIMEOUT_SECONDS, sign_up
from tests.fixtures.idempotency import fresh_key

pytestmark = pytest.mark.e2e

DECLINED_CARD = "4000000000000002"


def test_health_readiness_and_the_openapi_document_are_served(platform_url):
    assert requests.get(platform_url + "/healthz", timeout=5).json()["status"] == "ok"
    ready = requests.get(platform_url + "/readyz", timeout=5)
    assert ready.status_code == 200 and set(ready.json()["checks"].values()) == {"ok"}
    document = requests.get(platform_url + "/openapi.json", timeout=5).json()
    assert document == json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert ready.headers["X-Request-Id"]


def test_sign_up_is_refused_for_a_taken_email(platform_url):
    alice = sign_up(platform_url, "alice")
    again = requests.post(
        platform_url + "/v1/users",
        json={"email": alice.email.upper(), "password": "long enough password", "full_name": "A", "country": "US"},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "email_taken"


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(platform_url):
    # GIVEN a logged-in user
    user = sign_up(platform_url, "rotator")
    first_refresh = user.refresh_token
    # WHEN the refresh token is used, a new pair comes back
    rotated = requests.post(
        platform_url + "/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first_refresh},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert rotated.status_code == 200
    second_refresh = rotated.json()["refresh_token"]
    assert second_refresh != first_refresh
    me = requests.get(
        platform_url + "/v1/users/me",
        headers={"Authorization": f"Bearer {rotated.json()['access_token']}"},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert me.status_code == 200 and me.json()["email"] == user.email
    assert me.json()["kyc_status"] == "unverified"
    # THEN the spent token is refused, and its reuse revokes the newer one too
    reuse = requests.post(
        platform_url + "/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first_refresh},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert reuse.status_code == 401
    assert reuse.json()["error"]["type"] == "authentication_error"
    revoked = requests.post(
        platform_url + "/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": second_refresh},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert revoked.status_code == 401


def test_wrong_password_and_missing_token_are_refused(platform_url):
    user = sign_up(platform_url, "careful")
    wrong = requests.post(
        platform_url + "/v1/oauth/token",
        data={"grant_type": "password", "username": user.email, "password": "not the password"},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert wrong.status_code == 401
    assert requests.get(platform_url + "/v1/wallets", timeout=REQUEST_TIMEOUT_SECONDS).status_code == 401


def test_a_card_is_tokenized_and_never_echoed(platform_url):
    user = sign_up(platform_url, "carder")
    answer = user.call(
        "POST",
        "/v1/funding-sources",
        json={"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
    )
    assert answer.status_code == 201
    assert "4242424242424242" not in answer.text
    assert answer.json()["last4"] == "4242" and answer.json()["brand"] == "visa"
    bad = user.call(
        "POST",
        "/v1/funding-sources",
        json={"type": "card", "number": "4242424242424241", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
    )
    assert bad.status_code == 402 and bad.json()["error"]["type"] == "card_error"


def test_top_up_succeeds_with_4242_and_is_declined_with_0002(platform_url):
    user = sign_up(platform_url, "topper")
    good, declined = user.add_card(), user.add_card(DECLINED_CARD)
    ok = user.top_up(good, 10_000)
    assert ok.status_code == 201 and ok.json()["status"] == "succeeded"
    refused = user.top_up(declined, 5_000)
    assert refused.status_code == 402
    assert refused.json()["error"]["type"] == "card_error"
    assert user.wallet()["available"] == 10_000


def test_a_payment_completes_and_its_key_replays_without_a_second_debit(platform_url):
    # GIVEN alice with 100.00 USD and bob
    alice, bob = sign_up(platform_url, "alice"), sign_up(platform_url, "bob")
    assert alice.top_up(alice.add_card(), 10_000).status_code == 201
    key = str(uuid.uuid4())
    # WHEN alice pays bob 25.00 by email
    accepted = alice.pay(bob.email, 2_500, key=key, note="lunch")
    assert accepted.status_code == 202, accepted.text
    payment = accepted.json()
    assert payment["status"] == "pending" and payment["payee_id"] == bob.id
    # THEN it completes within seconds and the money moved once
    assert alice.wait_final(payment["id"])["status"] == "completed"
    assert alice.wallet()["available"] == 7_500
    assert bob.wallet()["available"] == 2_500
    replay = alice.pay(bob.email, 2_500, key=key, note="lunch")
    assert replay.status_code == 202 and replay.json()["id"] == payment["id"]
    assert alice.wallet()["available"] == 7_500
    conflict = alice.pay(bob.email, 2_600, key=key, note="lunch")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["type"] == "idempotency_error"
    # AND both see it in their history, with its timeline
    detail = bob.call("GET", f"/v1/transactions/{payment['id']}").json()
    assert detail["direction"] == "credit" and detail["status"] == "completed"
    types = [event["type"] for event in detail["events"]]
    assert types == ["payment.requested", "payment.approved", "payment.debited", "payment.completed"]
    # AND alice's statement closes on her wallet's balance
    now = datetime.now(UTC)
    statement = alice.call(
        "GET",
        "/v1/statements",
        params={
            "currency": "USD",
            "from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(minutes=1)).isoformat(),
        },
    )
    rows = list(csv.DictReader(io.StringIO(statement.text)))
    assert [(r["type"], r["amount_minor"]) for r in rows[1:-1]] == [("topup", "10000"), ("payment", "-2500")]
    assert int(rows[-1]["balance_minor"]) == alice.wallet()["available"] == 7_500


def test_an_overdraft_fails_with_a_failure_code_and_moves_nothing(platform_url):
    alice, bob = sign_up(platform_url, "spender"), sign_up(platform_url, "saver")
    alice.top_up(alice.add_card(), 1_000)
    payment = alice.pay(bob.id, 5_000).json()
    final = alice.wait_final(payment["id"])
    assert final["status"] == "failed"
    assert final["failure_code"] == "insufficient_funds"
    assert alice.wallet() == {"currency": "USD", "available": 1_000, "pending": 0}
    assert bob.wallet()["available"] == 0


def test_another_users_payment_and_transaction_are_refused(platform_url):
    alice, bob, mallory = (sign_up(platform_url, name) for name in ("owner", "payee", "mallory"))
    alice.top_up(alice.add_card(), 1_000)
    payment = alice.pay(bob.email, 100).json()
    assert mallory.call("GET", f"/v1/payments/{payment['id']}").status_code == 404
    assert mallory.call("GET", f"/v1/transactions/{payment['id']}").status_code == 404
    assert bob.call("GET", f"/v1/payments/{payment['id']}").status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": 10.5, "currency": "USD"}, "parameter_invalid"),
        ({"amount": "100", "currency": "USD"}, "parameter_invalid"),
        ({"amount": -5, "currency": "USD"}, "parameter_invalid"),
        ({"amount": 0, "currency": "USD"}, "parameter_invalid"),
        ({"amount": 100, "currency": "XYZ"}, "currency_not_supported"),
        ({"amount": 100, "currency": "usd"}, "parameter_invalid"),
    ],
)
def test_bad_amounts_and_currencies_are_clear_client_errors(platform_url, body, code):
    alice, bob = sign_up(platform_url, "typo"), sign_up(platform_url, "other")
    answer = alice.call("POST", "/v1/payments", json={"to": bob.email, **body}, headers=fresh_key())
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", code)
    assert error["param"] in ("amount", "currency")


def test_paying_oneself_and_malformed_json_are_refused(platform_url):
    alice = sign_up(platform_url, "selfish")
    own = alice.pay(alice.email, 100)
    assert own.status_code == 400 and own.json()["error"]["code"] == "cannot_pay_self"
    malformed = alice.call(
        "POST", "/v1/payments", data="{not json", headers={"Content-Type": "application/json", **fresh_key()}
    )
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_json"
    nobody = alice.pay("nobody-here@example.com", 100)
    assert nobody.status_code == 404


def test_history_pages_with_limit_and_starting_after(platform_url):
    alice = sign_up(platform_url, "pager")
    card = alice.add_card()
    for amount in (100, 200, 300):
        assert alice.top_up(card, amount).status_code == 201
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 1, **({"starting_after": cursor} if cursor else {})}
        page = alice.call("GET", "/v1/transactions", params=params).json()
        seen.extend(item["amount"] for item in page["data"])
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert seen == [300, 200, 100]
    too_many = alice.call("GET", "/v1/transactions", params={"limit": 101})
    assert too_many.status_code == 400


def _statement_closing(user, currency: str = "USD") -> tuple[list[tuple[str, str]], int]:
    now = datetime.now(UTC)
    answer = user.call(
        "GET",
        "/v1/statements",
        params={
            "currency": currency,
            "from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(minutes=1)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    return [(r["type"], r["amount_minor"]) for r in rows[1:-1]], int(rows[-1]["balance_minor"])


def test_a_partial_then_a_full_refund_and_an_over_refund_is_refused(platform_url):
    # GIVEN alice paid bob 40.00
    alice, bob = sign_up(platform_url, "buyer"), sign_up(platform_url, "seller")
    assert alice.top_up(alice.add_card(), 10_000).status_code == 201
    payment = alice.pay(bob.email, 4_000, note="lamp").json()
    assert alice.wait_final(payment["id"])["status"] == "completed"
    # WHEN bob refunds 15.00
    partial = bob.refund(payment["id"], 1_500, key=str(uuid.uuid4()))
    assert partial.status_code == 202, partial.text
    refund = bob.wait_for(f"/v1/refunds/{partial.json()['id']}", REFUND_FINAL_STATUSES)
    # THEN it completes, alice sees it too, and the payment is partially refunded
    assert refund["status"] == "completed"
    assert alice.call("GET", f"/v1/refunds/{refund['id']}").json()["status"] == "completed"
    assert alice.wait_final(payment["id"])["status"] == "partially_refunded"
    # AND asking for more than is left is refused, the payer cannot refund, a stranger sees nothing
    over = bob.refund(payment["id"], 3_000)
    assert over.status_code == 400 and over.json()["error"]["code"] == "refund_exceeds_payment"
    payer_try = alice.refund(payment["id"], 100)
    assert payer_try.status_code == 403 and payer_try.json()["error"]["type"] == "authorization_error"
    assert sign_up(platform_url, "nosy").refund(payment["id"], 100).status_code == 404
    # WHEN bob refunds the rest
    rest = bob.refund(payment["id"])
    assert rest.status_code == 202 and rest.json()["amount"] == 2_500
    assert bob.wait_for(f"/v1/refunds/{rest.json()['id']}", REFUND_FINAL_STATUSES)["status"] == "completed"
    # THEN the payment is refunded, the money is all back, and its timeline tells the story
    assert alice.wait_for(f"/v1/payments/{payment['id']}", frozenset({"refunded"}))["status"] == "refunded"
    assert alice.wallet()["available"] == 10_000 and bob.wallet()["available"] == 0
    listed = alice.call("GET", f"/v1/payments/{payment['id']}/refunds").json()["data"]
    assert [(r["amount"], r["status"]) for r in listed] == [(1_500, "completed"), (2_500, "completed")]
    timeline = [e["type"] for e in bob.call("GET", f"/v1/transactions/{payment['id']}").json()["events"]]
    assert timeline[-2:] == ["payment.partially_refunded", "payment.refunded"]
    # AND both statements still close on the wallets
    alice_rows, alice_closing = _statement_closing(alice)
    assert alice_rows == [("topup", "10000"), ("payment", "-4000"), ("refund", "1500"), ("refund", "2500")]
    assert alice_closing == alice.wallet()["available"] == 10_000
    bob_rows, bob_closing = _statement_closing(bob)
    assert bob_rows == [("payment", "4000"), ("refund", "-1500"), ("refund", "-2500")]
    assert bob_closing == 0


def test_a_request_is_paid_another_declined_and_a_third_cancelled(platform_url):
    # GIVEN dana asks erin for 12.00, 5.00 and 3.00
    dana, erin = sign_up(platform_url, "dana"), sign_up(platform_url, "erin")
    assert erin.top_up(erin.add_card(), 5_000).status_code == 201
    asked = [
        dana.request_money(erin.email, amount, note=note)
        for amount, note in ((1_200, "rent share"), (500, "snacks"), (300, "bus"))
    ]
    assert [a.status_code for a in asked] == [201, 201, 201], [a.text for a in asked]
    to_pay, to_decline, to_cancel = (a.json()["id"] for a in asked)
    listed = erin.call("GET", "/v1/payment-requests").json()["data"]
    assert [r["id"] for r in listed] == [to_cancel, to_decline, to_pay]
    # WHEN erin pays the first (with a key), declines the second and dana cancels the third
    key = str(uuid.uuid4())
    paid = erin.call("POST", f"/v1/payment-requests/{to_pay}/pay", headers={"Idempotency-Key": key})
    assert paid.status_code == 202, paid.text
    assert (
        erin.call("POST", f"/v1/payment-requests/{to_pay}/pay", headers={"Idempotency-Key": key}).json()["id"]
        == paid.json()["id"]
    )
    assert erin.call("POST", f"/v1/payment-requests/{to_decline}/decline").json()["status"] == "declined"
    assert dana.call("POST", f"/v1/payment-requests/{to_cancel}/cancel").json()["status"] == "cancelled"
    # THEN the first is paid once its payment completes, and paying it again is refused
    assert erin.wait_final(paid.json()["id"])["status"] == "completed"
    assert dana.wait_for(f"/v1/payment-requests/{to_pay}", frozenset({"paid"}))["status"] == "paid"
    again = erin.call("POST", f"/v1/payment-requests/{to_pay}/pay", headers=fresh_key())
    assert again.status_code == 409 and again.json()["error"]["code"] == "payment_request_already_paid"
    wrong = dana.call("POST", f"/v1/payment-requests/{to_decline}/pay", headers=fresh_key())
    assert wrong.status_code == 403
    assert erin.wallet()["available"] == 3_800 and dana.wallet()["available"] == 1_200
    # AND the requests are in both histories, and the statements count only the money that moved
    history = dana.call("GET", "/v1/transactions", params={"type": "request"}).json()["data"]
    assert sorted((t["amount"], t["status"]) for t in history) == [
        (300, "cancelled"),
        (500, "declined"),
        (1_200, "paid"),
    ]
    erin_rows, erin_closing = _statement_closing(erin)
    assert erin_rows == [("topup", "5000"), ("payment", "-1200")]
    assert erin_closing == erin.wallet()["available"]
    assert _statement_closing(dana) == ([("payment", "1200")], 1_200)
