"""Sanctions end to end through `paystream up`, in both modes: a payee who signed up under a
name on the bundled sanctions list is held on every payment to them with `sanctions_match`, and
an operator sees the reason; an ordinary new user's first small payment goes through."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.e2e.client import FINAL_STATUSES, User, log_in, new_password, sign_up, verify_email

pytestmark = pytest.mark.e2e

REQUEST_TIMEOUT_SECONDS = 10
OPENING_BALANCE_MINOR = 20_000


def _sign_up_as(platform_url: str, full_name: str) -> User:
    email = f"listed-{uuid.uuid4().hex[:10]}@example.com"
    user = User(base_url=platform_url, email=email, password=new_password())
    answer = requests.post(
        platform_url + "/v1/users",
        json={"email": email, "password": user.password, "full_name": full_name, "country": "GB"},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert answer.status_code == 201, answer.text
    user.id = answer.json()["id"]
    log_in(user)
    verify_email(user)
    return user


def test_a_payment_to_a_sanctioned_payee_is_held_and_an_ordinary_one_completes(platform_url, paystream_command):
    # GIVEN a funded new user, an ordinary new payee, and a payee signed up under a listed name
    # (the sanctions list's alias "KARDANOFF, Ivan", word order and case changed)
    payer, ordinary = sign_up(platform_url, "payer"), sign_up(platform_url, "friend")
    listed = _sign_up_as(platform_url, "ivan kardanoff")
    assert payer.top_up(payer.add_card(), OPENING_BALANCE_MINOR).status_code == 201
    # WHEN the payer pays each of them 10.00 USD
    to_friend = payer.pay(ordinary.id, 1_000, note="lunch")
    to_listed = payer.pay(listed.id, 1_000, note="lunch")
    assert to_friend.status_code == 202 and to_listed.status_code == 202, (to_friend.text, to_listed.text)
    # THEN the friend is paid, and the listed payee's payment is held, the payer told only a category
    friend = payer.wait_for(f"/v1/payments/{to_friend.json()['id']}", FINAL_STATUSES | {"held"})
    held = payer.wait_for(f"/v1/payments/{to_listed.json()['id']}", FINAL_STATUSES | {"held"})
    assert friend["status"] == "completed", friend
    assert held["status"] == "held" and held["review_reason"] == "compliance_check", held
    # AND support sees the rule that fired
    operator = sign_up(platform_url, "reviewer")
    assert paystream_command("users", "grant-role", operator.email, "support").returncode == 0
    review = operator.call("GET", f"/v1/admin/reviews/{held['id']}")
    assert review.status_code == 200, review.text
    assert "sanctions_match" in review.json()["reasons"]
