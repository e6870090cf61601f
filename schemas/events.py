"""Payload models of every Paystream event: the `data` of its CloudEvent.

Event types are past-tense facts (`payment.debited`). Each payload is strict and closed
(`extra="forbid"`): a consumer that receives a field it does not know, or an amount that is not an
integer of minor units, has been sent an event it cannot trust, and the event goes to the
dead-letter queue instead of moving money.

Consumers parse in two steps, envelope first and payload second::

    envelope = CloudEventEnvelope.model_validate(raw)          # schemas.cloudevent
    payload = parse_payload(envelope.type, envelope.data)      # this module
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from schemas.api import (
    NOTE_LENGTH_MAX,
    AmountMinor,
    CountryCode,
    CurrencyCode,
    FundingSourceType,
    Identifier,
)

__all__ = [
    "FRAUD_SCORE_MAX",
    "FRAUD_REASONS_MAX",
    "EventPayload",
    "UserSignedUp",
    "FundingSourceAdded",
    "TopupSucceeded",
    "TopupDeclined",
    "PaymentRequested",
    "PaymentApproved",
    "PaymentHeld",
    "PaymentDeclined",
    "PaymentDebited",
    "PaymentFailed",
    "PaymentCompleted",
    "EVENT_PAYLOADS",
    "UnknownEventType",
    "parse_payload",
]

# Fraud scores are a risk percentage: 0 is no signal, 100 is certain fraud.
FRAUD_SCORE_MAX = 100
# The rules engine names each rule that fired; a handful is normal, dozens would be a bug.
FRAUD_REASONS_MAX = 32
# Machine-readable codes (`insufficient_funds`) and human messages have bounds like everything else.
CODE_LENGTH_MAX = 100
MESSAGE_LENGTH_MAX = 1000

_Code = Annotated[str, Field(min_length=1, max_length=CODE_LENGTH_MAX)]
_FraudScore = Annotated[StrictInt, Field(ge=0, le=FRAUD_SCORE_MAX)]
_FraudReasons = Annotated[list[_Code], Field(max_length=FRAUD_REASONS_MAX)]
_Note = Annotated[str, Field(max_length=NOTE_LENGTH_MAX)]


class EventPayload(BaseModel):
    """Base of every payload: closed, strict, and immutable once parsed."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- users -----------------------------------------------------------------------------------


class UserSignedUp(EventPayload):
    """A new user account exists (`user.signed_up`)."""

    user_id: Identifier
    country: CountryCode


# --- accounts --------------------------------------------------------------------------------


class FundingSourceAdded(EventPayload):
    """A user linked a card or a bank account (`funding_source.added`)."""

    funding_source_id: Identifier
    user_id: Identifier
    type: FundingSourceType
    brand: str | None
    last4: Annotated[str, Field(pattern=r"^[0-9]{4}$")]


# --- wallets ---------------------------------------------------------------------------------


class TopupSucceeded(EventPayload):
    """The gateway charged the funding source and the wallet was credited (`topup.succeeded`)."""

    topup_id: Identifier
    user_id: Identifier
    funding_source_id: Identifier
    amount_minor: AmountMinor
    currency: CurrencyCode


class TopupDeclined(EventPayload):
    """The gateway declined the charge; nothing was credited (`topup.declined`)."""

    topup_id: Identifier
    user_id: Identifier
    funding_source_id: Identifier
    amount_minor: AmountMinor
    currency: CurrencyCode
    decline_code: _Code


# --- the payment saga ------------------------------------------------------------------------


class _PaymentParties(EventPayload):
    # Every payment event names the payment, both parties and the money, so that each consumer
    # (notify, audit, the transaction projection) can act on the event alone, without a lookup.
    payment_id: Identifier
    payer_id: Identifier
    payee_id: Identifier
    amount_minor: AmountMinor
    currency: CurrencyCode


class PaymentRequested(_PaymentParties):
    """A payer asked to send money; the payment is `pending` (`payment.requested`)."""

    note: _Note


class PaymentApproved(_PaymentParties):
    """Fraud scoring let the payment through (`payment.approved`)."""

    fraud_score: _FraudScore
    reasons: _FraudReasons


class PaymentHeld(_PaymentParties):
    """Fraud scoring sent the payment to manual review; it is `held` (`payment.held`)."""

    fraud_score: _FraudScore
    reasons: _FraudReasons


class PaymentDeclined(_PaymentParties):
    """Fraud scoring refused the payment; no money moved (`payment.declined`)."""

    fraud_score: _FraudScore
    reasons: _FraudReasons
    failure_code: _Code


class PaymentDebited(_PaymentParties):
    """The payer's wallet was debited into clearing by a pending transfer (`payment.debited`)."""

    transfer_id: Identifier


class PaymentFailed(_PaymentParties):
    """The payment could not be completed; any reserved funds were released (`payment.failed`)."""

    failure_code: _Code
    failure_message: Annotated[str, Field(min_length=1, max_length=MESSAGE_LENGTH_MAX)]


class PaymentCompleted(_PaymentParties):
    """The payee's wallet was credited; the payment is `completed` (`payment.completed`)."""

    transfer_id: Identifier


EVENT_PAYLOADS: Mapping[str, type[EventPayload]] = MappingProxyType(
    {
        "user.signed_up": UserSignedUp,
        "funding_source.added": FundingSourceAdded,
        "topup.succeeded": TopupSucceeded,
        "topup.declined": TopupDeclined,
        "payment.requested": PaymentRequested,
        "payment.approved": PaymentApproved,
        "payment.held": PaymentHeld,
        "payment.declined": PaymentDeclined,
        "payment.debited": PaymentDebited,
        "payment.failed": PaymentFailed,
        "payment.completed": PaymentCompleted,
    }
)


class UnknownEventType(ValueError):
    """An event type that no payload model describes: the event can never be handled."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type: {event_type!r}")
        self.event_type = event_type


def parse_payload(event_type: str, data: object) -> EventPayload:
    """Validate `data` against the payload model of `event_type`.

    Raises :class:`UnknownEventType` for a type Paystream does not define, and
    :class:`pydantic.ValidationError` for a payload that does not match its model.
    `data` is the decoded JSON object (a dict); a payload model instance is accepted as is.
    """
    model = EVENT_PAYLOADS.get(event_type)
    if model is None:
        raise UnknownEventType(event_type)
    return model.model_validate(data)
