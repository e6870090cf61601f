"""The fraud review queue through the functions' real bindings: score-fraud holds a payment with
its amount reserved, operators read the queue and decide through `admin`'s HTTP binding, and
each resulting event is handed to its CloudEvent function (settle, notify, sweep-sagas)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from shared.adapters.outbox import cloud_event_of
from shared.adapters.tables import events, payment_reviews, payments, transactions, transfers
from shared.domain.fraud import FraudAssessment, FraudDecision, ReasonCode
from shared.domain.roles import OPERATOR_ROLES
from shared.ids import new_id
from shared.services import operators
from shared.services.context import EventContext
from shared.services.notifications import list_notifications, render_notifications
from shared.services.payments import score_payment
from tests.fixtures.idempotency import fresh_key
from tests.fixtures.keys import signed_access_token
from tests.fixtures.ledger import fund
from tests.fixtures.users import insert_user

# Above the new-account review limit (2,000.00 USD), below every other limit: a new payer's
# payment of this much is held for review.
HELD_AMOUNT_MINOR = 250_000
OPENING_BALANCE_MINOR = 1_000_000
LATE = timedelta(hours=73)  # older than the default review_max_age_seconds (72 hours)
OPERATOR_ROLE_NAMES = frozenset(role.value for role in OPERATOR_ROLES)


class Desk:
    """Payers, a payee and operators (each signed up when first named), and the functions as
    clients reach them."""

    def __init__(self, client_of, runtime):
        self.client_of = client_of
        self.runtime = runtime
        self.admin = client_of("admin")
        self._ids: dict[str, str] = {}
        self._auth: dict[str, dict[str, str]] = {}

    def id(self, name: str) -> str:
        if name not in self._ids:
            self._sign_up(name)
        return self._ids[name]

    def auth(self, name: str) -> dict[str, str]:
        if name not in self._auth:
            self._sign_up(name)
        return self._auth[name]

    def _sign_up(self, name: str) -> None:
        """`name` has an account (an operator role's name, support, admin or auditor, also holds
        that role) and a signed access token. Written straight into the tables: sign-up and its
        password hashing are another suite's subject, and would dominate this one's time."""
        user_id, now = new_id("usr"), datetime.now(UTC)
        with self.runtime.engine.begin() as conn:
            insert_user(
                conn, user_id, now=now, email=f"{name}@example.com", full_name=name, privacy=self.runtime.privacy,
                email_index=self.runtime.email_index,
            )  # fmt: skip
            self.runtime.ledger.ensure_wallet(conn, user_id, "USD", now)
            if name in OPERATOR_ROLE_NAMES:
                operators.grant_role(
                    conn,
                    user_id=user_id,
                    role=name,
                    actor_id=operators.CLI_ACTOR,
                    context=EventContext(producer="admin", now=now, correlation_id=None),
                )
        token = signed_access_token(self.runtime, user_id, now=now)
        self._ids[name] = user_id
        self._auth[name] = {"Authorization": f"Bearer {token}"}

    def fund(self, name: str, amount_minor: int, currency: str = "USD") -> None:
        now, user_id = datetime.now(UTC), self.id(name)
        with self.runtime.engine.begin() as conn:
            fund(conn, self.runtime.ledger, user_id, amount_minor, now, currency)

    def pay(self, name: str, amount: int, currency: str = "USD") -> str:
        """A payment from `name` to the payee, accepted and scored by score-fraud."""
        answer = self.client_of("payments").post(
            "/v1/payments",
            json={"to": self.id("payee"), "amount": amount, "currency": currency, "note": "a new sofa"},
            headers={**self.auth(name), **fresh_key()},
        )
        assert answer.status_code == 202, answer.get_data(as_text=True)
        payment_id = answer.get_json()["id"]
        self.deliver("score-fraud", payment_id, "payment.requested")
        return payment_id

    def deliver(self, function: str, subject: str, event_type: str) -> None:
        """Hand the stored event to `function` twice (binary, then structured): the same id."""
        with self.runtime.engine.connect() as conn:
            row = conn.execute(sa.select(events).where(events.c.subject == subject, events.c.type == event_type)).one()
        structured = cloud_event_of(row)
        data = structured.pop("data")
        client = self.client_of(function)
        for to_http in (to_binary, to_structured):
            headers, body = to_http(CloudEvent(structured, data))
            answer = client.post("/", headers=headers, data=body)
            assert answer.status_code == 200, (function, event_type, answer.get_data(as_text=True))

    def ping_the_sweeper(self) -> None:
        ping = CloudEvent(
            {
                "id": str(uuid.uuid4()),
                "type": "dev.knative.sources.ping",
                "source": "/apis/v1/namespaces/paystream/pingsources/sweep-sagas",
            },
            {},
        )
        headers, body = to_binary(ping)
        assert self.client_of("sweep-sagas").post("/", headers=headers, data=body).status_code == 200

    def decide(self, operator: str, payment_id: str, decision: str, reason: str | None = None):
        body = {} if reason is None else {"reason": reason}
        return self.admin.post(f"/v1/admin/reviews/{payment_id}/{decision}", json=body, headers=self.auth(operator))

    def payment(self, name: str, payment_id: str) -> dict[str, Any]:
        answer = self.client_of("payments").get(f"/v1/payments/{payment_id}", headers=self.auth(name))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()

    def wallet(self, name: str, currency: str = "USD") -> dict[str, Any]:
        answer = self.client_of("wallets").get("/v1/wallets", headers=self.auth(name))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return next(wallet for wallet in answer.get_json()["data"] if wallet["currency"] == currency)

    def events_of(self, subject: str) -> list[tuple[str, dict[str, Any]]]:
        with self.runtime.engine.connect() as conn:
            rows = conn.execute(
                sa.select(events.c.type, events.c.data)
                .where(events.c.subject == subject)
                .order_by(events.c.aggregate_sequence)
            ).all()
        return [(row.type, row.data) for row in rows]

    def admin_actions(self) -> list[dict[str, Any]]:
        with self.runtime.engine.connect() as conn:
            rows = conn.execute(
                sa.select(events.c.data).where(events.c.type == "admin.action_taken").order_by(events.c.occurred_at)
            ).scalars()
            return [data for data in rows if data["action"].startswith("review.")]

    def notified(self, name: str) -> list[tuple[str, str]]:
        user_id = self.id(name)
        with self.runtime.engine.connect() as conn:
            rows = list_notifications(conn, user_id, limit=20)
            return [(n["title"], n["body"]) for n in render_notifications(conn, rows, privacy=self.runtime.privacy)]

    def hold_placed_on(self, payment_id: str) -> int:
        """How many times the payer's funds were held for the payment (its `:debit` transfers)."""
        with self.runtime.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(transfers).where(transfers.c.id.like(f"{payment_id}:debit%"))
            ).scalar_one()


