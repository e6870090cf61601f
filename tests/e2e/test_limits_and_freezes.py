"""KYC limits and frozen accounts end to end through `paystream up`, in both modes: a new user's
payment over 5,000.00 USD is accepted, then declined by the saga naming `single_payment`; a user
frozen by support (made with `paystream users grant-role`) is refused when sending and still
reads, until unfrozen."""

from __future__ import annotations

import pytest

from tests.e2e.client import FINAL_STATUSES, User, sign_up

pytestmark = pytest.mark.e2e

OPENING_BALANCE_MINOR = 600_000  # 6,000.00 USD
SINGLE_PAYMENT_NONE_MINOR = 500_000  # level none's single payment limit, 5,000.00 USD


def _support(platform_url: str, paystream_command) -> User:
    operator = sign_up(platform_url, "support")
    done = paystream_command("users", "grant-role", operator.email, "support")
    assert done.returncode == 0, done.stderr
    return operator


def test_a_new_users_payment_over_5000_usd_is_declined_naming_single_payment(platform_url):
    # GIVEN a new user (KYC level none) with 6,000.00 USD
    payer, payee = sign_up(platform_url, "newcomer"), sign_up(platform_url, "seller")
    assert payer.top_up(payer.add_card(), OPENING_BALANCE_MINOR).status_code == 201
    limits = payer.call("GET", "/v1/users/me/limits")
    assert limits.status_code == 200, limits.text
    assert limits.json()["currency"] == "USD" and limits.json()["kyc_level"] == "none"
    single = next(item for item in limits.json()["limits"] if item["limit"] == "single_payment")
    assert single["amount"] == SINGLE_PAYMENT_NONE_MINOR
    # WHEN they pay 5,000.01 USD: accepted at once
    answer = payer.pay(payee.id, SINGLE_PAYMENT_NONE_MINOR + 1, note="a car")
    assert answer.status_code == 202 and answer.json()["status"] == "pending", answer.text
    # THEN the saga declines it with limit_exceeded, naming single_payment
    payment = payer.wait_for(f"/v1/payments/{answer.json()['id']}", FINAL_STATUSES | {"held"})
    assert payment["status"] == "declined", payment
    assert payment["failure_code"] == "limit_exceeded"
    assert payment["failure_message"].startswith("single_payment:")
    # AND nothing left their wallet
    assert payer.wallet() == {"currency": "USD", "available": OPENING_BALANCE_MINOR, "pending": 0}


def test_a_frozen_user_cannot_send_but_still_reads_until_unfrozen(platform_url, paystream_command):
    # GIVEN a user with money and a payment of theirs that completed
    payer, payee = sign_up(platform_url, "suspect"), sign_up(platform_url, "friend")
    assert payer.top_up(payer.add_card(), OPENING_BALANCE_MINOR).status_code == 201
    done = payer.pay(payee.id, 1_000)
    assert payer.wait_final(done.json()["id"])["status"] == "completed"
    support = _support(platform_url, paystream_command)
    # WHEN support freezes them, saying why
    frozen = support.call("POST", f"/v1/admin/users/{payer.id}/freeze", json={"reason": "reported stolen card"})
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["frozen_at"] is not None
    # THEN sending, withdrawing and being paid answer 403 account_frozen
    refusals = [
        payer.pay(payee.id, 1_000),
        payer.withdraw(payer.add_bank_account(), 1_000),
        payee.pay(payer.id, 100),
    ]
    for refused in refusals:
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "account_frozen"
        assert refused.json()["error"]["type"] == "authorization_error"
    # AND they still sign in and read their account, wallet, payments and history
    for path in ("/v1/users/me", "/v1/wallets", f"/v1/payments/{done.json()['id']}", "/v1/transactions"):
        assert payer.call("GET", path).status_code == 200, path
    assert payer.wallet()["available"] == OPENING_BALANCE_MINOR - 1_000
    # WHEN support lifts the freeze, they send again
    lifted = support.call("POST", f"/v1/admin/users/{payer.id}/unfreeze", json={"reason": "card found"})
    assert lifted.status_code == 200 and lifted.json()["frozen_at"] is None
    again = payer.pay(payee.id, 1_000)
    assert again.status_code == 202, again.text
    assert payer.wait_final(again.json()["id"])["status"] == "completed"
