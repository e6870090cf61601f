"""Notifications: what each event tells whom, kept in the in-app list and sent by email.

The wording lives here, beside the event types it describes. A notification is unique per user
and event, so a redelivered event notifies nobody twice in the app; email is sent at least once.

A stored notification never holds another person's name: it names its counterparty by id
(`counterparty_id`) and keeps `COUNTERPARTY` where the name goes, which is filled in when it is
read (`render_notifications`), with "a deleted user" once that person is erased. Notifications
stored before that rule are sealed under their recipient's personal key instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.aws import Notification, Notifier
from shared.adapters.tables import notifications
from shared.domain.kyc import DocumentType
from shared.domain.money import Money
from shared.domain.payment import FailureCode
from shared.ids import new_id
from shared.privacy import PersonalDataVault, is_sealed
from shared.services.people import Person, named, people

__all__ = [
    "COUNTERPARTY",
    "Message",
    "list_notifications",
    "messages_for",
    "notify",
    "people_of",
    "render_notifications",
]

# Where a stored notification's text names its counterparty: a character of Unicode's private
# use area, which no wording here uses.
COUNTERPARTY = "\ue000"


@dataclass(frozen=True)
class Message:
    user_id: str
    kind: str
    title: str
    body: str


# The payload fields that name the people an event concerns.
_PARTY_FIELDS = ("user_id", "payer_id", "payee_id", "requester_id")

# Who a user id names when no open account has it.
_ERASED = Person("", "", None)

# Built once: every notified event stores its notifications.
_INSERT_NOTIFICATION = notifications.insert()


def _parties(payload: Any) -> list[str]:
    return sorted({user_id for field in _PARTY_FIELDS if (user_id := getattr(payload, field, None)) is not None})


def people_of(conn: Connection, payload: Any, *, privacy: PersonalDataVault) -> dict[str, Person]:
    """The people `payload` names, by user id, their names opened."""
    return people(conn, _parties(payload), privacy=privacy)


def _placeholders(payload: Any) -> dict[str, Person]:
    """Every party named by the placeholder: what the stored text keeps."""
    return {user_id: Person(user_id, COUNTERPARTY, None) for user_id in _parties(payload)}


def _counterparty_of(payload: Any, user_id: str) -> str | None:
    """The other party of a two-party event, as seen by `user_id`; None for a one-party event."""
    others = [party for party in _parties(payload) if party != user_id]
    return others[0] if len(others) == 1 else None


def messages_for(event_type: str, payload: Any, people: Mapping[str, Person]) -> list[Message]:
    """The messages an event causes, one per user it concerns; `people` names them (people_of)."""
    if event_type == "user.signed_up":
        return [Message(payload.user_id, event_type, "Welcome to Paystream", "Your account is ready.")]
    if event_type.startswith("conversion."):
        return _conversion_messages(event_type, payload)
    if event_type.startswith("kyc."):
        return _kyc_messages(event_type, payload)
    amount = Money(payload.amount_minor, payload.currency).format()
    if event_type == "withdrawal.succeeded":
        return [
            Message(payload.user_id, event_type, "Withdrawal sent", f"{amount} is on its way to your bank account.")
        ]
    if event_type == "withdrawal.failed":
        return [
            Message(
                payload.user_id,
                event_type,
                "Withdrawal failed",
                f"Your withdrawal of {amount} failed: {payload.failure_message}.",
            )
        ]
    if event_type == "topup.succeeded":
        return [Message(payload.user_id, event_type, "Money added", f"You added {amount} to your wallet.")]
    if event_type == "topup.declined":
        return [
            Message(
                payload.user_id,
                event_type,
                "Top-up declined",
                f"Your top-up of {amount} was declined by your card issuer.",
            )
        ]
    if event_type.startswith("payment_request."):
        return _request_messages(event_type, payload, amount, people)
    payer, payee = people[payload.payer_id].full_name, people[payload.payee_id].full_name
    if event_type == "refund.completed":
        return [
            Message(payload.payer_id, event_type, "Refund received", f"{payee} refunded you {amount}."),
            Message(payload.payee_id, event_type, "Refund sent", f"You refunded {amount} to {payer}."),
        ]
    if event_type == "refund.failed":
        return [
            Message(
                payload.payee_id,
                event_type,
                "Refund failed",
                f"Your refund of {amount} to {payer} failed: {payload.failure_message}.",
            )
        ]
    if event_type == "payment.completed":
        return [
            Message(payload.payer_id, event_type, "Payment sent", f"You sent {amount} to {payee}."),
            Message(payload.payee_id, event_type, "Payment received", f"You received {amount} from {payer}."),
        ]
    if event_type == "payment.failed":
        return [
            Message(
                payload.payer_id,
                event_type,
                "Payment failed",
                f"Your payment of {amount} to {payee} failed: {payload.failure_message}.",
            )
        ]
    if event_type == "payment.declined":
        return [Message(payload.payer_id, event_type, "Payment declined", _declined_text(payload, amount, payee))]
    if event_type == "payment.held":
        # The payer is told that it is reviewed, never why in detail: no rule, no threshold.
        return [
            Message(
                payload.payer_id,
                event_type,
                "Payment under review",
                f"Your payment of {amount} to {payee} is being reviewed before it goes through. The amount is "
                "set aside in your wallet meanwhile; we will let you know as soon as it is decided.",
            )
        ]
    if event_type == "payment.released":
        # The payee hears of it when the money arrives (payment.completed).
        return [
            Message(
                payload.payer_id,
                event_type,
                "Payment approved",
                f"Your payment of {amount} to {payee} passed its review and is on its way.",
            )
        ]
    raise ValueError(f"no notification is defined for {event_type}")


def _declined_text(payload: Any, amount: str, payee: str) -> str:
    """What the payer reads of a decline: after a review, that the amount set aside for it is
    back, and the reviewer's reason (written for the payer) or that the review ran out of time."""
    if payload.failure_code == FailureCode.REVIEW_DECLINED.value:
        reason = f": {payload.failure_message.rstrip('.')}" if payload.failure_message else ""
        return (
            f"Your payment of {amount} to {payee} was declined after review{reason}. "
            "The amount set aside for it is available in your wallet again."
        )
    if payload.failure_code == FailureCode.REVIEW_EXPIRED.value:
        return (
            f"Your payment of {amount} to {payee} could not be reviewed in time and was cancelled. "
            "The amount set aside for it is available in your wallet again."
        )
    if payload.failure_code == FailureCode.LIMIT_EXCEEDED.value and payload.failure_message:
        # The message starts with the limit's name for clients ("sent_30d: over the ..."); people
        # read the rest.
        over = payload.failure_message.split(": ", 1)[-1]
        return (
            f"Your payment of {amount} to {payee} was declined: it is {over}. "
            "Completing your identity check raises your limits."
        )
    if payload.failure_code == FailureCode.ACCOUNT_FROZEN.value:
        return f"Your payment of {amount} to {payee} was declined: an account of the payment is frozen."
    return f"Your payment of {amount} to {payee} was declined."