@pytest.fixture
def desk(client_of, runtime) -> Desk:
    return Desk(client_of, runtime)


def _held_in_the_past(desk: Desk, name: str, at: datetime) -> str:
    """A payment of `name` held for review at `at` (the saga's services, run with that clock)."""
    from schemas.api import PaymentRequest
    from shared.services.payments import create_payment

    payer_id, payee_id = desk.id(name), desk.id("payee")
    with desk.runtime.engine.begin() as conn:
        payment, _ = create_payment(
            conn,
            payer_id=payer_id,
            request=PaymentRequest(to=payee_id, amount=HELD_AMOUNT_MINOR, currency="USD"),
            context=EventContext(producer="payments", now=at, correlation_id=None),
        )
        score_payment(
            conn,
            payment.id,
            FraudAssessment(FraudDecision.REVIEW, 55, (ReasonCode.NEW_ACCOUNT_LARGE_AMOUNT,)),
            EventContext(producer="score-fraud", now=at, correlation_id=None),
            ledger=desk.runtime.ledger,
            hold_timeout_seconds=desk.runtime.settings.review_hold_timeout_seconds,
        )
    return payment.id


# --- holding -----------------------------------------------------------------------------------


def test_a_held_payment_reserves_its_amount_and_waits_in_the_queue(desk):
    # GIVEN a new payer with 10,000.00 USD
    desk.fund("payer", OPENING_BALANCE_MINOR)
    # WHEN they pay 2,500.00 USD, above what a new account may send unreviewed
    payment_id = desk.pay("payer", HELD_AMOUNT_MINOR)
    # THEN the payment is held, its amount reserved in the payer's wallet as pending
    assert desk.payment("payer", payment_id)["status"] == "held"
    assert desk.wallet("payer") == {
        "currency": "USD",
        "available": OPENING_BALANCE_MINOR - HELD_AMOUNT_MINOR,
        "pending": HELD_AMOUNT_MINOR,
    }
    # AND payment.held names the hold and the coarse reason
    [(_, held)] = [(t, data) for t, data in desk.events_of(payment_id) if t == "payment.held"]
    assert held["transfer_id"] == f"{payment_id}:debit" and held["review_reason"] == "new_account"
    assert "new_account_large_amount" in held["reasons"]
    # AND the payer sees the coarse reason, the payee nothing of the payer's review
    assert desk.payment("payer", payment_id)["review_reason"] == "new_account"
    assert desk.payment("payee", payment_id)["review_reason"] is None
    # AND the queue shows it to an auditor with the rules that fired and the payer's history
    queue = desk.admin.get("/v1/admin/reviews", headers=desk.auth("auditor"))
    assert queue.status_code == 200, queue.get_json()
    [review] = queue.get_json()["data"]
    assert review["payment_id"] == payment_id and review["status"] == "open"
    assert review["review_reason"] == "new_account" and "new_account_large_amount" in review["reasons"]
    assert 50 <= review["fraud_score"] <= 79
    assert review["decided_by"] is None and review["decided_at"] is None
    assert review["payment"] == {
        "id": payment_id,
        "amount": HELD_AMOUNT_MINOR,
        "currency": "USD",
        "payer_id": desk.id("payer"),
        "payer_email": "payer@example.com",
        "payee_id": desk.id("payee"),
        "payee_email": "payee@example.com",
        "note": "a new sofa",
        "created_at": review["payment"]["created_at"],
    }
    history = review["payer_history"]
    assert history["completed_payments"] == 0 and history["completed_volume_usd"] == 0
    assert history["previous_reviews"] == {"open": 0, "approved": 0, "declined": 0}
    assert 0 <= history["account_age_seconds"] < 3600
    # AND it reads the same on its own
    one = desk.admin.get(f"/v1/admin/reviews/{payment_id}", headers=desk.auth("support"))
    assert one.status_code == 200 and one.get_json() == review
    # AND the payer was told it is under review, and nothing of why
    desk.deliver("notify", payment_id, "payment.held")
    [(title, body)] = desk.notified("payer")
    assert title == "Payment under review" and "2500.00 USD to payee" in body
    assert "2000" not in body and "new account" not in body


