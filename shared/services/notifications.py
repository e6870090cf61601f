"""Notifications: what each event tells whom, kept in the in-app list and sent by email.

The wording lives here, beside the event types it describes. A notification is unique per user
and event, so a redelivered event notifies nobody twice in the app; email is sent at least once.
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
from shared.adapters.tables import notifications, users
from shared.domain.kyc import DocumentType
from shared.domain.money import Money
from shared.domain.payment import FailureCode
from shared.ids import new_id

__all__ = ["Message", "Person", "messages_for", "notify", "list_notifications", "people_of"]


@dataclass(frozen=True)
class Message:
    user_id: str
    kind: str
    title: str
    body: str


# The payload fields that name the people an event concerns.
_PARTY_FIELDS = ("user_id", "payer_id", "payee_id", "requester_id")

# Built once: every notified event reads its people and stores their notifications.
_PEOPLE = sa.select(users.c.id, users.c.full_name, users.c.email).where(
    users.c.id.in_(sa.bindparam("user_ids", expanding=True))
)
_INSERT_NOTIFICATION = notifications.insert()


@dataclass(frozen=True)
class Person:
    full_name: str
    email: str


def people_of(conn: Connection, payload: Any) -> dict[str, Person]:
    """The people `payload` names, by user id, read in one query."""
    user_ids = sorted({user_id for field in _PARTY_FIELDS if (user_id := getattr(payload, field, None)) is not None})
    rows = conn.execute(_PEOPLE, {"user_ids": user_ids})
    return {row.id: Person(row.full_name, row.email) for row in rows}


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


def notify(conn: Connection, *, event_id: str, event_type: str, payload: Any, notifier: Notifier, now: datetime) -> int:
    """Store the event's notifications and email them; returns how many were created."""
    people = people_of(conn, payload)
    messages = messages_for(event_type, payload, people)
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
                "created_at": now,
            }
            for message in messages
        ],
    )
    notifier.publish_all(
        "email",
        [
            Notification(
                message.title,
                json.dumps({"to": people[message.user_id].email, "subject": message.title, "text": message.body}),
                {"event_id": event_id, "kind": message.kind},
            )
            for message in messages
        ],
    )
    return len(messages)


def list_notifications(conn: Connection, user_id: str, *, limit: int) -> Sequence[Any]:
    return conn.execute(
        sa.select(notifications)
        .where(notifications.c.user_id == user_id)
        .order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
        .limit(limit)
    ).all()