def _conversion_messages(event_type: str, payload: Any) -> list[Message]:
    sent = Money(payload.amount_minor, payload.from_currency).format()
    if event_type == "conversion.completed":
        received = Money(payload.receive_minor, payload.to_currency).format()
        return [Message(payload.user_id, event_type, "Money converted", f"You converted {sent} to {received}.")]
    return [
        Message(
            payload.user_id,
            event_type,
            "Conversion failed",
            f"Your conversion of {sent} to {payload.to_currency} failed: your available "
            f"{payload.from_currency} balance is too low. Nothing was converted.",
        )
    ]


def _kyc_messages(event_type: str, payload: Any) -> list[Message]:
    document = DocumentType(payload.document_type).label
    if event_type == "kyc.verified":
        return [
            Message(
                payload.user_id,
                event_type,
                "Identity verified",
                f"Your {document} was accepted: your identity is verified.",
            )
        ]
    if event_type == "kyc.rejected":
        return [
            Message(
                payload.user_id,
                event_type,
                "Identity document not accepted",
                f"We could not verify your identity with your {document}. You can upload another document.",
            )
        ]
    if event_type == "kyc.review":
        return [
            Message(
                payload.user_id,
                event_type,
                "Identity document under review",
                f"Your {document} is being reviewed by our team; we will let you know.",
            )
        ]
    raise ValueError(f"no notification is defined for {event_type}")