def test_a_payer_who_cannot_cover_the_hold_fails_at_once_and_never_waits_in_review(desk):
    # GIVEN a new payer with 100.00 USD
    desk.fund("payer", 10_000)
    # WHEN they pay 2,500.00 USD, which would be held for review
    payment_id = desk.pay("payer", HELD_AMOUNT_MINOR)
    # THEN it fails for insufficient funds, with nothing held and no review opened
    payment = desk.payment("payer", payment_id)
    assert payment["status"] == "failed" and payment["failure_code"] == "insufficient_funds"
    assert [t for t, _ in desk.events_of(payment_id)] == ["payment.requested", "payment.failed"]
    assert desk.wallet("payer") == {"currency": "USD", "available": 10_000, "pending": 0}
    assert desk.admin.get("/v1/admin/reviews", headers=desk.auth("support")).get_json()["data"] == []
    assert desk.admin.get(f"/v1/admin/reviews/{payment_id}", headers=desk.auth("support")).status_code == 404


# --- approving ---------------------------------------------------------------------------------


def test_an_approved_payment_is_settled_from_its_hold_and_completed(desk):
    # GIVEN a held payment of 2,500.00 USD
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payment_id = desk.pay("payer", HELD_AMOUNT_MINOR)
    # WHEN support approves it
    approved = desk.decide("support", payment_id, "approve", "spoke to the payer")
    # THEN the review is approved by them and the payment pending again
    assert approved.status_code == 200, approved.get_json()
    review = approved.get_json()
    assert review["status"] == "approved" and review["decided_by"] == desk.id("support")
    assert review["decision_reason"] == "spoke to the payer" and review["decided_at"] is not None
    assert desk.payment("payer", payment_id)["status"] == "pending"
    # AND payment.released names the hold and the reviewer
    [(_, released)] = [(t, data) for t, data in desk.events_of(payment_id) if t == "payment.released"]
    assert released["transfer_id"] == f"{payment_id}:debit" and released["reviewer_id"] == desk.id("support")
    # AND the decision is in the audit trail with its actor
    [action] = desk.admin_actions()
    assert action["action"] == "review.approve" and action["actor_id"] == desk.id("support")
    assert action["target_id"] == payment_id and action["reason"] == "spoke to the payer"
    # WHEN settle and notify get payment.released (twice each)
    desk.deliver("settle", payment_id, "payment.released")
    desk.deliver("notify", payment_id, "payment.released")
    # THEN the hold was posted (never a second one) and the payee credited
    assert desk.payment("payer", payment_id)["status"] == "completed"
    assert desk.hold_placed_on(payment_id) == 1
    assert desk.wallet("payer") == {
        "currency": "USD",
        "available": OPENING_BALANCE_MINOR - HELD_AMOUNT_MINOR,
        "pending": 0,
    }
    assert desk.wallet("payee")["available"] == HELD_AMOUNT_MINOR
    assert ("Payment approved", "Your payment of 2500.00 USD to payee passed its review and is on its way.") in (
        desk.notified("payer")
    )
    # AND the history went held, pending, completed
    payer_id = desk.id("payer")
    with desk.runtime.engine.connect() as conn:
        status = conn.execute(
            sa.select(transactions.c.status).where(transactions.c.id == payment_id, transactions.c.user_id == payer_id)
        ).scalar_one()
    assert status == "completed"


