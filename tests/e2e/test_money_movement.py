"""Money in several currencies, end to end through `paystream up` in both modes: conversions
USD → EUR → JPY and back, dinars; withdrawals that are paid and one that fails; wallets,
history and statements agree."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.client import User, sign_up

pytestmark = pytest.mark.e2e

FAILING_BANK_ACCOUNT = "000111111116"


def _statement(user: User, currency: str) -> list[dict]:
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
    return list(csv.DictReader(io.StringIO(answer.text)))


def _closes_on_every_wallet(user: User) -> None:
    for currency, wallet in user.wallets().items():
        rows = _statement(user, currency)
        # Posted balance: what is available plus what pending withdrawals or payments hold back.
        assert int(rows[-1]["balance_minor"]) == wallet["available"] + wallet["pending"], currency


def test_conversions_through_euros_yen_and_dinars_keep_every_wallet_and_statement_right(platform_url):
    # GIVEN a user with 100.00 USD
    user = sign_up(platform_url, "traveller")
    assert user.top_up(user.add_card(), 10_000).status_code == 201
    # WHEN USD → EUR at a quoted rate
    quote = user.call(
        "POST", "/v1/conversions/quotes", json={"from_currency": "USD", "to_currency": "EUR", "amount": 6_000}
    )
    assert quote.status_code == 201, quote.text
    offer = quote.json()
    to_euros = user.convert({"quote_id": offer["id"]})
    assert to_euros.status_code == 201, to_euros.text
    euros = to_euros.json()["receive_amount"]
    assert euros == offer["receive_amount"] and to_euros.json()["fee"] == offer["fee"]
    # AND EUR → JPY, JPY → USD, USD → KWD, KWD → USD at the current rate
    to_yen = user.convert({"from_currency": "EUR", "to_currency": "JPY", "amount": euros}).json()
    yen = to_yen["receive_amount"]
    back_to_dollars = user.convert({"from_currency": "JPY", "to_currency": "USD", "amount": yen}).json()
    to_dinars = user.convert({"from_currency": "USD", "to_currency": "KWD", "amount": 4_000}).json()
    dinars = to_dinars["receive_amount"]
    half_back = user.convert({"from_currency": "KWD", "to_currency": "USD", "amount": dinars // 2}).json()
    # THEN every wallet holds exactly what the conversions said, in its own minor units
    assert all(c["status"] == "completed" for c in (to_yen, back_to_dollars, to_dinars, half_back))
    dollars = 10_000 - 6_000 + back_to_dollars["receive_amount"] - 4_000 + half_back["receive_amount"]
    balances = {currency: wallet["available"] for currency, wallet in user.wallets().items()}
    assert balances == {"USD": dollars, "EUR": 0, "JPY": 0, "KWD": dinars - dinars // 2}
    # Three decimals for the dinar: 40.00 USD is about 12.28 KWD, i.e. 12,2xx fils
    assert 12_000 < dinars < 12_300
    # AND the round trips cost about the spread each way, never more than the amount
    assert 5_800 < back_to_dollars["receive_amount"] < 6_000
    # AND the history shows each conversion under both its currencies
    jpy_history = user.call("GET", "/v1/transactions", params={"currency": "JPY"}).json()["data"]
    assert {row["id"] for row in jpy_history} == {to_yen["id"], back_to_dollars["id"]}
    detail = user.call("GET", f"/v1/transactions/{to_yen['id']}").json()
    assert (detail["type"], detail["amount"], detail["currency"]) == ("conversion", euros, "EUR")
    assert (detail["counter_amount"], detail["counter_currency"]) == (yen, "JPY")
    assert [event["type"] for event in detail["events"]] == ["conversion.completed"]
    # AND each wallet's statement closes on its balance
    _closes_on_every_wallet(user)
    kwd_rows = _statement(user, "KWD")
    assert [int(row["amount_minor"]) for row in kwd_rows[1:-1]] == [dinars, -(dinars // 2)]
    assert kwd_rows[1]["amount"] == f"{dinars // 1000}.{dinars % 1000:03d}"


def test_a_conversion_beyond_the_balance_moves_nothing_and_an_expired_rate_path_is_clear(platform_url):
    user = sign_up(platform_url, "overreach")
    assert user.top_up(user.add_card(), 1_000).status_code == 201
    refused = user.convert({"from_currency": "USD", "to_currency": "JPY", "amount": 1_001})
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "insufficient_funds"
    assert set(user.wallets()) == {"USD"} and user.wallet()["available"] == 1_000
    same = user.convert({"from_currency": "USD", "to_currency": "USD", "amount": 100})
    assert same.status_code == 400 and same.json()["error"]["code"] == "same_currency"


def test_a_payment_in_a_currency_the_payee_does_not_hold_opens_a_wallet(platform_url):
    payer, payee = sign_up(platform_url, "yenpayer"), sign_up(platform_url, "yenpayee")
    assert payer.top_up(payer.add_card(), 10_000).status_code == 201
    yen = payer.convert({"from_currency": "USD", "to_currency": "JPY", "amount": 10_000}).json()["receive_amount"]
    payment = payer.pay(payee.email, 1_000, currency="JPY").json()
    assert payer.wait_final(payment["id"])["status"] == "completed"
    assert payee.wallets()["JPY"]["available"] == 1_000
    assert payer.wallets()["JPY"]["available"] == yen - 1_000


def test_withdrawals_are_paid_or_fail_and_return_the_funds(platform_url):
    # GIVEN 100.00 USD and two bank accounts, one that the sandbox bank refuses
    user = sign_up(platform_url, "withdrawer")
    assert user.top_up(user.add_card(), 10_000).status_code == 201
    good, failing = user.add_bank_account(), user.add_bank_account(FAILING_BANK_ACCOUNT)
    # WHEN 30.00 goes to the good account and 50.00 to the failing one
    paid = user.withdraw(good, 3_000)
    refused = user.withdraw(failing, 5_000)
    assert paid.status_code == refused.status_code == 202, (paid.text, refused.text)
    # THEN the first is paid, the second fails with the reason and its funds come back
    assert user.wait_withdrawal(paid.json()["id"])["status"] == "succeeded"
    failed = user.wait_withdrawal(refused.json()["id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", "no_account")
    assert user.wallet() == {"currency": "USD", "available": 7_000, "pending": 0}
    # AND a card cannot receive one, nor can more than the balance be withdrawn
    card = user.add_card()
    assert user.withdraw(card, 100).json()["error"]["code"] == "funding_source_not_a_bank_account"
    assert user.withdraw(good, 7_001).status_code == 402
    # AND the history and the statement agree with the wallet
    rows = _statement(user, "USD")
    assert [(r["type"], int(r["amount_minor"])) for r in rows[1:-1]] == [("topup", 10_000), ("withdrawal", -3_000)]
    _closes_on_every_wallet(user)
    statuses = {
        row["id"]: row["status"]
        for row in user.call("GET", "/v1/transactions", params={"type": "withdrawal"}).json()["data"]
    }
    assert statuses == {paid.json()["id"]: "succeeded", refused.json()["id"]: "failed"}
