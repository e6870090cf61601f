"""Conversions and withdrawals through the functions' bindings: `wallets` over HTTP, `payout`
and `sweep-sagas` as CloudEvents, on a real SQLite ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from schemas.cloudevent import wire_type
from shared.adapters.ledger_store import system_account_id, wallet_account_id
from shared.adapters.tables import events, fx_quotes, payouts, transactions, withdrawals
from tests.fixtures.fx import write_rates_of
from tests.fixtures.idempotency import fresh_key

PASSWORD = "a long enough password"


class Person:
    def __init__(self, client_of, email: str, country: str = "US") -> None:
        self.users, self.accounts, self.wallets = (client_of(n) for n in ("users", "accounts", "wallets"))
        answer = self.users.post(
            "/v1/users",
            json={"email": email, "password": PASSWORD, "full_name": email.split("@")[0], "country": country},
        )
        assert answer.status_code == 201, answer.get_data(as_text=True)
        self.id = answer.get_json()["id"]
        token = self.users.post(
            "/v1/oauth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
        ).get_json()["access_token"]
        self.auth = {"Authorization": f"Bearer {token}"}

    def link(self, body: dict) -> str:
        answer = self.accounts.post("/v1/funding-sources", headers=self.auth, json=body)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        return answer.get_json()["id"]

    def top_up(self, amount: int, currency: str) -> None:
        card = self.link({"type": "card", "number": "4242424242424242", "exp_month": 1, "exp_year": 2040, "cvc": "123"})
        answer = self.wallets.post(
            "/v1/topups",
            headers={**self.auth, **fresh_key()},
            json={"funding_source_id": card, "amount": amount, "currency": currency},
        )
        assert answer.status_code == 201, answer.get_data(as_text=True)

    def balances(self) -> dict[str, tuple[int, int]]:
        data = self.wallets.get("/v1/wallets", headers=self.auth).get_json()["data"]
        return {w["currency"]: (w["available"], w["pending"]) for w in data}

    def post(self, path: str, body: dict, key: str | None = None):
        """POST `body` with the Idempotency-Key `key`, a fresh one by default."""
        headers = {**self.auth, **({"Idempotency-Key": key} if key else fresh_key())}
        return self.wallets.post(path, headers=headers, json=body)


@pytest.fixture
def alice(client_of):
    person = Person(client_of, "alice@example.com")
    person.top_up(10_000, "USD")
    return person


# --- conversions -----------------------------------------------------------------------------


def test_a_quote_executes_at_its_rate_once_and_moves_every_leg(alice, runtime):
    # GIVEN a quote for $100.00 → EUR
    quote = alice.post("/v1/conversions/quotes", {"from_currency": "USD", "to_currency": "EUR", "amount": 10_000})
    assert quote.status_code == 201, quote.get_data(as_text=True)
    offer = quote.get_json()
    # 100 / 1.1269 = 88.7390... EUR at mid; at 0.5 % less the customer gets 88.29 and 0.44 is the fee
    assert (offer["receive_amount"], offer["fee"], offer["fee_currency"]) == (8_829, 44, "EUR")
    assert offer["rate"] == "0.882953234537" and offer["spread_basis_points"] == 50
    # WHEN it is executed
    done = alice.post("/v1/conversions", {"quote_id": offer["id"]}, key="convert-1")
    # THEN the wallets moved by exactly the quoted amounts, and the books balance per currency
    assert done.status_code == 201, done.get_data(as_text=True)
    conversion = done.get_json()
    assert conversion["status"] == "completed" and conversion["quote_id"] == offer["id"]
    assert alice.balances() == {"USD": (0, 0), "EUR": (8_829, 0)}
    with runtime.engine.connect() as conn:
        fees = runtime.ledger.get_account(conn, system_account_id("EUR", "fees"))
        fx_eur = runtime.ledger.get_account(conn, system_account_id("EUR", "fx"))
        fx_usd = runtime.ledger.get_account(conn, system_account_id("USD", "fx"))
    assert fees.balance_posted == 44 and fx_eur.balance_posted == -8_873 and fx_usd.balance_posted == 10_000
    with runtime.engine.connect() as conn:
        runtime.ledger.check_invariants(conn)
    # AND the same key replays the answer; the quote cannot be used again
    assert alice.post("/v1/conversions", {"quote_id": offer["id"]}, key="convert-1").get_json() == conversion
    again = alice.post("/v1/conversions", {"quote_id": offer["id"]})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "quote_already_used"
    fetched = alice.wallets.get(f"/v1/conversions/{conversion['id']}", headers=alice.auth)
    assert fetched.status_code == 200 and fetched.get_json() == conversion


def test_an_expired_quote_is_refused_and_moves_nothing(alice, runtime):
    offer = alice.post(
        "/v1/conversions/quotes", {"from_currency": "USD", "to_currency": "JPY", "amount": 5_000}
    ).get_json()
    with runtime.engine.begin() as conn:
        conn.execute(
            fx_quotes.update()
            .where(fx_quotes.c.id == offer["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    answer = alice.post("/v1/conversions", {"quote_id": offer["id"]})
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "quote_expired"
    assert alice.balances() == {"USD": (10_000, 0)}


def test_insufficient_funds_fail_the_conversion_with_nothing_moved(alice, runtime):
    # WHEN more is converted than the wallet holds
    answer = alice.post("/v1/conversions", {"from_currency": "USD", "to_currency": "KWD", "amount": 10_001})
    # THEN a 402 with a clear code, nothing moved, no KWD wallet opened, and a failed conversion
    assert answer.status_code == 402
    error = answer.get_json()["error"]
    assert error["code"] == "insufficient_funds" and error["param"] == "amount"
    assert alice.balances() == {"USD": (10_000, 0)}
    with runtime.engine.connect() as conn:
        recorded = conn.execute(sa.select(events.c.type).where(events.c.type.like("conversion.%"))).scalars().all()
        history = conn.execute(sa.select(transactions).where(transactions.c.type == "conversion")).one()
    assert recorded == ["conversion.failed"]
    assert history.status == "failed" and history.counter_currency is None
    with runtime.engine.connect() as conn:
        runtime.ledger.check_invariants(conn)
        assert runtime.ledger.get_account(conn, wallet_account_id(alice.id, "KWD")) is None


def test_a_direct_conversion_to_yen_and_back_to_dinars_uses_each_currencys_minor_units(alice):
    # $100.00 → ¥15,729 (whole yen), then ¥15,729 → KWD in fils
    to_yen = alice.post("/v1/conversions", {"from_currency": "USD", "to_currency": "JPY", "amount": 10_000})
    assert to_yen.status_code == 201 and to_yen.get_json()["receive_amount"] == 15_729
    to_dinar = alice.post("/v1/conversions", {"from_currency": "JPY", "to_currency": "KWD", "amount": 15_729})
    assert to_dinar.status_code == 201
    # 15729 / 178.15 * 1.1269 * 0.307 = 30.545... KWD at mid; 30.392 to the customer
    assert to_dinar.get_json()["receive_amount"] == 30_392
    assert alice.balances() == {"USD": (0, 0), "JPY": (0, 0), "KWD": (30_392, 0)}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"from_currency": "USD", "to_currency": "USD", "amount": 100}, 400, "same_currency"),
        ({"from_currency": "USD", "to_currency": "XAU", "amount": 100}, 400, "currency_not_supported"),
        ({"from_currency": "JPY", "to_currency": "USD", "amount": 1}, 400, "amount_too_small"),
        ({"from_currency": "USD", "to_currency": "EUR", "amount": 10.5}, 400, "parameter_invalid"),
        ({"quote_id": "fxq_x", "amount": 100}, 400, "parameter_invalid"),
        ({"from_currency": "USD", "amount": 100}, 400, "parameter_invalid"),
        ({"quote_id": "fxq_nobody"}, 404, "quote_not_found"),
    ],
)
def test_bad_conversion_requests_get_clear_errors(alice, body, status, code):
    answer = alice.post("/v1/conversions", body)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] == code


def test_stale_rates_refuse_conversions_until_refreshed(alice, runtime, tmp_path):
    # GIVEN rates a day older than the allowed age
    old = datetime.now(UTC).date() - timedelta(days=runtime.settings.fx_rates_max_age_days + 1)
    write_rates_of(runtime.fx_rates.path, old)
    # WHEN a quote or a conversion is asked for
    quote = alice.post("/v1/conversions/quotes", {"from_currency": "USD", "to_currency": "EUR", "amount": 100})
    direct = alice.post("/v1/conversions", {"from_currency": "USD", "to_currency": "EUR", "amount": 100})
    # THEN both are refused with the reason, and nothing moved
    for answer in (quote, direct):
        assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "fx_rates_stale"
    assert alice.balances() == {"USD": (10_000, 0)}
    # AND rates within the bound are accepted again
    write_rates_of(runtime.fx_rates.path, old + timedelta(days=1))
    assert (
        alice.post("/v1/conversions/quotes", {"from_currency": "USD", "to_currency": "EUR", "amount": 100}).status_code
        == 201
    )


def test_nobody_sees_or_uses_another_users_conversion_or_quote(alice, client_of):
    mallory = Person(client_of, "mallory@example.com")
    offer = alice.post(
        "/v1/conversions/quotes", {"from_currency": "USD", "to_currency": "EUR", "amount": 100}
    ).get_json()
    done = alice.post("/v1/conversions", {"quote_id": offer["id"]}).get_json()
    assert mallory.post("/v1/conversions", {"quote_id": offer["id"]}).status_code == 404
    assert mallory.wallets.get(f"/v1/conversions/{done['id']}", headers=mallory.auth).status_code == 404


# --- withdrawals -----------------------------------------------------------------------------


def _requested_event(runtime, withdrawal_id: str) -> CloudEvent:
    with runtime.engine.connect() as conn:
        row = conn.execute(
            sa.select(events).where(events.c.subject == withdrawal_id, events.c.type == "withdrawal.requested")
        ).one()
    return CloudEvent(
        {
            "id": row.id,
            "type": wire_type(row.type),
            "source": "/paystream/wallets",
            "subject": row.subject,
            "datacontenttype": "application/json",
        },
        row.data,
    )


def _deliver(client, event: CloudEvent, mode: str = "binary") -> int:
    headers, body = (to_binary if mode == "binary" else to_structured)(event)
    return client.post("/", headers=headers, data=body).status_code


BANK = {"type": "bank_account", "routing_number": "110000000", "account_number": "000123456789"}


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_a_withdrawal_reserves_at_once_and_is_paid_out_once_however_often_it_is_delivered(
    alice, client_of, runtime, mode
):
    # GIVEN a withdrawal to a bank account: the funds are reserved at once
    bank = alice.link(BANK)
    answer = alice.post("/v1/withdrawals", {"funding_source_id": bank, "amount": 2_500, "currency": "USD"}, key="w-1")
    assert answer.status_code == 202, answer.get_data(as_text=True)
    withdrawal = answer.get_json()
    assert withdrawal["status"] == "pending"
    assert alice.balances() == {"USD": (7_500, 2_500)}
    event = _requested_event(runtime, withdrawal["id"])
    payout = client_of("payout")
    # WHEN the payout function gets the event twice, and then once more under a new event id
    assert _deliver(payout, event, mode) == 200
    assert _deliver(payout, event, mode) == 200
    event["id"] = str(uuid.uuid4())
    assert _deliver(payout, event, mode) == 200
    # THEN the bank account was paid once, the reservation posted once, and it succeeded
    with runtime.engine.connect() as conn:
        paid = conn.execute(sa.select(payouts)).all()
        finished = conn.execute(sa.select(events.c.type).where(events.c.subject == withdrawal["id"])).scalars().all()
    assert [(p.idempotency_key, p.amount_minor, p.status) for p in paid] == [(withdrawal["id"], 2_500, "paid")]
    assert finished == ["withdrawal.requested", "withdrawal.succeeded"]
    assert alice.balances() == {"USD": (7_500, 0)}
    got = alice.wallets.get(f"/v1/withdrawals/{withdrawal['id']}", headers=alice.auth).get_json()
    assert got["status"] == "succeeded"
    with runtime.engine.connect() as conn:
        assert runtime.ledger.get_account(conn, system_account_id("USD", "payouts")).balance_posted == 2_500
        runtime.ledger.check_invariants(conn)


def test_a_failing_bank_account_returns_the_funds(alice, client_of, runtime):
    bank = alice.link({**BANK, "account_number": "000111111116"})
    withdrawal = alice.post(
        "/v1/withdrawals", {"funding_source_id": bank, "amount": 4_000, "currency": "USD"}
    ).get_json()
    assert _deliver(client_of("payout"), _requested_event(runtime, withdrawal["id"])) == 200
    got = alice.wallets.get(f"/v1/withdrawals/{withdrawal['id']}", headers=alice.auth).get_json()
    assert (got["status"], got["failure_code"]) == ("failed", "no_account")
    assert alice.balances() == {"USD": (10_000, 0)}
    with runtime.engine.connect() as conn:
        row = conn.execute(sa.select(transactions).where(transactions.c.id == withdrawal["id"])).one()
    assert (row.status, row.failure_code) == ("failed", "no_account")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": 10_001, "currency": "USD"}, 402, "insufficient_funds"),
        ({"amount": 100, "currency": "EUR"}, 402, "insufficient_funds"),
        ({"amount": 100, "currency": "XXX"}, 400, "currency_not_supported"),
        ({"amount": 0, "currency": "USD"}, 400, "parameter_invalid"),
    ],
)
def test_a_withdrawal_beyond_the_balance_or_malformed_is_refused_with_nothing_reserved(alice, body, status, code):
    bank = alice.link(BANK)
    answer = alice.post("/v1/withdrawals", {"funding_source_id": bank, **body})
    assert answer.status_code == status and answer.get_json()["error"]["code"] == code
    assert alice.balances() == {"USD": (10_000, 0)}


def test_a_card_or_someone_elses_account_cannot_receive_a_withdrawal(alice, client_of):
    card = alice.link({"type": "card", "number": "4242424242424242", "exp_month": 1, "exp_year": 2040, "cvc": "123"})
    refused = alice.post("/v1/withdrawals", {"funding_source_id": card, "amount": 100, "currency": "USD"})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "funding_source_not_a_bank_account"
    mallory = Person(client_of, "mallory@example.com")
    theirs = mallory.link(BANK)
    assert (
        alice.post("/v1/withdrawals", {"funding_source_id": theirs, "amount": 100, "currency": "USD"}).status_code
        == 404
    )
    mine = alice.post(
        "/v1/withdrawals", {"funding_source_id": alice.link(BANK), "amount": 100, "currency": "USD"}
    ).get_json()
    assert mallory.wallets.get(f"/v1/withdrawals/{mine['id']}", headers=mallory.auth).status_code == 404


def _ping(client) -> int:
    ping = CloudEvent(
        {
            "id": str(uuid.uuid4()),
            "type": "dev.knative.sources.ping",
            "source": "/apis/v1/namespaces/paystream/pingsources/sweep-sagas",
        },
        {},
    )
    headers, body = to_binary(ping)
    return client.post("/", headers=headers, data=body).status_code


def test_a_stuck_withdrawal_is_failed_by_the_sweep_and_its_funds_returned(alice, client_of, runtime):
    # GIVEN a withdrawal whose payout never ran, older than the saga bound
    bank = alice.link(BANK)
    withdrawal = alice.post(
        "/v1/withdrawals", {"funding_source_id": bank, "amount": 3_000, "currency": "USD"}
    ).get_json()
    with runtime.engine.begin() as conn:
        conn.execute(
            withdrawals.update()
            .where(withdrawals.c.id == withdrawal["id"])
            .values(updated_at=datetime.now(UTC) - timedelta(hours=1))
        )
    # WHEN sweep-sagas runs
    assert _ping(client_of("sweep-sagas")) == 200
    # THEN the withdrawal failed with the reason, the funds are back, and a late payout does nothing
    got = alice.wallets.get(f"/v1/withdrawals/{withdrawal['id']}", headers=alice.auth).get_json()
    assert (got["status"], got["failure_code"]) == ("failed", "withdrawal_timeout")
    assert alice.balances() == {"USD": (10_000, 0)}
    assert _deliver(client_of("payout"), _requested_event(runtime, withdrawal["id"])) == 200
    with runtime.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(payouts)).scalar_one() == 0
    assert alice.balances() == {"USD": (10_000, 0)}


def test_a_poison_withdrawal_event_is_refused_for_the_dead_letter_queue(client_of):
    event = CloudEvent(
        {
            "id": str(uuid.uuid4()),
            "type": wire_type("withdrawal.requested"),
            "source": "/paystream/wallets",
            "datacontenttype": "application/json",
        },
        {"withdrawal_id": "wdr_x", "amount_minor": "12"},
    )
    # The payload fails its schema: no retry can fix it, so it goes to the dead-letter queue.
    assert _deliver(client_of("payout"), event) == 422


def _recorded(runtime, event_type: str) -> list[CloudEvent]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(sa.select(events).where(events.c.type == event_type)).all()
    return [
        CloudEvent(
            {
                "id": row.id,
                "type": wire_type(row.type),
                "source": f"/paystream/{row.source}",
                "subject": row.subject,
                "datacontenttype": "application/json",
            },
            row.data,
        )
        for row in rows
    ]


def test_conversions_and_withdrawals_are_notified_once_in_the_users_words(alice, client_of, runtime):
    # GIVEN a completed and a failed conversion, and a paid and a failed withdrawal
    assert (
        alice.post("/v1/conversions", {"from_currency": "USD", "to_currency": "KWD", "amount": 1_000}).status_code
        == 201
    )
    assert (
        alice.post("/v1/conversions", {"from_currency": "USD", "to_currency": "JPY", "amount": 99_999}).status_code
        == 402
    )
    payout = client_of("payout")
    for number in ("000123456789", "000111111113"):
        bank = alice.link({**BANK, "account_number": number})
        withdrawal = alice.post(
            "/v1/withdrawals", {"funding_source_id": bank, "amount": 500, "currency": "USD"}
        ).get_json()
        assert _deliver(payout, _requested_event(runtime, withdrawal["id"])) == 200
    # WHEN notify gets each of their events, twice
    notify = client_of("notify")
    for event_type in ("conversion.completed", "conversion.failed", "withdrawal.succeeded", "withdrawal.failed"):
        (event,) = _recorded(runtime, event_type)
        assert _deliver(notify, event) == _deliver(notify, event) == 200
    # THEN the user has one notification each, amounts in each currency's own minor units
    listed = client_of("notifications").get("/v1/notifications", headers=alice.auth).get_json()["data"]
    bodies = {item["kind"]: item["body"] for item in listed}
    assert len(listed) == 4
    # 10.00 USD * 0.307 = 3.070 KWD at mid; 3.054 KWD (three decimals) to the customer
    assert bodies["conversion.completed"] == "You converted 10.00 USD to 3.054 KWD."
    assert "999.99 USD to JPY failed" in bodies["conversion.failed"]
    assert bodies["withdrawal.succeeded"] == "5.00 USD is on its way to your bank account."
    assert "the bank account is closed" in bodies["withdrawal.failed"]
