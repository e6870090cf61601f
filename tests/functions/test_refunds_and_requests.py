"""Refunds and payment requests through the functions' real bindings: the payments HTTP function
takes the requests, and each saga event is handed to its CloudEvent function (debit-wallet,
settle, notify, audit, sweep-sagas), in binary and structured mode, delivered twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from shared.adapters.ledger_store import system_account_id, wallet_account_id
from shared.adapters.outbox import cloud_event_of
from shared.adapters.tables import events, payment_requests, refunds
from shared.domain.ledger import Transfer
from shared.services.notifications import list_notifications
from tests.fixtures.idempotency import fresh_key
from tests.fixtures.ledger import fund

PASSWORD = "a long enough password"
LONG_AGO = timedelta(hours=2)


class World:
    """Three people (a payer, a payee, a stranger) and the functions, as a client reaches them."""

    def __init__(self, client_of, runtime):
        self.client_of = client_of
        self.runtime = runtime
        self.payments = client_of("payments")
        users = client_of("users")
        self.ids, self.auth = {}, {}
        for name in ("payer", "payee", "stranger"):
            email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
            answer = users.post(
                "/v1/users", json={"email": email, "password": PASSWORD, "full_name": name.title(), "country": "US"}
            )
            assert answer.status_code == 201, answer.get_data(as_text=True)
            self.ids[name] = answer.get_json()["id"]
            token = users.post(
                "/v1/oauth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
            ).get_json()["access_token"]
            self.auth[name] = {"Authorization": f"Bearer {token}"}

    def fund(self, name: str, amount_minor: int) -> None:
        now = datetime.now(UTC)
        with self.runtime.engine.begin() as conn:
            fund(conn, self.runtime.ledger, self.ids[name], amount_minor, now)

    def call(self, name: str, method: str, path: str, key: str | None = None, **kwargs):
        """A request as `name`, with the Idempotency-Key `key` (a fresh one by default)."""
        headers = {**self.auth[name], **({"Idempotency-Key": key} if key else fresh_key())}
        return self.payments.open(path, method=method, headers=headers, **kwargs)

    def deliver(self, function: str, subject: str, event_type: str, *, times: int = 2) -> None:
        """Hand the stored event to `function`, binary then structured: the same CloudEvent id."""
        with self.runtime.engine.connect() as conn:
            row = conn.execute(sa.select(events).where(events.c.subject == subject, events.c.type == event_type)).one()
        structured = cloud_event_of(row)
        data = structured.pop("data")
        client = self.client_of(function)
        for mode in ("binary", "structured")[:times]:
            headers, body = (to_binary if mode == "binary" else to_structured)(CloudEvent(structured, data))
            answer = client.post("/", headers=headers, data=body)
            assert answer.status_code == 200, (function, event_type, answer.get_data(as_text=True))

    def complete_payment(self, payment_id: str) -> None:
        for function, event_type in (
            ("score-fraud", "payment.requested"),
            ("debit-wallet", "payment.approved"),
            ("settle", "payment.debited"),
        ):
            self.deliver(function, payment_id, event_type)

    def pay(self, amount: int) -> str:
        answer = self.call(
            "payer",
            "POST",
            "/v1/payments",
            json={"to": self.ids["payee"], "amount": amount, "currency": "USD", "note": "dinner"},
        )
        assert answer.status_code == 202, answer.get_data(as_text=True)
        return answer.get_json()["id"]

    def available(self, name: str) -> int:
        with self.runtime.engine.connect() as conn:
            wallets = self.runtime.ledger.wallets_of(conn, self.ids[name])
            return sum(w.available for w in wallets if w.currency == "USD")

    def types_of(self, subject: str) -> list[str]:
        with self.runtime.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(events.c.type).where(events.c.subject == subject).order_by(events.c.aggregate_sequence)
                ).scalars()
            )

    def totals(self) -> tuple[int, int]:
        with self.runtime.engine.connect() as conn:
            return self.runtime.ledger.totals_by_currency(conn)["USD"]


@pytest.fixture
def world(client_of, runtime) -> World:
    return World(client_of, runtime)


def _error(answer) -> tuple[int, str, str]:
    error = answer.get_json()["error"]
    return answer.status_code, error["type"], error["code"]


# --- refunds ---------------------------------------------------------------------------------


def test_a_partial_then_a_full_refund_return_the_payment_through_each_binding_once(world):
    # GIVEN a completed payment of 10.00 from the payer to the payee
    world.fund("payer", 5_000)
    payment_id = world.pay(1_000)
    world.complete_payment(payment_id)
    assert (world.available("payer"), world.available("payee")) == (4_000, 1_000)
    # WHEN the payee refunds 3.00, and each event of the refund is delivered twice
    first = world.call("payee", "POST", f"/v1/payments/{payment_id}/refunds", key="refund-1", json={"amount": 300})
    assert first.status_code == 202, first.get_data(as_text=True)
    refund = first.get_json()
    assert (refund["status"], refund["amount"], refund["payment_id"]) == ("pending", 300, payment_id)
    world.deliver("debit-wallet", refund["id"], "refund.requested")
    world.deliver("settle", refund["id"], "refund.debited")
    # THEN the money went back once and the payment is partially refunded
    assert (world.available("payer"), world.available("payee")) == (4_300, 700)
    assert world.call("payer", "GET", f"/v1/payments/{payment_id}").get_json()["status"] == "partially_refunded"
    assert world.types_of(refund["id"]) == ["refund.requested", "refund.debited", "refund.completed"]
    # AND the same key replays the first answer without a second refund
    replay = world.call("payee", "POST", f"/v1/payments/{payment_id}/refunds", key="refund-1", json={"amount": 300})
    assert replay.status_code == 202 and replay.get_json()["id"] == refund["id"]
    # WHEN the payee refunds the rest, with no body at all
    rest = world.call("payee", "POST", f"/v1/payments/{payment_id}/refunds")
    assert rest.status_code == 202 and rest.get_json()["amount"] == 700
    world.deliver("debit-wallet", rest.get_json()["id"], "refund.requested")
    world.deliver("settle", rest.get_json()["id"], "refund.debited")
    # THEN the whole payment is back, the payment is refunded, and its timeline says so
    assert (world.available("payer"), world.available("payee")) == (5_000, 0)
    assert world.totals() == (0, 0)
    assert world.call("payee", "GET", f"/v1/payments/{payment_id}").get_json()["status"] == "refunded"
    assert world.types_of(payment_id)[-2:] == ["payment.partially_refunded", "payment.refunded"]
    # AND both parties list both refunds and read each by its id; a stranger reads nothing
    for name in ("payer", "payee"):
        listed = world.call(name, "GET", f"/v1/payments/{payment_id}/refunds").get_json()
        assert [(r["amount"], r["status"]) for r in listed["data"]] == [(300, "completed"), (700, "completed")]
        assert world.call(name, "GET", f"/v1/refunds/{refund['id']}").get_json()["status"] == "completed"
    assert world.call("stranger", "GET", f"/v1/refunds/{refund['id']}").status_code == 404
    assert world.call("stranger", "GET", f"/v1/payments/{payment_id}/refunds").status_code == 404
    # AND nothing more can be refunded
    more = world.call("payee", "POST", f"/v1/payments/{payment_id}/refunds", json={"amount": 1})
    assert _error(more) == (409, "invalid_request_error", "payment_not_refundable")


def test_both_parties_are_notified_of_a_refund_and_every_refund_event_is_audited(world):
    world.fund("payer", 1_000)
    payment_id = world.pay(500)
    world.complete_payment(payment_id)
    refund_id = world.call("payee", "POST", f"/v1/payments/{payment_id}/refunds").get_json()["id"]
    world.deliver("debit-wallet", refund_id, "refund.requested")
    world.deliver("settle", refund_id, "refund.debited")
    # WHEN notify and audit receive the refund's events (twice each)
    world.deliver("notify", refund_id, "refund.completed")
    before = world.runtime.audit_chain.verify().length
    for event_type in ("refund.requested", "refund.debited", "refund.completed"):
        world.deliver("audit", refund_id, event_type)
    world.deliver("audit", payment_id, "payment.refunded")
    # THEN each party was told once, and the chain grew by exactly four records
    with world.runtime.engine.connect() as conn:
        payer = [n.title for n in list_notifications(conn, world.ids["payer"], limit=10)]
        payee = [n.title for n in list_notifications(conn, world.ids["payee"], limit=10)]
    assert payer.count("Refund received") == 1 and payee.count("Refund sent") == 1
    verification = world.runtime.audit_chain.verify()
    assert verification.ok and verification.length == before + 4


def test_the_payer_cannot_refund_a_stranger_cannot_see_and_bad_amounts_are_refused(world):
    world.fund("payer", 1_000)
    payment_id = world.pay(400)
    path = f"/v1/payments/{payment_id}/refunds"
    # A payment still pending cannot be refunded yet.
    assert _error(world.call("payee", "POST", path, json={"amount": 100})) == (
        409,
        "invalid_request_error",
        "payment_not_refundable",
    )
    world.complete_payment(payment_id)
    assert _error(world.call("payer", "POST", path, json={"amount": 100})) == (
        403,
        "authorization_error",
        "refund_not_allowed",
    )
    assert _error(world.call("stranger", "POST", path, json={"amount": 100})) == (
        404,
        "not_found_error",
        "payment_not_found",
    )
    for amount in (0, -5, 10.5, "100", True):
        answer = world.call("payee", "POST", path, json={"amount": amount})
        assert _error(answer) == (400, "invalid_request_error", "parameter_invalid"), amount
        assert answer.get_json()["error"]["param"] == "amount"
    too_much = world.call("payee", "POST", path, json={"amount": 401})
    assert _error(too_much) == (400, "invalid_request_error", "refund_exceeds_payment")
    assert _error(world.call("payee", "POST", path, json={"currency": "USD"}))[2] == "parameter_unknown"
    # A refund in flight counts: 300 pending leaves 100.
    assert world.call("payee", "POST", path, json={"amount": 300}).status_code == 202
    assert _error(world.call("payee", "POST", path, json={"amount": 101}))[2] == "refund_exceeds_payment"
    assert world.call("payee", "POST", path, json={"amount": 100}).status_code == 202
    assert _error(world.call("payee", "POST", path))[2] == "refund_exceeds_payment"


def test_a_refund_the_payee_cannot_cover_fails_and_frees_the_amount_again(world):
    # GIVEN a completed payment of 8.00, and a payee who spent 5.00 of it since
    world.fund("payer", 1_000)
    payment_id = world.pay(800)
    world.complete_payment(payment_id)
    with world.runtime.engine.begin() as conn:
        world.runtime.ledger.create_transfer(
            conn,
            Transfer(
                id="spent",
                debit_account_id=wallet_account_id(world.ids["payee"], "USD"),
                credit_account_id=system_account_id("USD", "payouts"),
                amount_minor=500,
                currency="USD",
            ),
            datetime.now(UTC),
        )
    # WHEN the payee refunds all of it
    refund_id = world.call("payee", "POST", f"/v1/payments/{payment_id}/refunds").get_json()["id"]
    world.deliver("debit-wallet", refund_id, "refund.requested")
    # THEN the refund failed, nothing moved, the payment is still completed
    refund = world.call("payer", "GET", f"/v1/refunds/{refund_id}").get_json()
    assert (refund["status"], refund["failure_code"]) == ("failed", "insufficient_funds")
    assert (world.available("payer"), world.available("payee")) == (200, 300)
    assert world.call("payer", "GET", f"/v1/payments/{payment_id}").get_json()["status"] == "completed"
    world.deliver("notify", refund_id, "refund.failed")
    with world.runtime.engine.connect() as conn:
        assert list_notifications(conn, world.ids["payee"], limit=1)[0].title == "Refund failed"
    # AND the failed refund no longer counts: 3.00 can still be refunded and completes
    again = world.call("payee", "POST", f"/v1/payments/{payment_id}/refunds", json={"amount": 300}).get_json()["id"]
    world.deliver("debit-wallet", again, "refund.requested")
    world.deliver("settle", again, "refund.debited")
    assert (world.available("payer"), world.available("payee")) == (500, 0)


def test_a_refund_that_stopped_moving_is_voided_and_failed_by_sweep_sagas(world):
    world.fund("payer", 1_000)
    payment_id = world.pay(600)
    world.complete_payment(payment_id)
    refund_id = world.call("payee", "POST", f"/v1/payments/{payment_id}/refunds").get_json()["id"]
    world.deliver("debit-wallet", refund_id, "refund.requested")
    assert world.available("payee") == 0  # reserved
    with world.runtime.engine.begin() as conn:
        conn.execute(refunds.update().where(refunds.c.id == refund_id).values(updated_at=datetime.now(UTC) - LONG_AGO))
    # WHEN the sweeper runs
    assert _ping(world.client_of("sweep-sagas")) == 200
    # THEN the reservation is released and the refund failed; a late settle changes nothing
    refund = world.call("payee", "GET", f"/v1/refunds/{refund_id}").get_json()
    assert (refund["status"], refund["failure_code"]) == ("failed", "saga_timeout")
    world.deliver("settle", refund_id, "refund.debited")
    assert (world.available("payer"), world.available("payee")) == (400, 600)
    assert world.totals() == (0, 0)


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


# --- payment requests ------------------------------------------------------------------------


def _request(world, amount=1_500, *, by="payee", of="payer", **extra):
    answer = world.call(
        by,
        "POST",
        "/v1/payment-requests",
        json={"from": world.ids[of], "amount": amount, "currency": "USD", "note": "tickets", **extra},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()


def test_a_paid_request_is_paid_once_when_its_payment_completes(world):
    # GIVEN the payee asks the payer for 15.00
    world.fund("payer", 5_000)
    request = _request(world)
    assert (request["status"], request["requester_id"], request["payer_id"]) == (
        "open",
        world.ids["payee"],
        world.ids["payer"],
    )
    path = f"/v1/payment-requests/{request['id']}"
    # Both see it; a stranger does not; the requester cannot pay their own request.
    for name in ("payer", "payee"):
        assert [r["id"] for r in world.call(name, "GET", "/v1/payment-requests").get_json()["data"]] == [request["id"]]
    assert world.call("stranger", "GET", path).status_code == 404
    assert _error(world.call("stranger", "POST", path + "/pay")) == (
        404,
        "not_found_error",
        "payment_request_not_found",
    )
    assert _error(world.call("payee", "POST", path + "/pay")) == (
        403,
        "authorization_error",
        "payment_request_wrong_party",
    )
    # WHEN the payer pays it (twice with one key, then once more with another)
    paid = world.call("payer", "POST", path + "/pay", key="pay-it")
    assert paid.status_code == 202, paid.get_data(as_text=True)
    payment = paid.get_json()
    assert (payment["amount"], payment["payee_id"], payment["status"]) == (1_500, world.ids["payee"], "pending")
    assert world.call("payer", "POST", path + "/pay", key="pay-it").get_json()["id"] == payment["id"]
    assert _error(world.call("payer", "POST", path + "/pay", key="pay-again")) == (
        409,
        "invalid_request_error",
        "payment_request_already_paid",
    )
    assert world.call("payer", "GET", path).get_json()["status"] == "accepted"
    world.complete_payment(payment["id"])
    # THEN the request is paid, linked to its payment, and the money moved once
    final = world.call("payee", "GET", path).get_json()
    assert (final["status"], final["payment_id"]) == ("paid", payment["id"])
    assert (world.available("payer"), world.available("payee")) == (3_500, 1_500)
    assert world.types_of(request["id"]) == [
        "payment_request.created",
        "payment_request.accepted",
        "payment_request.paid",
    ]
    assert _error(world.call("payer", "POST", path + "/pay"))[2] == "payment_request_already_paid"
    world.deliver("notify", request["id"], "payment_request.created")
    world.deliver("notify", request["id"], "payment_request.paid")
    with world.runtime.engine.connect() as conn:
        assert list_notifications(conn, world.ids["payer"], limit=10)[-1].title == "Money requested"
        assert list_notifications(conn, world.ids["payee"], limit=1)[0].title == "Request paid"


def test_a_request_whose_payment_fails_is_open_again_and_can_be_paid(world):
    # GIVEN a payer with nothing, paying a request
    request = _request(world, 2_000)
    path = f"/v1/payment-requests/{request['id']}"
    payment_id = world.call("payer", "POST", path + "/pay").get_json()["id"]
    world.deliver("score-fraud", payment_id, "payment.requested")
    world.deliver("debit-wallet", payment_id, "payment.approved")
    # THEN the payment failed and the request is open again, saying why
    assert world.call("payer", "GET", f"/v1/payments/{payment_id}").get_json()["failure_code"] == "insufficient_funds"
    assert world.call("payee", "GET", path).get_json()["status"] == "open"
    with world.runtime.engine.connect() as conn:
        reopened = conn.execute(
            sa.select(events.c.data).where(
                events.c.subject == request["id"], events.c.type == "payment_request.reopened"
            )
        ).scalar_one()
    assert reopened["failure_code"] == "insufficient_funds" and reopened["payment_id"] == payment_id
    # AND once funded, the payer pays it for good
    world.fund("payer", 2_000)
    second = world.call("payer", "POST", path + "/pay").get_json()["id"]
    world.complete_payment(second)
    assert world.call("payee", "GET", path).get_json()["status"] == "paid"
    assert world.available("payee") == 2_000


def test_the_payer_declines_the_requester_cancels_and_nobody_else_can(world):
    declined = _request(world)
    cancelled = _request(world)
    d_path, c_path = (f"/v1/payment-requests/{r['id']}" for r in (declined, cancelled))
    assert _error(world.call("payee", "POST", d_path + "/decline")) == (
        403,
        "authorization_error",
        "payment_request_wrong_party",
    )
    assert _error(world.call("payer", "POST", c_path + "/cancel"))[:2] == (403, "authorization_error")
    assert world.call("stranger", "POST", d_path + "/decline").status_code == 404
    answer = world.call("payer", "POST", d_path + "/decline", key="no-thanks")
    assert answer.status_code == 200 and answer.get_json()["status"] == "declined"
    assert world.call("payer", "POST", d_path + "/decline", key="no-thanks").get_json()["status"] == "declined"
    assert _error(world.call("payer", "POST", d_path + "/pay")) == (
        409,
        "invalid_request_error",
        "payment_request_not_open",
    )
    assert world.call("payee", "POST", c_path + "/cancel", json={}).get_json()["status"] == "cancelled"
    assert _error(world.call("payee", "POST", c_path + "/cancel"))[2] == "payment_request_not_open"
    assert _error(world.call("payee", "POST", c_path + "/cancel", json={"why": "x"}))[2] == "parameter_unknown"
    # Both ends appear in both histories as requests, which move no money.
    history = (
        world.client_of("transactions")
        .get("/v1/transactions", headers=world.auth["payer"], query_string={"type": "request"})
        .get_json()["data"]
    )
    assert sorted(t["status"] for t in history) == ["cancelled", "declined"]
    assert {t["direction"] for t in history} == {"debit"}


def test_an_expired_request_cannot_be_paid_and_the_sweeper_closes_it(world):
    world.fund("payer", 5_000)
    request = _request(world, expires_in_days=1)
    path = f"/v1/payment-requests/{request['id']}"
    assert datetime.fromisoformat(request["expires_at"]) - datetime.fromisoformat(request["created_at"]) == timedelta(
        days=1
    )
    with world.runtime.engine.begin() as conn:
        conn.execute(
            payment_requests.update()
            .where(payment_requests.c.id == request["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    # An expired request is refused even before the sweeper marks it.
    assert _error(world.call("payer", "POST", path + "/pay")) == (
        409,
        "invalid_request_error",
        "payment_request_expired",
    )
    assert _error(world.call("payer", "POST", path + "/decline"))[2] == "payment_request_expired"
    assert _ping(world.client_of("sweep-sagas")) == 200
    assert world.call("payer", "GET", path).get_json()["status"] == "expired"
    world.deliver("notify", request["id"], "payment_request.expired")
    assert world.available("payer") == 5_000


def test_a_bad_request_for_money_is_a_clear_client_error(world):
    def ask(**body):
        return world.call(
            "payee",
            "POST",
            "/v1/payment-requests",
            json={"from": world.ids["payer"], "amount": 100, "currency": "USD", **body},
        )

    assert _error(ask(**{"from": world.ids["payee"]}))[::2] == (400, "cannot_request_from_self")
    assert _error(ask(**{"from": "nobody@example.com"})) == (404, "not_found_error", "payer_not_found")
    assert _error(ask(currency="XYZ"))[::2] == (400, "currency_not_supported")
    assert _error(ask(amount=1.5))[::2] == (400, "parameter_invalid")
    assert _error(ask(expires_in_days=0))[::2] == (400, "parameter_invalid")
    assert _error(ask(expires_in_days=91))[::2] == (400, "parameter_invalid")
    assert world.call("payee", "GET", "/v1/payment-requests", query_string={"limit": 0}).status_code == 400


def test_requests_page_newest_first_in_both_directions(world):
    made = [_request(world, amount)["id"] for amount in (100, 200)]
    asked = _request(world, 300, by="payer", of="payee")["id"]
    seen, cursor = [], None
    while True:
        page = world.call(
            "payee",
            "GET",
            "/v1/payment-requests",
            query_string={"limit": 1, **({"starting_after": cursor} if cursor else {})},
        ).get_json()
        seen += [r["id"] for r in page["data"]]
        if not page["has_more"]:
            break
        cursor = seen[-1]
    assert seen == [asked, *reversed(made)]
    assert world.call("stranger", "GET", "/v1/payment-requests").get_json() == {"data": [], "has_more": False}
