"""KYC limits and frozen accounts through the functions' real bindings: score-fraud declines a
payment over a limit before scoring it, wallets refuses a withdrawal over the day's limit,
users shows what remains, admins read and change the limits, operators freeze and unfreeze
accounts through `admin`'s HTTP binding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from schemas.api import PaymentRequest
from shared.adapters.tables import events, processed_events, transfers, users
from shared.domain.fraud import FraudAssessment, FraudDecision
from shared.domain.fx import reference_minor
from shared.services.context import EventContext
from shared.services.payments import create_payment, score_payment
from tests.fixtures.idempotency import fresh_key
from tests.functions.test_reviews import Desk

OPENING_BALANCE_MINOR = 2_000_000  # 20,000.00
# The defaults of KYC level none (shared.domain.limits), in USD cents.
SINGLE_PAYMENT = 5_000_00
SENT_24H = 7_500_00
SENT_30D = 10_000_00
WITHDRAWAL_24H = 2_500_00
BANK = {"type": "bank_account", "routing_number": "110000000", "account_number": "000123456789"}
APPROVE = FraudAssessment(FraudDecision.APPROVE, 0, ())


@pytest.fixture
def desk(client_of, runtime) -> Desk:
    return Desk(client_of, runtime)


def _declined(desk: Desk, payment_id: str) -> tuple[str, str]:
    payment = desk.payment("payer", payment_id)
    assert payment["status"] == "declined", payment
    return payment["failure_code"], payment["failure_message"]


def _paid_in_the_past(desk: Desk, amount_minor: int, ago: timedelta, currency: str = "USD") -> str:
    """A payment of the payer's, accepted and approved by fraud scoring `ago`."""
    at = datetime.now(UTC) - ago
    payer_id, payee_id = desk.id("payer"), desk.id("payee")
    with desk.runtime.engine.begin() as conn:
        payment, _ = create_payment(
            conn,
            payer_id=payer_id,
            request=PaymentRequest(to=payee_id, amount=amount_minor, currency=currency),
            context=EventContext(producer="payments", now=at, correlation_id=None),
        )
        score_payment(
            conn,
            payment.id,
            APPROVE,
            EventContext(producer="score-fraud", now=at, correlation_id=None),
            ledger=desk.runtime.ledger,
            hold_timeout_seconds=60,
        )
    return payment.id


def _limits(desk: Desk, name: str = "payer") -> dict[str, dict]:
    answer = desk.client_of("users").get("/v1/users/me/limits", headers=desk.auth(name))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["currency"] == "USD"
    return {item["limit"]: item for item in body["limits"]} | {"kyc_level": body["kyc_level"]}


def _set_level(desk: Desk, name: str, level: str) -> None:
    with desk.runtime.engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == desk.id(name)).values(kyc_level=level))


# --- payments over a limit -----------------------------------------------------------------------


def test_a_payment_over_the_single_limit_is_accepted_then_declined_naming_the_limit(desk):
    # GIVEN a payer at KYC level none with 20,000.00 USD
    desk.fund("payer", OPENING_BALANCE_MINOR)
    # WHEN they pay a cent more than 5,000.00 USD: the 202 comes back at once
    payment_id = desk.pay("payer", SINGLE_PAYMENT + 1)
    # THEN the saga declines it with limit_exceeded naming single_payment, before any hold
    code, message = _declined(desk, payment_id)
    assert code == "limit_exceeded" and message.startswith("single_payment:")
    assert desk.wallet("payer") == {"currency": "USD", "available": OPENING_BALANCE_MINOR, "pending": 0}
    assert [t for t, _ in desk.events_of(payment_id)] == ["payment.requested", "payment.declined"]
    # AND the payer is told why, and how to raise the limit
    desk.deliver("notify", payment_id, "payment.declined")
    [(_, body)] = [n for n in desk.notified("payer") if n[0] == "Payment declined"]
    assert "single payment limit of 5000.00 USD" in body and "identity check" in body


