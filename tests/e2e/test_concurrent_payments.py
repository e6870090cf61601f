"""Many people paying each other at once: every payment ends, no wallet goes negative, no money
is created or destroyed, and the platform answers no 5xx."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.client import sign_up

pytestmark = pytest.mark.e2e

USERS = 20
PAYMENTS = 300
CLIENT_THREADS = 16
OPENING_BALANCE_MINOR = 5_000


def test_three_hundred_concurrent_payments_conserve_money(platform_url):
    # GIVEN twenty funded users
    users = [sign_up(platform_url, f"load{index}") for index in range(USERS)]
    for user in users:
        assert user.top_up(user.add_card(), OPENING_BALANCE_MINOR).status_code == 201
    generator = random.Random(20261122)
    plan = []
    for _ in range(PAYMENTS):
        payer, payee = generator.sample(users, 2)
        plan.append((payer, payee, generator.randint(1, 1_500)))

    # WHEN they send 300 random payments concurrently (some will overdraw)
    def send(step):
        payer, payee, amount = step
        return payer, payer.pay(payee.email, amount)

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        answers = list(pool.map(send, plan))
    statuses = [answer.status_code for _, answer in answers]
    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(202) == PAYMENTS

    # THEN every payment reaches a final state
    finals = [payer.wait_final(answer.json()["id"], seconds=120) for payer, answer in answers]
    unfinished = [p["id"] for p in finals if p["status"] not in ("completed", "failed", "declined")]
    assert not unfinished, f"{len(unfinished)} payments did not finish"
    failures = {p["failure_code"] for p in finals if p["status"] == "failed"}
    assert failures <= {"insufficient_funds"}
    # AND no wallet is negative, no pending amount is left, and the total is conserved
    wallets = [user.wallet() for user in users]
    assert all(w["available"] >= 0 and w["pending"] == 0 for w in wallets), wallets
    assert sum(w["available"] for w in wallets) == USERS * OPENING_BALANCE_MINOR
    # AND each wallet equals its opening balance plus what it received minus what it sent
    expected = {user.id: OPENING_BALANCE_MINOR for user in users}
    for payment in finals:
        if payment["status"] == "completed":
            expected[payment["payer_id"]] -= payment["amount"]
            expected[payment["payee_id"]] += payment["amount"]
    assert {u.id: w["available"] for u, w in zip(users, wallets, strict=True)} == expected
