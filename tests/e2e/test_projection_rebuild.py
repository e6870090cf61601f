"""`paystream projections rebuild` against the running services mode: the transaction history
replayed from the event store equals the one the sagas, the conversions and the withdrawals
projected live."""

from __future__ import annotations

import subprocess

import sqlalchemy as sa

from shared.adapters.database import create_engine
from shared.adapters.tables import transactions
from tests.e2e.client import REFUND_FINAL_STATUSES, sign_up
from tests.e2e.conftest import PAYSTREAM, _base_env
from tests.fixtures.idempotency import fresh_key


def _history(database_url: str) -> list[tuple]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.execute(sa.select(transactions).order_by(transactions.c.id, transactions.c.user_id))
            ]
    finally:
        engine.dispose()


def test_the_rebuilt_history_equals_the_live_one(services_url, postgres_url):
    # GIVEN a history with top-ups (one declined) and payments that completed and failed
    carol, dave = sign_up(services_url, "carol"), sign_up(services_url, "dave")
    card = carol.add_card()
    assert carol.top_up(card, 5_000).status_code == 201
    assert carol.top_up(carol.add_card("4000000000000002"), 700).status_code == 402
    paid = [carol.pay(dave.email, amount, note="rent").json()["id"] for amount in (1_200, 800)]
    overdraft = carol.pay(dave.email, 90_000).json()["id"]
    assert [carol.wait_final(pid)["status"] for pid in (*paid, overdraft)] == ["completed", "completed", "failed"]
    # AND conversions (one through a quote, one refused) and withdrawals (one paid, one failed)
    quote = carol.call(
        "POST", "/v1/conversions/quotes", json={"from_currency": "USD", "to_currency": "JPY", "amount": 1_000}
    ).json()
    assert carol.convert({"quote_id": quote["id"]}).status_code == 201
    assert carol.convert({"from_currency": "JPY", "to_currency": "KWD", "amount": 1_000}).status_code == 201
    assert carol.convert({"from_currency": "USD", "to_currency": "EUR", "amount": 900_000}).status_code == 402
    withdrawals = [
        carol.withdraw(carol.add_bank_account(number), 300).json()["id"] for number in ("000123456789", "000111111116")
    ]
    assert [carol.wait_withdrawal(wid)["status"] for wid in withdrawals] == ["succeeded", "failed"]
    # AND a partial refund and payment requests, one paid and one declined
    refund = dave.refund(paid[0], 200).json()["id"]
    assert dave.wait_for(f"/v1/refunds/{refund}", REFUND_FINAL_STATUSES)["status"] == "completed"
    assert carol.wait_final(paid[0])["status"] == "partially_refunded"
    to_pay, to_decline = (dave.request_money(carol.email, amount).json()["id"] for amount in (300, 400))
    request_payment = carol.call("POST", f"/v1/payment-requests/{to_pay}/pay", headers=fresh_key()).json()["id"]
    assert carol.call("POST", f"/v1/payment-requests/{to_decline}/decline").status_code == 200
    assert carol.wait_final(request_payment)["status"] == "completed"
    assert dave.wait_for(f"/v1/payment-requests/{to_pay}", frozenset({"paid"}))["status"] == "paid"
    live = _history(postgres_url)
    assert len(live) >= 21
    type_column = list(transactions.c.keys()).index("type")
    assert {row[type_column] for row in live} == {"topup", "payment", "refund", "request", "conversion", "withdrawal"}
    # WHEN the history is rebuilt from the events
    env = {**_base_env(), "PAYSTREAM_DATABASE_URL": postgres_url}
    done = subprocess.run([PAYSTREAM, "projections", "rebuild"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "rebuilt from" in done.stdout
    # THEN it is row for row the live one
    assert _history(postgres_url) == live