def test_approving_again_answers_as_the_first_time_and_declining_then_is_a_conflict(desk):
    # GIVEN an approved payment
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payment_id = desk.pay("payer", HELD_AMOUNT_MINOR)
    first = desk.decide("support", payment_id, "approve")
    assert first.status_code == 200
    # WHEN it is approved again, by another operator
    again = desk.decide("admin", payment_id, "approve", "me too")
    # THEN the answer is the first one, and nothing happened twice
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert [t for t, _ in desk.events_of(payment_id)].count("payment.released") == 1
    assert len(desk.admin_actions()) == 1
    # AND declining it now is refused
    declined = desk.decide("support", payment_id, "decline", "changed my mind")
    assert declined.status_code == 409
    assert declined.get_json()["error"]["code"] == "review_already_decided"
    assert desk.payment("payer", payment_id)["status"] == "pending"


# --- declining ---------------------------------------------------------------------------------


def test_a_declined_payment_gives_the_payer_their_funds_back_exactly_once(desk):
    # GIVEN a held payment of 2,500.00 USD
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payment_id = desk.pay("payer", HELD_AMOUNT_MINOR)
    # WHEN the admin declines it, twice
    reason = "We could not confirm this payment with you"
    first = desk.decide("admin", payment_id, "decline", reason)
    again = desk.decide("admin", payment_id, "decline", reason)
    # THEN the answer is the same, and the payment is declined with the reviewer's reason
    assert first.status_code == again.status_code == 200, first.get_json()
    assert again.get_json() == first.get_json()
    review = first.get_json()
    assert review["status"] == "declined" and review["decided_by"] == desk.id("admin")
    assert review["decision_reason"] == reason
    payment = desk.payment("payer", payment_id)
    assert payment["status"] == "declined" and payment["failure_code"] == "review_declined"
    assert payment["failure_message"] == reason and payment["review_reason"] == "new_account"
    # AND the funds are back, once
    assert desk.wallet("payer") == {"currency": "USD", "available": OPENING_BALANCE_MINOR, "pending": 0}
    assert [t for t, _ in desk.events_of(payment_id)].count("payment.declined") == 1
    with desk.runtime.engine.connect() as conn:
        assert desk.runtime.ledger.totals_by_currency(conn)["USD"] == (0, 0)
    # AND the decision is audited once, with its actor and reason
    [action] = desk.admin_actions()
    assert (action["action"], action["actor_id"], action["reason"]) == ("review.decline", desk.id("admin"), reason)
    # AND the payer is told, with the reason and their money back
    desk.deliver("notify", payment_id, "payment.declined")
    [(title, body)] = [n for n in desk.notified("payer") if n[0] == "Payment declined"]
    assert reason in body and "available in your wallet again" in body
    # AND approving it now is refused
    approved = desk.decide("support", payment_id, "approve")
    assert approved.status_code == 409 and approved.get_json()["error"]["code"] == "review_already_decided"


