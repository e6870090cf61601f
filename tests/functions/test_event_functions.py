"""The saga's CloudEvents functions through their functions-framework binding, binary and
structured mode, with redelivery and poison events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from schemas.cloudevent import wire_type
from shared.adapters.tables import events, notifications, payments
from tests.fixtures.ledger import fund


def _cloud_event(event_type: str, data: dict, subject: str = "pay_x") -> CloudEvent:
    """A CloudEvent of `event_type` (its short name) as the bus carries it: prefixed."""
    return CloudEvent(
        {
            "id": str(uuid.uuid4()),
            "type": wire_type(event_type),
            "source": "/paystream/payments",
            "subject": subject,
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
        },
        data,
    )


def _post(client, event: CloudEvent, mode: str):
    headers, body = (to_binary if mode == "binary" else to_structured)(event)
    return client.post("/", headers=headers, data=body)


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_score_fraud_approves_once_even_when_the_event_is_delivered_twice(client_of, runtime, requested_payment, mode):
    # GIVEN a requested payment and its event
    payment = requested_payment
    event = _cloud_event(
        "payment.requested",
        {
            "payment_id": payment.id,
            "payer_id": payment.payer_id,
            "payee_id": payment.payee_id,
            "amount_minor": 700,
            "currency": "USD",
            "note": "",
        },
        subject=payment.id,
    )
    score_fraud = client_of("score-fraud")
    # WHEN it is delivered twice
    assert _post(score_fraud, event, mode).status_code == 200
    assert _post(score_fraud, event, mode).status_code == 200
    # THEN the payment was scored once
    with runtime.engine.connect() as conn:
        types = (
            conn.execute(
                sa.select(events.c.type).where(events.c.subject == payment.id).order_by(events.c.aggregate_sequence)
            )
            .scalars()
            .all()
        )
        row = conn.execute(sa.select(payments).where(payments.c.id == payment.id)).one()
    assert types == ["payment.requested", "payment.approved"]
    assert row.status == "pending" and row.fraud_score is not None


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_an_event_failing_its_schema_is_refused_as_unprocessable(client_of, mode):
    event = _cloud_event("payment.requested", {"payment_id": "pay_1", "amount_minor": 1.5})
    assert _post(client_of("score-fraud"), event, mode).status_code == 422


def test_an_event_of_a_type_the_function_does_not_handle_is_refused(client_of):
    event = _cloud_event("payment.completed", {"payment_id": "pay_1"})
    assert _post(client_of("debit-wallet"), event, "binary").status_code == 422


def test_the_audit_function_appends_each_event_once(client_of, runtime):
    event = _cloud_event("user.signed_up", {"user_id": "usr_audit", "country": "US"}, subject="usr_audit")
    audit = client_of("audit")
    before = runtime.audit_chain.verify().length
    assert _post(audit, event, "binary").status_code == 200
    assert _post(audit, event, "structured").status_code == 200
    verification = runtime.audit_chain.verify()
    assert verification.ok and verification.length == before + 1


def test_the_relay_accepts_only_the_schedule_ping(client_of):
    relay = client_of("relay-outbox")
    ping = CloudEvent(
        {
            "id": str(uuid.uuid4()),
            "type": "dev.knative.sources.ping",
            "source": "/apis/v1/namespaces/paystream/pingsources/relay-outbox",
        },
        {},
    )
    assert _post(relay, ping, "binary").status_code == 200
    assert _post(relay, _cloud_event("payment.requested", {}), "binary").status_code == 422


def _next_event(runtime, subject: str, event_type: str) -> CloudEvent:
    """The stored event of `subject` with `type`, as the CloudEvent the bus would carry."""
    from shared.adapters.outbox import cloud_event_of

    with runtime.engine.connect() as conn:
        row = conn.execute(sa.select(events).where(events.c.subject == subject, events.c.type == event_type)).one()
    structured = cloud_event_of(row)
    data = structured.pop("data")
    return CloudEvent(structured, data)


def _fund(runtime, user_id: str, amount_minor: int) -> None:
    now = datetime.now(UTC)
    with runtime.engine.begin() as conn:
        fund(conn, runtime.ledger, user_id, amount_minor, now)


def _balances(runtime, *user_ids: str) -> list[int]:
    with runtime.engine.connect() as conn:
        return [runtime.ledger.wallets_of(conn, user_id)[0].available for user_id in user_ids]


def test_the_saga_moves_a_payment_to_completed_through_each_function_binding(client_of, runtime, requested_payment):
    # GIVEN a requested payment of 7.00 whose payer holds 10.00
    payment = requested_payment
    _fund(runtime, payment.payer_id, 1_000)
    # WHEN each step's event is handed to the next function, alternating binary and structured
    steps = [
        ("score-fraud", "payment.requested", "binary"),
        ("debit-wallet", "payment.approved", "structured"),
        ("settle", "payment.debited", "binary"),
        ("notify", "payment.completed", "structured"),
    ]
    for function, event_type, mode in steps:
        answer = _post(client_of(function), _next_event(runtime, payment.id, event_type), mode)
        assert answer.status_code == 200, (function, answer.get_data(as_text=True))
    # THEN the payment is completed, the money moved once, and both people were told
    with runtime.engine.connect() as conn:
        row = conn.execute(sa.select(payments).where(payments.c.id == payment.id)).one()
        assert runtime.ledger.totals_by_currency(conn)["USD"] == (0, 0)
    assert row.status == "completed"
    assert _balances(runtime, payment.payer_id, payment.payee_id) == [300, 700]
    # AND a second delivery of every event changes nothing
    for function, event_type, mode in steps:
        assert _post(client_of(function), _next_event(runtime, payment.id, event_type), mode).status_code == 200
    assert _balances(runtime, payment.payer_id, payment.payee_id) == [300, 700]
    from shared.services.notifications import list_notifications

    with runtime.engine.connect() as conn:
        assert [n.title for n in list_notifications(conn, payment.payee_id, limit=10)][0] == "Payment received"


def test_an_overdraft_fails_the_payment_and_releases_nothing(client_of, runtime, requested_payment):
    payment = requested_payment  # 7.00, and the payer holds nothing
    assert (
        _post(client_of("score-fraud"), _next_event(runtime, payment.id, "payment.requested"), "binary").status_code
        == 200
    )
    assert (
        _post(client_of("debit-wallet"), _next_event(runtime, payment.id, "payment.approved"), "binary").status_code
        == 200
    )
    with runtime.engine.connect() as conn:
        row = conn.execute(sa.select(payments).where(payments.c.id == payment.id)).one()
    assert (row.status, row.failure_code) == ("failed", "insufficient_funds")
    assert _balances(runtime, payment.payer_id) == [0]


def _as_integration_source_delivers(inner: CloudEvent) -> CloudEvent:
    """The CloudEvent Knative's IntegrationSource makes of the SQS message EventBridge wrote."""
    from cloudevents.conversion import to_dict

    envelope = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": inner["type"],
        "source": "paystream.payments",
        "account": "123456789012",
        "time": "2026-11-22T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": to_dict(inner),
    }
    return CloudEvent(
        {
            "id": "9CC70D09569020C-0000000000000001",
            "type": "dev.knative.connector.event.aws-sqs",
            "source": "dev.knative.eventing.aws-sqs-source",
            "subject": "aws-sqs-source",
            "datacontenttype": "application/json",
        },
        envelope,
    )