def test_exactly_the_single_limit_is_allowed(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payment_id = desk.pay("payer", SINGLE_PAYMENT)
    # Above the new-account review amount: held, not declined.
    assert desk.payment("payer", payment_id)["status"] == "held"


def test_a_days_payments_stop_at_sent_24h_counting_held_ones(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    first = desk.pay("payer", 4_000_00)
    assert desk.payment("payer", first)["status"] == "held"
    second = desk.pay("payer", SENT_24H - 4_000_00 + 1)
    assert _declined(desk, second)[0] == "limit_exceeded"
    assert _declined(desk, second)[1].startswith("sent_24h:")
    # A payment that fits what is left of the day goes on to scoring.
    third = desk.pay("payer", SENT_24H - 4_000_00)
    assert desk.payment("payer", third)["status"] != "declined"


def test_a_months_payments_stop_at_sent_30d_and_older_ones_do_not_count(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    _paid_in_the_past(desk, 4_000_00, timedelta(days=2))
    _paid_in_the_past(desk, 4_000_00, timedelta(days=3))
    _paid_in_the_past(desk, 4_000_00, timedelta(days=31))  # outside the window
    over = desk.pay("payer", SENT_30D - 8_000_00 + 1)
    code, message = _declined(desk, over)
    assert code == "limit_exceeded" and message.startswith("sent_30d:")
    fits = desk.pay("payer", SENT_30D - 8_000_00)
    assert desk.payment("payer", fits)["status"] != "declined"


def test_declined_and_failed_payments_do_not_count(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    refused = desk.pay("payer", SINGLE_PAYMENT + 1)
    assert _declined(desk, refused)[0] == "limit_exceeded"
    assert _limits(desk)["sent_24h"]["used"] == 0


def test_other_currencies_count_in_usd_at_the_newest_rates(desk):
    # GIVEN a payer with euros and yen
    rates = desk.runtime.fx_rates.current()
    desk.fund("payer", OPENING_BALANCE_MINOR, "EUR")
    desk.fund("payer", 10**9, "JPY")
    # WHEN they pay 4,500.00 EUR, fewer units than the limit but more than 5,000.00 USD
    euros = 4_500_00
    assert reference_minor(euros, "EUR", rates) > SINGLE_PAYMENT
    declined = desk.pay("payer", euros, "EUR")
    # THEN it is over the single limit
    assert _declined(desk, declined)[1].startswith("single_payment:")
    # AND 700,000 JPY, a large number worth under 5,000.00 USD, is within it (fraud scoring,
    # which has rules of its own, decides the rest)
    yen = 700_000
    assert reference_minor(yen, "JPY", rates) < SINGLE_PAYMENT
    within = desk.pay("payer", yen, "JPY")
    assert desk.payment("payer", within)["failure_code"] != "limit_exceeded"
    # AND what the payer sent in yen counts in USD: that payment (held for review, as a new
    # account's payment over 2,000 USD is, which counts until it is declined) and an earlier one
    _paid_in_the_past(desk, yen, timedelta(hours=1), "JPY")
    assert desk.payment("payer", within)["status"] == "held"
    assert _limits(desk)["sent_24h"]["used"] == reference_minor(2 * yen, "JPY", rates)  # summed, then converted


def test_a_higher_kyc_level_has_higher_limits(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    _set_level(desk, "payer", "basic")
    payment_id = desk.pay("payer", SINGLE_PAYMENT + 1)
    assert desk.payment("payer", payment_id)["status"] == "held"
    assert _limits(desk)["single_payment"]["amount"] == 10_000_00


def test_a_replayed_requested_event_never_declines_a_payment_scored_already(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payment_id = desk.pay("payer", 100_00)
    assert desk.payment("payer", payment_id)["status"] == "pending"
    # An admin lowers the limit below it, then the event comes back to a score-fraud that lost
    # its record of it (a replay after a restore).
    with desk.runtime.engine.begin() as conn:
        conn.execute(processed_events.delete().where(processed_events.c.consumer == "score-fraud"))
    desk.admin.post(
        "/v1/admin/limits/none/single_payment", json={"amount": 1, "reason": "test"}, headers=desk.auth("admin")
    )
    desk.deliver("score-fraud", payment_id, "payment.requested")
    assert desk.payment("payer", payment_id)["status"] == "pending"


# --- what a user sees of their limits ------------------------------------------------------------


def test_a_user_sees_each_limit_what_was_used_and_what_remains_in_usd(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    fresh = _limits(desk)
    assert fresh["kyc_level"] == "none"
    assert fresh["single_payment"] == {
        "limit": "single_payment",
        "amount": SINGLE_PAYMENT,
        "used": None,
        "remaining": SINGLE_PAYMENT,
        "window_seconds": None,
    }
    assert fresh["sent_30d"] == {
        "limit": "sent_30d",
        "amount": SENT_30D,
        "used": 0,
        "remaining": SENT_30D,
        "window_seconds": 30 * 24 * 3600,
    }
    desk.pay("payer", 3_000_00)  # held for review: it counts
    _paid_in_the_past(desk, 1_000_00, timedelta(days=5))
    seen = _limits(desk)
    assert (seen["sent_24h"]["used"], seen["sent_24h"]["remaining"]) == (3_000_00, SENT_24H - 3_000_00)
    assert (seen["sent_30d"]["used"], seen["sent_30d"]["remaining"]) == (4_000_00, SENT_30D - 4_000_00)
    assert seen["withdrawal_24h"]["used"] == 0
    assert desk.client_of("users").get("/v1/users/me/limits").status_code == 401


# --- withdrawals -----------------------------------------------------------------------------------


def _bank(desk: Desk, name: str = "payer") -> str:
    answer = desk.client_of("accounts").post("/v1/funding-sources", json=BANK, headers=desk.auth(name))
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()["id"]


def _withdraw(desk: Desk, bank: str, amount: int, name: str = "payer"):
    return desk.client_of("wallets").post(
        "/v1/withdrawals",
        json={"funding_source_id": bank, "amount": amount, "currency": "USD"},
        headers={**desk.auth(name), **fresh_key()},
    )


def test_withdrawals_stop_at_the_days_limit_with_a_422_naming_it(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    bank = _bank(desk)
    assert _withdraw(desk, bank, 2_000_00).status_code == 202
    over = _withdraw(desk, bank, WITHDRAWAL_24H - 2_000_00 + 1)
    assert over.status_code == 422
    error = over.get_json()["error"]
    assert error["code"] == "limit_exceeded" and error["message"].startswith("withdrawal_24h:")
    assert error["param"] == "amount"
    # Nothing was reserved for the refused one.
    assert desk.wallet("payer")["pending"] == 2_000_00
    assert _withdraw(desk, bank, WITHDRAWAL_24H - 2_000_00).status_code == 202
    assert _limits(desk)["withdrawal_24h"]["remaining"] == 0


# --- admins and the limits -------------------------------------------------------------------------


def test_auditors_and_admins_read_every_levels_limits(desk):
    answer = desk.admin.get("/v1/admin/limits", headers=desk.auth("auditor"))
    assert answer.status_code == 200
    levels = {level["kyc_level"]: level for level in answer.get_json()["data"]}
    assert list(levels) == ["none", "basic", "verified"]
    none = {item["limit"]: item for item in levels["none"]["limits"]}
    assert none["single_payment"]["amount"] == SINGLE_PAYMENT and none["single_payment"]["updated_by"] is None
    assert levels["verified"]["currency"] == "USD"
    assert desk.admin.get("/v1/admin/limits", headers=desk.auth("support")).status_code == 403


def test_an_admin_changes_a_limit_it_applies_at_once_and_is_audited(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    changed = desk.admin.post(
        "/v1/admin/limits/none/single_payment",
        json={"amount": 1_000_00, "reason": "card testing wave"},
        headers=desk.auth("admin"),
    )
    assert changed.status_code == 200, changed.get_json()
    single = next(item for item in changed.get_json()["limits"] if item["limit"] == "single_payment")
    assert single["amount"] == 1_000_00 and single["updated_by"] == desk.id("admin")
    payment_id = desk.pay("payer", 1_000_01)
    assert _declined(desk, payment_id)[1].startswith("single_payment:")
    with desk.runtime.engine.connect() as conn:
        recorded = conn.execute(sa.select(events.c.data).where(events.c.type == "admin.action_taken")).scalars().all()
    [change] = [data for data in recorded if data["action"] == "limit.change"]
    assert change["actor_id"] == desk.id("admin") and change["reason"] == "card testing wave"
    assert change["target_id"] == "none.single_payment"
    assert change["details"] == {"kyc_level": "none", "limit": "single_payment", "from": "500000", "to": "100000"}


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/admin/limits/gold/single_payment", {"amount": 1, "reason": "r"}, 404, "kyc_level_not_found"),
        ("/v1/admin/limits/none/sent_1y", {"amount": 1, "reason": "r"}, 404, "limit_not_found"),
        ("/v1/admin/limits/none/single_payment", {"amount": 0, "reason": "r"}, 400, "parameter_invalid"),
        ("/v1/admin/limits/none/single_payment", {"amount": 1.5, "reason": "r"}, 400, "parameter_invalid"),
        ("/v1/admin/limits/none/single_payment", {"amount": 100}, 400, "parameter_missing"),
        ("/v1/admin/limits/none/single_payment", {"amount": 7_500_01, "reason": "r"}, 422, "limits_inconsistent"),
        ("/v1/admin/limits/none/sent_30d", {"amount": 10**13, "reason": "r"}, 422, "limits_inconsistent"),
    ],
)
def test_a_bad_limit_change_is_refused_and_changes_nothing(desk, path, body, status, code):
    answer = desk.admin.post(path, json=body, headers=desk.auth("admin"))
    assert answer.status_code == status and answer.get_json()["error"]["code"] == code
    levels = desk.admin.get("/v1/admin/limits", headers=desk.auth("admin")).get_json()["data"]
    assert all(item["updated_by"] is None for level in levels for item in level["limits"])


# --- frozen accounts -------------------------------------------------------------------------------


def _freeze(desk: Desk, name: str, reason: str | None = "chargebacks under investigation", operator="support"):
    body = {} if reason is None else {"reason": reason}
    return desk.admin.post(f"/v1/admin/users/{desk.id(name)}/freeze", json=body, headers=desk.auth(operator))


def test_a_frozen_account_reads_but_cannot_send_withdraw_or_receive(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    bank = _bank(desk)
    earlier = desk.pay("payer", 100_00)
    # WHEN support freezes the payer
    frozen = _freeze(desk, "payer")
    assert frozen.status_code == 200, frozen.get_json()
    assert frozen.get_json()["frozen_at"] is not None
    assert frozen.get_json()["frozen_reason"] == "chargebacks under investigation"
    # THEN sending, withdrawing and being paid answer 403 account_frozen
    payments = desk.client_of("payments")
    sent = payments.post(
        "/v1/payments",
        json={"to": desk.id("payee"), "amount": 100, "currency": "USD"},
        headers={**desk.auth("payer"), **fresh_key()},
    )
    to_frozen = payments.post(
        "/v1/payments",
        json={"to": desk.id("payer"), "amount": 100, "currency": "USD"},
        headers={**desk.auth("payee"), **fresh_key()},
    )
    withdrawn = _withdraw(desk, bank, 100)
    for answer in (sent, to_frozen, withdrawn):
        assert answer.status_code == 403, answer.get_json()
        assert answer.get_json()["error"] == {
            "type": "authorization_error",
            "code": "account_frozen",
            "message": answer.get_json()["error"]["message"],
            "param": None,
        }
    # AND the frozen account still reads: itself, its wallet, its payment (declined by the freeze)
    assert desk.client_of("users").get("/v1/users/me", headers=desk.auth("payer")).status_code == 200
    assert desk.wallet("payer")["available"] == OPENING_BALANCE_MINOR
    assert _declined(desk, earlier)[0] == "account_frozen"
    assert _limits(desk)["kyc_level"] == "none"
    # AND the operator's view shows the freeze
    seen = desk.admin.get(f"/v1/admin/users/{desk.id('payer')}", headers=desk.auth("auditor")).get_json()
    assert seen["frozen_reason"] == "chargebacks under investigation"


def test_paying_a_request_from_or_to_a_frozen_account_is_refused(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payments = desk.client_of("payments")
    asked = payments.post(
        "/v1/payment-requests",
        json={"from": desk.id("payer"), "amount": 100, "currency": "USD"},
        headers=desk.auth("payee"),
    )
    assert asked.status_code == 201, asked.get_json()
    assert _freeze(desk, "payee").status_code == 200
    paid = payments.post(
        f"/v1/payment-requests/{asked.get_json()['id']}/pay", headers={**desk.auth("payer"), **fresh_key()}
    )
    assert paid.status_code == 403 and paid.get_json()["error"]["code"] == "account_frozen"


def test_freezing_declines_unsettled_payments_and_releases_their_holds_once(desk):
    # GIVEN a payment held for review (its amount reserved) and one approved, not yet debited
    desk.fund("payer", OPENING_BALANCE_MINOR)
    held = desk.pay("payer", 3_000_00)
    approved = desk.pay("payer", 100_00)
    assert desk.wallet("payer")["pending"] == 3_000_00
    # WHEN the payer is frozen, twice
    assert _freeze(desk, "payer").status_code == 200
    again = _freeze(desk, "payer", "a second report")
    assert again.status_code == 200
    # THEN both are declined account_frozen, the hold is back, voided once
    for payment_id in (held, approved):
        assert _declined(desk, payment_id) == ("account_frozen", "an account of the payment is frozen")
    assert desk.wallet("payer") == {"currency": "USD", "available": OPENING_BALANCE_MINOR, "pending": 0}
    with desk.runtime.engine.connect() as conn:
        voids = conn.execute(
            sa.select(sa.func.count()).select_from(transfers).where(transfers.c.id == f"{held}:void")
        ).scalar_one()
    assert voids == 1
    assert [t for t, _ in desk.events_of(held)].count("payment.declined") == 1
    # AND the first reason stands
    assert again.get_json()["frozen_reason"] == "chargebacks under investigation"
    # AND a late debit finds the approved one declined and moves nothing
    desk.deliver("debit-wallet", approved, "payment.approved")
    assert desk.wallet("payer")["pending"] == 0


def test_a_payment_accepted_before_its_payee_was_frozen_is_declined_by_the_saga(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    answer = desk.client_of("payments").post(
        "/v1/payments",
        json={"to": desk.id("payee"), "amount": 100_00, "currency": "USD"},
        headers={**desk.auth("payer"), **fresh_key()},
    )
    payment_id = answer.get_json()["id"]
    # The payee is frozen between acceptance and scoring (written as the freeze's row change).
    with desk.runtime.engine.begin() as conn:
        conn.execute(
            users.update().where(users.c.id == desk.id("payee")).values(frozen_at=datetime.now(UTC), frozen_reason="x")
        )
    desk.deliver("score-fraud", payment_id, "payment.requested")
    assert _declined(desk, payment_id)[0] == "account_frozen"


def test_unfreezing_lets_the_account_send_again_and_both_actions_are_audited(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    assert _freeze(desk, "payer").status_code == 200
    lifted = desk.admin.post(
        f"/v1/admin/users/{desk.id('payer')}/unfreeze", json={"reason": "cleared"}, headers=desk.auth("admin")
    )
    assert lifted.status_code == 200 and lifted.get_json()["frozen_at"] is None
    payment_id = desk.pay("payer", 100_00)
    assert desk.payment("payer", payment_id)["status"] == "pending"
    with desk.runtime.engine.connect() as conn:
        recorded = conn.execute(sa.select(events.c.data).where(events.c.type == "admin.action_taken")).scalars().all()
    actions = [(d["action"], d["actor_id"], d["target_id"]) for d in recorded if d["action"].startswith("user.")]
    assert actions == [
        ("user.freeze", desk.id("support"), desk.id("payer")),
        ("user.unfreeze", desk.id("admin"), desk.id("payer")),
    ]


def test_a_freeze_needs_a_reason_and_a_user(desk):
    missing = _freeze(desk, "payer", None)
    assert missing.status_code == 400 and missing.get_json()["error"]["param"] == "reason"
    unknown = desk.admin.post("/v1/admin/users/usr_nobody/freeze", json={"reason": "r"}, headers=desk.auth("support"))
    assert unknown.status_code == 404
    assert _freeze(desk, "payer", operator="auditor").status_code == 403
