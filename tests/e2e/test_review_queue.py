"""The fraud review queue end to end through `paystream up`, in both modes: a new account's large
payment is held with its amount set aside, an operator (made with `paystream users grant-role`
against the platform's database) approves it and it completes, or declines it and the payer has
their money back exactly once."""

from __future__ import annotations

import time

import pytest

from tests.e2e.client import FINAL_STATUSES, User, sign_up

pytestmark = pytest.mark.e2e

OPENING_BALANCE_MINOR = 300_000  # 3,000.00 USD
# Above the 2,000.00 USD a new account may send without review.
HELD_AMOUNT_MINOR = 250_000
NOTIFICATION_WAIT_SECONDS = 30


def _operator(platform_url: str, paystream_command) -> User:
    operator = sign_up(platform_url, "reviewer")
    done = paystream_command("users", "grant-role", operator.email, "support")
    assert done.returncode == 0, done.stderr
    return operator


def _held_payment(platform_url: str) -> tuple[User, User, str]:
    """A new payer with 3,000.00 USD pays 2,500.00 USD; the payment, held for review."""
    payer, payee = sign_up(platform_url, "newcomer"), sign_up(platform_url, "seller")
    assert payer.top_up(payer.add_card(), OPENING_BALANCE_MINOR).status_code == 201
    answer = payer.pay(payee.id, HELD_AMOUNT_MINOR, note="a used car")
    assert answer.status_code == 202, answer.text
    payment_id = answer.json()["id"]
    payment = payer.wait_for(f"/v1/payments/{payment_id}", FINAL_STATUSES | {"held"})
    assert payment["status"] == "held", payment
    return payer, payee, payment_id


def _decide(operator: User, payment_id: str, decision: str, reason: str | None = None):
    return operator.call(
        "POST", f"/v1/admin/reviews/{payment_id}/{decision}", json={} if reason is None else {"reason": reason}
    )


def _notification_titles(user: User, wanted: str) -> list[str]:
    """The user's notification titles, once `wanted` is among them (or the time is up)."""
    deadline = time.monotonic() + NOTIFICATION_WAIT_SECONDS
    while True:
        answer = user.call("GET", "/v1/notifications")
        assert answer.status_code == 200, answer.text
        titles = [notification["title"] for notification in answer.json()["data"]]
        if wanted in titles or time.monotonic() > deadline:
            return titles
        time.sleep(0.2)


def test_a_held_payment_approved_by_an_operator_completes(platform_url, paystream_command):
    # GIVEN a new account's payment of 2,500.00 USD, held for review
    payer, payee, payment_id = _held_payment(platform_url)
    # THEN the payer sees why, coarsely, and the amount set aside as pending
    assert payer.call("GET", f"/v1/payments/{payment_id}").json()["review_reason"] == "new_account"
    assert payer.wallet() == {
        "currency": "USD",
        "available": OPENING_BALANCE_MINOR - HELD_AMOUNT_MINOR,
        "pending": HELD_AMOUNT_MINOR,
    }
    assert "Payment under review" in _notification_titles(payer, "Payment under review")
    # AND an operator finds it in the queue, with the rules that fired
    operator = _operator(platform_url, paystream_command)
    queue = operator.call("GET", "/v1/admin/reviews", params={"limit": 100})
    assert queue.status_code == 200, queue.text
    [review] = [review for review in queue.json()["data"] if review["payment_id"] == payment_id]
    assert "new_account_large_amount" in review["reasons"]
    assert review["payment"]["amount"] == HELD_AMOUNT_MINOR and review["payment"]["payer_id"] == payer.id
    # WHEN the operator approves it
    approved = _decide(operator, payment_id, "approve", "called the payer")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == operator.id
    # THEN it completes from the funds set aside, and the payee has the money
    assert payer.wait_final(payment_id)["status"] == "completed"
    assert payer.wallet() == {"currency": "USD", "available": OPENING_BALANCE_MINOR - HELD_AMOUNT_MINOR, "pending": 0}
    assert payee.wallet()["available"] == HELD_AMOUNT_MINOR
    # AND its history shows the hold and the release
    detail = payer.call("GET", f"/v1/transactions/{payment_id}").json()
    assert detail["status"] == "completed"
    timeline = [event["type"] for event in detail["events"]]
    assert timeline.index("payment.held") < timeline.index("payment.released") < timeline.index("payment.completed")
    # AND the payer was told
    assert "Payment approved" in _notification_titles(payer, "Payment approved")


def test_a_held_payment_declined_by_an_operator_gives_the_funds_back_once(platform_url, paystream_command):
    # GIVEN a new account's payment of 2,500.00 USD, held for review
    payer, payee, payment_id = _held_payment(platform_url)
    operator = _operator(platform_url, paystream_command)
    # WHEN the operator declines it, twice
    reason = "We could not confirm this payment with you"
    first = _decide(operator, payment_id, "decline", reason)
    again = _decide(operator, payment_id, "decline", reason)
    # THEN both answers are the one decision
    assert first.status_code == again.status_code == 200, first.text
    assert again.json() == first.json() and first.json()["status"] == "declined"
    # AND the payment is declined with the reviewer's reason
    payment = payer.wait_final(payment_id)
    assert (payment["status"], payment["failure_code"], payment["failure_message"]) == (
        "declined",
        "review_declined",
        reason,
    )
    # AND the payer has their money back, exactly once, and the payee nothing
    assert "Payment declined" in _notification_titles(payer, "Payment declined")
    assert payer.wallet() == {"currency": "USD", "available": OPENING_BALANCE_MINOR, "pending": 0}
    assert payee.wallet()["available"] == 0
    # AND approving it now is refused
    late = _decide(operator, payment_id, "approve")
    assert late.status_code == 409 and late.json()["error"]["code"] == "review_already_decided"
    assert payer.wallet() == {"currency": "USD", "available": OPENING_BALANCE_MINOR, "pending": 0}