def test_an_event_delivered_by_knatives_integration_source_is_unwrapped(client_of, runtime, requested_payment):
    payment = requested_payment
    wrapped = _as_integration_source_delivers(_next_event(runtime, payment.id, "payment.requested"))
    assert _post(client_of("score-fraud"), wrapped, "binary").status_code == 200
    assert _post(client_of("audit"), wrapped, "structured").status_code == 200
    with runtime.engine.connect() as conn:
        row = conn.execute(sa.select(payments).where(payments.c.id == payment.id)).one()
    assert row.fraud_score is not None


def test_notify_tells_of_the_event_an_integration_source_delivers_not_of_its_wrapper(
    client_of, runtime, requested_payment
):
    # GIVEN a payment taken to completed through the saga's functions
    payment = requested_payment
    _fund(runtime, payment.payer_id, 1_000)
    for function, event_type in (
        ("score-fraud", "payment.requested"),
        ("debit-wallet", "payment.approved"),
        ("settle", "payment.debited"),
    ):
        assert _post(client_of(function), _next_event(runtime, payment.id, event_type), "binary").status_code == 200
    completed = _next_event(runtime, payment.id, "payment.completed")
    # WHEN Knative's IntegrationSource delivers payment.completed to notify
    wrapped = _as_integration_source_delivers(completed)
    assert _post(client_of("notify"), wrapped, "binary").status_code == 200
    # THEN the payee is told, and the notification names the delivered event, not Knative's
    with runtime.engine.connect() as conn:
        told = conn.execute(
            sa.select(notifications.c.event_id, notifications.c.title).where(
                notifications.c.user_id == payment.payee_id
            )
        ).all()
    assert [tuple(row) for row in told] == [(completed["id"], "Payment received")]