def _request_messages(event_type: str, payload: Any, amount: str, people: Mapping[str, Person]) -> list[Message]:
    requester, payer = people[payload.requester_id].full_name, people[payload.payer_id].full_name
    if event_type == "payment_request.created":
        note = f": {payload.note}" if payload.note else ""
        return [Message(payload.payer_id, event_type, "Money requested", f"{requester} asked you for {amount}{note}.")]
    if event_type == "payment_request.paid":
        return [Message(payload.requester_id, event_type, "Request paid", f"{payer} paid your request for {amount}.")]
    if event_type == "payment_request.reopened":
        return [
            Message(
                payload.requester_id,
                event_type,
                "Request still open",
                f"{payer}'s payment of {amount} for your request did not go through; the request is open again.",
            )
        ]
    if event_type == "payment_request.declined":
        return [
            Message(
                payload.requester_id, event_type, "Request declined", f"{payer} declined your request for {amount}."
            )
        ]
    if event_type == "payment_request.cancelled":
        return [
            Message(
                payload.payer_id, event_type, "Request cancelled", f"{requester} cancelled their request for {amount}."
            )
        ]
    if event_type == "payment_request.expired":
        return [
            Message(
                payload.requester_id,
                event_type,
                "Request expired",
                f"Your request to {payer} for {amount} expired unanswered.",
            ),
            Message(payload.payer_id, event_type, "Request expired", f"{requester}'s request for {amount} expired."),
        ]
    raise ValueError(f"no notification is defined for {event_type}")


def notify(
    conn: Connection,
    *,
    event_id: str,
    event_type: str,
    payload: Any,
    notifier: Notifier,
    privacy: PersonalDataVault,
    now: datetime,
) -> int:
    """Store the event's notifications (counterparties by id) and email them (names and
    addresses opened); returns how many were created."""
    named_people = people_of(conn, payload, privacy=privacy)
    # An erased person is told nothing more: an event still in flight when they left names them.
    messages = [
        message
        for message in messages_for(event_type, payload, _placeholders(payload))
        if not named_people.get(message.user_id, _ERASED).erased
    ]
    if not messages:
        return 0
    conn.execute(
        _INSERT_NOTIFICATION,
        [
            {
                "id": new_id("ntf"),
                "user_id": message.user_id,
                "event_id": event_id,
                "kind": message.kind,
                "title": message.title,
                "body": message.body,
                "counterparty_id": _counterparty_of(payload, message.user_id),
                "created_at": now,
            }
            for message in messages
        ],
    )
    emails = []
    for message in messages:
        address = named_people[message.user_id].email
        name = named(named_people, _counterparty_of(payload, message.user_id))
        text = message.body.replace(COUNTERPARTY, name)
        emails.append(
            Notification(
                message.title,
                json.dumps({"to": address, "subject": message.title, "text": text}),
                {"event_id": event_id, "kind": message.kind},
            )
        )
    notifier.publish_all("email", emails)
    return len(messages)


def render_notifications(conn: Connection, rows: Sequence[Any], *, privacy: PersonalDataVault) -> list[dict[str, Any]]:
    """Stored notifications as their recipient reads them: the counterparty's name filled in
    (or "a deleted user"), sealed texts opened, and `read`."""
    counterparties = people(conn, (row.counterparty_id for row in rows if row.counterparty_id), privacy=privacy)
    rendered = []
    for row in rows:
        title, body = row.title, row.body
        if is_sealed(body):
            title = privacy.open(conn, row.user_id, "notifications.title", title) or ""
            body = privacy.open(conn, row.user_id, "notifications.body", body) or ""
        name = named(counterparties, row.counterparty_id)
        rendered.append(
            {
                **row._mapping,
                "title": title.replace(COUNTERPARTY, name),
                "body": body.replace(COUNTERPARTY, name),
                "read": row.read_at is not None,
            }
        )
    return rendered


def list_notifications(conn: Connection, user_id: str, *, limit: int) -> Sequence[Any]:
    return conn.execute(
        sa.select(notifications)
        .where(notifications.c.user_id == user_id)
        .order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
        .limit(limit)
    ).all()