def test_a_decline_needs_a_reason_and_unknown_payments_are_404(desk):
    desk.fund("payer", OPENING_BALANCE_MINOR)
    held = desk.pay("payer", HELD_AMOUNT_MINOR)
    never_held = desk.pay("payer", 1_000)
    no_reason = desk.decide("support", held, "decline")
    assert no_reason.status_code == 400 and no_reason.get_json()["error"]["param"] == "reason"
    for payment_id in ("pay_nobody", never_held):
        for decision in ("approve", "decline"):
            answer = desk.decide("support", payment_id, decision, "why")
            assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "review_not_found"
        assert desk.admin.get(f"/v1/admin/reviews/{payment_id}", headers=desk.auth("auditor")).status_code == 404
    # An auditor reads the queue but never decides.
    assert desk.decide("auditor", held, "approve").status_code == 403
    assert desk.payment("payer", held)["status"] == "held"


# --- the queue ---------------------------------------------------------------------------------


def test_the_queue_pages_oldest_first_and_filters_by_status_currency_and_score(desk):
    # GIVEN three held payments: two in USD (the second scored higher), one in EUR
    desk.fund("payer", OPENING_BALANCE_MINOR)
    desk.fund("other_payer", OPENING_BALANCE_MINOR, "EUR")
    first = desk.pay("payer", HELD_AMOUNT_MINOR)
    second = desk.pay("payer", 2 * HELD_AMOUNT_MINOR)
    euro = desk.pay("other_payer", HELD_AMOUNT_MINOR, "EUR")
    headers = desk.auth("support")

    def page(query: str) -> tuple[list[str], bool]:
        answer = desk.admin.get(f"/v1/admin/reviews{query}", headers=headers)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        return [review["payment_id"] for review in body["data"]], body["has_more"]

    # THEN they are listed oldest first, a page at a time
    assert page("") == ([first, second, euro], False)
    assert page("?limit=2") == ([first, second], True)
    assert page(f"?limit=2&starting_after={second}") == ([euro], False)
    # AND filtered by currency and by score
    assert page("?currency=EUR") == ([euro], False)
    scores = {
        review["payment_id"]: review["fraud_score"]
        for review in desk.admin.get("/v1/admin/reviews", headers=headers).get_json()["data"]
    }
    assert scores[second] > scores[first]
    assert page(f"?currency=USD&min_score={scores[second]}") == ([second], False)
    # WHEN one is approved and one declined
    assert desk.decide("support", first, "approve").status_code == 200
    assert desk.decide("support", euro, "decline", "not verified").status_code == 200
    # THEN the open queue holds the rest, and each decided one is listed under its status
    assert page("") == ([second], False)
    assert page("?status=approved") == ([first], False)
    assert page("?status=declined") == ([euro], False)
    # AND a bad filter or cursor is a 400
    for query in ("?status=maybe", "?min_score=101", "?currency=usd", "?limit=0", "?starting_after=pay_nobody"):
        assert desk.admin.get(f"/v1/admin/reviews{query}", headers=headers).status_code == 400, query


def test_the_payer_history_counts_completed_payments_in_usd_and_earlier_reviews(desk):
    # GIVEN a payer who completed a payment of 10.00 USD and one of 20.00 EUR, then had a
    # payment declined after review
    desk.fund("payer", OPENING_BALANCE_MINOR)
    desk.fund("payer", OPENING_BALANCE_MINOR, "EUR")
    for amount, currency in ((1_000, "USD"), (2_000, "EUR")):
        small = desk.pay("payer", amount, currency)
        desk.deliver("debit-wallet", small, "payment.approved")
        desk.deliver("settle", small, "payment.debited")
        assert desk.payment("payer", small)["status"] == "completed"
    declined = desk.pay("payer", HELD_AMOUNT_MINOR)
    assert desk.decide("support", declined, "decline", "no").status_code == 200
    # WHEN another payment of theirs is held, and approved and completed
    held = desk.pay("payer", HELD_AMOUNT_MINOR)
    before = desk.admin.get(f"/v1/admin/reviews/{held}", headers=desk.auth("support")).get_json()
    assert desk.decide("support", held, "approve").status_code == 200
    desk.deliver("settle", held, "payment.released")
    after = desk.admin.get(f"/v1/admin/reviews/{held}", headers=desk.auth("support")).get_json()
    # THEN its review counts the two completed payments, in USD at the reference rates
    history = before["payer_history"]
    assert history["completed_payments"] == 2
    rates = desk.runtime.fx_rates.current()
    from shared.domain.fx import reference_minor

    assert history["completed_volume_usd"] == 1_000 + reference_minor(2_000, "EUR", rates)
    assert history["completed_volume_usd"] > 1_000 + 2_000  # a euro is worth more than a dollar
    # AND the earlier review, declined
    assert history["previous_reviews"] == {"open": 0, "approved": 0, "declined": 1}
    # AND the payment under review is never its own history, even once completed
    assert after["payer_history"] == history