def test_an_event_without_its_wire_prefix_is_refused_with_the_reason(client_of, runtime, requested_payment):
    # GIVEN a real payment.requested whose type lost its prefix (as code, not the wire, names it)
    event = _next_event(runtime, requested_payment.id, "payment.requested")
    event["type"] = "payment.requested"
    # WHEN it is delivered, THEN it is refused for the dead-letter queue, saying what was expected
    answer = _post(client_of("score-fraud"), event, "binary")
    assert answer.status_code == 422
    assert "lacks its wire prefix" in answer.get_data(as_text=True)
    assert "com.paystream.payment.requested" in answer.get_data(as_text=True)
    with runtime.engine.connect() as conn:
        assert (
            conn.execute(sa.select(payments.c.fraud_score).where(payments.c.id == requested_payment.id)).scalar_one()
            is None
        )


def test_an_integration_source_event_without_an_envelope_is_refused(client_of):
    bad = CloudEvent(
        {"id": "1", "type": "dev.knative.connector.event.aws-sqs", "source": "dev.knative.eventing.aws-sqs-source"},
        {"not": "an envelope"},
    )
    assert _post(client_of("settle"), bad, "binary").status_code == 422


def test_score_fraud_holds_the_payment_when_redis_is_down(client_of, runtime, requested_payment, monkeypatch):
    # GIVEN a platform whose cache answers nothing (a port where no Redis listens)
    from shared.bootstrap import platform, reset_platform
    from shared.runner.local import free_port

    monkeypatch.setenv("PAYSTREAM_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    reset_platform()
    down = platform()
    payment = requested_payment
    _fund(down, payment.payer_id, 1_000)
    # WHEN the payment is scored
    assert (
        _post(client_of("score-fraud"), _next_event(down, payment.id, "payment.requested"), "binary").status_code == 200
    )
    # THEN it is held for review with the reason, not approved
    with down.engine.connect() as conn:
        row = conn.execute(sa.select(payments).where(payments.c.id == payment.id)).one()
        held: dict[str, Any] = conn.execute(
            sa.select(events.c.data).where(events.c.subject == payment.id, events.c.type == "payment.held")
        ).scalar_one()
    assert row.status == "held"
    # (the new payer's weak signals are listed after it, and hold nothing on their own)
    assert held["reasons"][0] == "velocity_unknown" and held["review_reason"] == "routine_check"
    assert held["transfer_id"] == f"{payment.id}:debit"
