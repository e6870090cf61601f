"""The event catalogue: every Paystream event type, who produces it, who consumes it.

This is the reference a reader (and a test) consults to know what an event means and where it
goes. Function names are the hyphenated names of ``functions/<name>``, which are also the names of
their Knative Services and queues. Each type has one real sample CloudEvent under
``events/samples/<type>.json`` and a payload model in :mod:`schemas.events`.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from schemas.events import EVENT_PAYLOADS, EventPayload

__all__ = [
    "SAMPLES_DIR",
    "EventTypeInfo",
    "CATALOGUE",
    "EVENT_TYPES",
    "consumers_of",
    "event_types_consumed_by",
    "event_types_produced_by",
    "render_table",
]

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


@dataclass(frozen=True)
class EventTypeInfo:
    """One event type: its route through the system and its documentation."""

    type: str
    # More than one function may state the same fact: `payment.failed` comes from debit-wallet
    # (insufficient funds) and from settle (the credit could not be posted and was voided).
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    # builtins.type: inside this class `type` is the field above.
    payload_model: builtins.type[EventPayload]
    description: str
    sample_path: Path


def _info(event_type: str, producers: tuple[str, ...], consumers: tuple[str, ...], description: str) -> EventTypeInfo:
    # Every type is audited: the audit trail is a hash chain over *all* events, so `audit` is
    # added here once instead of being repeated (and possibly forgotten) on each line below.
    return EventTypeInfo(
        type=event_type,
        producers=producers,
        consumers=(*consumers, "audit"),
        payload_model=EVENT_PAYLOADS[event_type],
        description=description,
        sample_path=SAMPLES_DIR / f"{event_type}.json",
    )


_ENTRIES = (
    _info(
        "user.signed_up",
        ("users",),
        ("notify",),
        "A person signed up with `POST /v1/users`; the welcome notification follows.",
    ),
    _info(
        "sanctions.matched",
        ("users", "accounts"),
        (),
        "Screening at sign-up (`users`) or at `POST /v1/kyc` (`accounts`) matched the user's name "
        "or country against the sanctions list; the match is recorded on the user, where support "
        "sees it, and every payment to or from them is held with `sanctions_match`.",
    ),
    _info(
        "funding_source.added",
        ("accounts",),
        (),
        "A user linked a card or a bank account with `POST /v1/funding-sources`.",
    ),
    _info(
        "topup.succeeded",
        ("wallets",),
        ("notify",),
        "The sandbox gateway charged the funding source and the wallet was credited.",
    ),
    _info(
        "topup.declined",
        ("wallets",),
        ("notify",),
        "The sandbox gateway declined the charge; the client got a 402 and nothing was credited.",
    ),
    _info(
        "payment.requested",
        ("payments",),
        ("score-fraud",),
        "`POST /v1/payments` accepted a payment (202, status `pending`); the saga starts here.",
    ),
    _info(
        "payment.approved",
        ("score-fraud",),
        ("debit-wallet",),
        "Fraud scoring let the payment through; the payer's wallet is debited next.",
    ),
    _info(
        "payment.held",
        ("score-fraud",),
        ("notify",),
        "Fraud scoring sent the payment to manual review; its amount is held in the payer's "
        "wallet (`transfer_id`) while it waits in the admin review queue.",
    ),
    _info(
        "payment.released",
        ("admin",),
        ("settle", "notify"),
        "A reviewer approved a held payment (`POST /v1/admin/reviews/{id}/approve`); settle posts "
        "the hold placed when it was held and credits the payee.",
    ),
    _info(
        "payment.declined",
        ("score-fraud", "admin", "sweep-sagas"),
        ("notify",),
        "The payment was refused: by fraud scoring, by a reviewer, or because its review waited "
        "too long. No money moved; a hold placed for the review was voided.",
    ),
    _info(
        "payment.debited",
        ("debit-wallet",),
        ("settle",),
        "A pending transfer moved the amount from the payer's wallet into clearing.",
    ),
    _info(
        "payment.failed",
        ("score-fraud", "debit-wallet", "settle", "sweep-sagas"),
        ("notify",),
        "The payment could not finish (insufficient funds, also for the hold of a review, the "
        "credit was voided, or it stopped moving and sweep-sagas compensated it); no money "
        "stays in clearing.",
    ),
    _info(
        "payment.completed",
        ("settle",),
        ("notify",),
        "The pending transfer was posted and the payee's wallet credited; the payment is done.",
    ),
    _info(
        "conversion.completed",
        ("wallets",),
        ("notify",),
        "`POST /v1/conversions` moved money between two of the user's wallets through the FX "
        "accounts, as linked transfers; the fee went to fees in the target currency.",
    ),
    _info(
        "conversion.failed",
        ("wallets",),
        ("notify",),
        "A conversion could not be made (insufficient funds); nothing moved.",
    ),
    _info(
        "withdrawal.requested",
        ("wallets",),
        ("payout",),
        "`POST /v1/withdrawals` reserved the funds (a pending transfer to payouts); `payout` "
        "pays the bank account next.",
    ),
    _info(
        "withdrawal.succeeded",
        ("payout",),
        ("notify",),
        "The gateway paid the bank account and the reservation was posted.",
    ),
    _info(
        "withdrawal.failed",
        ("payout", "sweep-sagas"),
        ("notify",),
        "The payout failed (the bank refused it) or the withdrawal stopped moving; the reserved "
        "funds were returned to the wallet.",
    ),
    _info(
        "payment.partially_refunded",
        ("settle",),
        (),
        "A refund of part of the payment completed; `refunded_minor` is the total refunded so far.",
    ),
    _info(
        "payment.refunded",
        ("settle",),
        (),
        "Completed refunds now return the whole payment to its payer.",
    ),
    _info(
        "refund.requested",
        ("payments",),
        ("debit-wallet",),
        "`POST /v1/payments/{id}/refunds`: the payee returns all or part of a completed payment "
        "(202, status `pending`); the refund's saga starts here.",
    ),
    _info(
        "refund.debited",
        ("debit-wallet",),
        ("settle",),
        "A pending transfer moved the refund from the payee's wallet into clearing.",
    ),
    _info(
        "refund.completed",
        ("settle",),
        ("notify",),
        "The refund was posted and the payer's wallet credited; the payment's own event follows.",
    ),
    _info(
        "refund.failed",
        ("debit-wallet", "settle", "sweep-sagas"),
        ("notify",),
        "The refund could not finish (the payee's balance is too low, the ledger refused it, or "
        "it stopped moving); its reservation was released.",
    ),
    _info(
        "payment_request.created",
        ("payments",),
        ("notify",),
        "`POST /v1/payment-requests`: a user asked another for money; the request is `open`.",
    ),
    _info(
        "payment_request.accepted",
        ("payments",),
        (),
        "The payer paid the request: its payment (`payment_id`) goes through the payment saga.",
    ),
    _info(
        "payment_request.paid",
        ("settle",),
        ("notify",),
        "The request's payment completed; the request is `paid`.",
    ),
    _info(
        "payment_request.reopened",
        ("score-fraud", "debit-wallet", "settle", "sweep-sagas"),
        ("notify",),
        "The request's payment was declined or failed; the request is `open` again.",
    ),
    _info(
        "payment_request.declined",
        ("payments",),
        ("notify",),
        "The payer refused the request.",
    ),
    _info(
        "payment_request.cancelled",
        ("payments",),
        ("notify",),
        "The requester withdrew the request.",
    ),
    _info(
        "payment_request.expired",
        ("sweep-sagas",),
        ("notify",),
        "Nobody answered the request before its `expires_at`; sweep-sagas closed it.",
    ),
    _info(
        "admin.action_taken",
        ("admin",),
        (),
        "An operator acted (decided a review, froze a user, granted a role): the audit trail "
        "names who did what to which entity, and why.",
    ),
    _info(
        "kyc.submitted",
        ("accounts",),
        ("verify-kyc",),
        "`POST /v1/kyc/documents` stored an identity document (202, status `pending`); verify-kyc checks it next.",
    ),
    _info(
        "kyc.verified",
        ("verify-kyc", "admin"),
        ("notify",),
        "The document was verified, by the sandbox verifier or by support in review; the user's level is `verified`.",
    ),
    _info(
        "kyc.rejected",
        ("verify-kyc", "admin"),
        ("notify",),
        "The document was not accepted, by the verifier or by support in review; the user stays "
        "at `basic` and may upload another.",
    ),
    _info(
        "kyc.review",
        ("verify-kyc",),
        ("notify",),
        "The verifier could not decide: the document waits in the KYC review queue (`GET /v1/admin/kyc-reviews`).",
    ),
)

CATALOGUE: Mapping[str, EventTypeInfo] = MappingProxyType({e.type: e for e in _ENTRIES})
EVENT_TYPES: tuple[str, ...] = tuple(CATALOGUE)


def consumers_of(event_type: str) -> tuple[str, ...]:
    """The functions that consume ``event_type`` (raises ``KeyError`` for an unknown type)."""
    return CATALOGUE[event_type].consumers


def event_types_consumed_by(function: str) -> tuple[str, ...]:
    """The event types ``function`` consumes, in catalogue order (empty if none)."""
    return tuple(t for t, info in CATALOGUE.items() if function in info.consumers)


def event_types_produced_by(function: str) -> tuple[str, ...]:
    """The event types ``function`` produces, in catalogue order (empty if none)."""
    return tuple(t for t, info in CATALOGUE.items() if function in info.producers)


def render_table() -> str:
    """The catalogue as the Markdown table kept in ``events/README.md``.

    Links are relative to ``events/``. ``python -m schemas.export`` rewrites the table and a
    contract test fails when the README is out of date.
    """
    lines = [
        "| type | producers | consumers | payload schema | sample | when it happens |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for info in CATALOGUE.values():
        model = info.payload_model.__name__
        lines.append(
            "| "
            + " | ".join(
                (
                    f"`{info.type}`",
                    ", ".join(f"`{p}`" for p in info.producers),
                    ", ".join(f"`{c}`" for c in info.consumers),
                    f"[`{model}`](../schemas/json/{model}.json)",
                    f"[{info.type}.json](samples/{info.type}.json)",
                    info.description,
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"