# --- the sweeper -------------------------------------------------------------------------------


def test_a_review_left_open_too_long_is_declined_and_the_payer_told(desk):
    # GIVEN a payment held 73 hours ago and one held just now
    desk.fund("payer", OPENING_BALANCE_MINOR)
    late = _held_in_the_past(desk, "payer", datetime.now(UTC) - LATE)
    recent = desk.pay("payer", HELD_AMOUNT_MINOR)
    assert desk.wallet("payer")["pending"] == 2 * HELD_AMOUNT_MINOR
    # WHEN sweep-sagas runs, twice
    desk.ping_the_sweeper()
    desk.ping_the_sweeper()
    # THEN the late one is declined as expired, its hold voided, and the recent one still waits
    payment = desk.payment("payer", late)
    assert payment["status"] == "declined" and payment["failure_code"] == "review_expired"
    assert desk.payment("payer", recent)["status"] == "held"
    assert desk.wallet("payer") == {
        "currency": "USD",
        "available": OPENING_BALANCE_MINOR - HELD_AMOUNT_MINOR,
        "pending": HELD_AMOUNT_MINOR,
    }
    review = desk.admin.get(f"/v1/admin/reviews/{late}", headers=desk.auth("support")).get_json()
    assert review["status"] == "declined" and review["decided_by"] is None
    assert [t for t, _ in desk.events_of(late)].count("payment.declined") == 1
    assert desk.admin_actions() == []  # no operator decided it
    # AND the payer is told
    desk.deliver("notify", late, "payment.declined")
    [(_, body)] = [n for n in desk.notified("payer") if n[0] == "Payment declined"]
    assert "could not be reviewed in time" in body and "available in your wallet again" in body
    # AND a reviewer who comes too late is told it was decided
    assert desk.decide("support", late, "approve").status_code == 409


def test_approval_releases_the_hold_placed_at_review_not_a_new_one(desk, runtime):
    # GIVEN an approved payment
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payment_id = desk.pay("payer", HELD_AMOUNT_MINOR)
    assert desk.decide("support", payment_id, "approve").status_code == 200
    # WHEN debit-wallet were handed an approval for it anyway (a stray event)
    with runtime.engine.connect() as conn:
        row = conn.execute(sa.select(payments).where(payments.c.id == payment_id)).one()
    stray = CloudEvent(
        {
            "id": str(uuid.uuid4()),
            "type": "com.paystream.payment.approved",
            "source": "/paystream/score-fraud",
            "subject": payment_id,
            "datacontenttype": "application/json",
        },
        {
            "payment_id": payment_id,
            "payer_id": row.payer_id,
            "payee_id": row.payee_id,
            "amount_minor": row.amount_minor,
            "currency": "USD",
            "fraud_score": 10,
            "reasons": [],
        },
    )
    headers, body = to_binary(stray)
    assert desk.client_of("debit-wallet").post("/", headers=headers, data=body).status_code == 200
    # THEN nothing more is held and the payment is not failed
    assert desk.hold_placed_on(payment_id) == 1
    assert desk.wallet("payer")["pending"] == HELD_AMOUNT_MINOR
    desk.deliver("settle", payment_id, "payment.released")
    assert desk.payment("payer", payment_id)["status"] == "completed"
    with runtime.engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(payment_reviews.c.status).where(payment_reviews.c.payment_id == payment_id)
            ).scalar_one()
            == "approved"
        )
