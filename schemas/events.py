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
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from schemas.api import (
    NOTE_LENGTH_MAX,
    AmountMinor,
    CountryCode,
    CurrencyCode,
    FundingSourceType,
    Identifier,
    KycDocumentTypeName,
    UtcDatetime,
)

__all__ = [
    "FRAUD_SCORE_MAX",
    "FRAUD_REASONS_MAX",
    "EventPayload",
    "UserSanctionsMatched",
    "UserSignedUp",
    "FundingSourceAdded",
    "TopupSucceeded",
    "TopupDeclined",
    "PaymentRequested",
    "PaymentApproved",
    "PaymentHeld",
    "PaymentReleased",
    "PaymentDeclined",
    "PaymentDebited",
    "PaymentFailed",
    "PaymentCompleted",
    "PaymentPartiallyRefunded",
    "PaymentRefunded",
    "RefundRequested",
    "RefundDebited",
    "RefundCompleted",
    "RefundFailed",
    "PaymentRequestCreated",
    "PaymentRequestAccepted",
    "PaymentRequestPaid",
    "PaymentRequestReopened",
    "PaymentRequestDeclined",
    "PaymentRequestCancelled",
    "PaymentRequestExpired",
    "ConversionCompleted",
    "ConversionFailed",
    "WithdrawalRequested",
    "WithdrawalSucceeded",
    "WithdrawalFailed",
    "AdminActionTaken",
    "KycSubmitted",
    "KycVerified",
    "KycRejected",
    "KycReview",
    "EVENT_PAYLOADS",
    "UnknownEventType",
    "parse_payload",
    "partition_key",
]

# Fraud scores are a risk percentage: 0 is no signal, 100 is certain fraud.
FRAUD_SCORE_MAX = 100
# The rules engine names each rule that fired; a handful is normal, dozens would be a bug.
FRAUD_REASONS_MAX = 32
# Machine-readable codes (`insufficient_funds`) and human messages have bounds like everything else.
CODE_LENGTH_MAX = 100
MESSAGE_LENGTH_MAX = 1000

_Code = Annotated[str, Field(min_length=1, max_length=CODE_LENGTH_MAX)]
# A screening lists at most this many matched entries and programmes.
_SANCTIONS_ENTRIES_MAX = 50
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


class UserSanctionsMatched(EventPayload):
    """Screening at sign-up or KYC matched the user against the sanctions list; the match is
    recorded on the user for support (`sanctions.matched`). Names the list entries and
    programmes matched, never the user's personal data."""

    screening_id: Identifier
    user_id: Identifier
    screened_at: Literal["sign_up", "kyc"]
    match_kind: Literal["name", "country"]
    entry_ids: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=_SANCTIONS_ENTRIES_MAX)]
    programs: Annotated[list[_Code], Field(max_length=_SANCTIONS_ENTRIES_MAX)]


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
    """Fraud scoring sent the payment to manual review; it is `held` (`payment.held`), its
    amount reserved from the payer's wallet by the pending transfer `transfer_id` until a
    reviewer approves (the transfer is posted) or declines it (voided). `review_reason` is the
    coarse category the payer may see; `reasons` are the rules that fired, for operators."""

    fraud_score: _FraudScore
    reasons: _FraudReasons
    transfer_id: Identifier
    review_reason: _Code


class PaymentReleased(_PaymentParties):
    """A reviewer approved a held payment; its hold (`transfer_id`) is posted next
    (`payment.released`)."""

    transfer_id: Identifier
    reviewer_id: Identifier


class PaymentDeclined(_PaymentParties):
    """The payment was refused: by fraud scoring, a limit, a frozen account, or a reviewer (or
    left unreviewed too long). No money moved; a hold placed for review was voided
    (`payment.declined`). Declines before scoring carry no score."""

    fraud_score: _FraudScore | None = None
    reasons: _FraudReasons = []
    failure_code: _Code
    failure_message: Annotated[str, Field(min_length=1, max_length=MESSAGE_LENGTH_MAX)] | None = None


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


class PaymentPartiallyRefunded(_PaymentParties):
    """A refund of part of the payment completed (`payment.partially_refunded`).

    `refunded_minor` is the total refunded so far, this refund included."""

    refund_id: Identifier
    refunded_minor: AmountMinor


class PaymentRefunded(_PaymentParties):
    """Refunds now return the whole payment to its payer (`payment.refunded`)."""

    refund_id: Identifier
    refunded_minor: AmountMinor


# --- refunds ---------------------------------------------------------------------------------


class _RefundParties(EventPayload):
    # The payment's payer and payee: the refund moves money from the payee back to the payer.
    refund_id: Identifier
    payment_id: Identifier
    payer_id: Identifier
    payee_id: Identifier
    amount_minor: AmountMinor
    currency: CurrencyCode


class RefundRequested(_RefundParties):
    """The payee asked to return money to the payer; the refund is `pending` (`refund.requested`)."""


class RefundDebited(_RefundParties):
    """The payee's wallet was debited into clearing by a pending transfer (`refund.debited`)."""

    transfer_id: Identifier


class RefundCompleted(_RefundParties):
    """The payer's wallet was credited; the refund is `completed` (`refund.completed`)."""

    transfer_id: Identifier


class RefundFailed(_RefundParties):
    """The refund could not be carried out; any reserved funds were released (`refund.failed`)."""

    failure_code: _Code
    failure_message: Annotated[str, Field(min_length=1, max_length=MESSAGE_LENGTH_MAX)]


# --- payment requests ------------------------------------------------------------------------


class _RequestParties(EventPayload):
    # The requester asks the payer for money: a payment from the payer to the requester.
    payment_request_id: Identifier
    requester_id: Identifier
    payer_id: Identifier
    amount_minor: AmountMinor
    currency: CurrencyCode


class PaymentRequestCreated(_RequestParties):
    """A user asked another for money; the request is `open` (`payment_request.created`)."""

    note: _Note
    # Not strict: in JSON an instant is an ISO 8601 string.
    expires_at: Annotated[UtcDatetime, Field(strict=False)]


class PaymentRequestAccepted(_RequestParties):
    """The payer paid the request: `payment_id` is on its way through the saga (`accepted`)."""

    payment_id: Identifier


class PaymentRequestPaid(_RequestParties):
    """The request's payment completed; the request is `paid` (`payment_request.paid`)."""

    payment_id: Identifier


class PaymentRequestReopened(_RequestParties):
    """The request's payment failed or was declined; the request is `open` again."""

    payment_id: Identifier
    failure_code: _Code


class PaymentRequestDeclined(_RequestParties):
    """The payer refused the request (`payment_request.declined`)."""


class PaymentRequestCancelled(_RequestParties):
    """The requester withdrew the request (`payment_request.cancelled`)."""


class PaymentRequestExpired(_RequestParties):
    """Nobody answered the request before it expired (`payment_request.expired`)."""

    expires_at: Annotated[UtcDatetime, Field(strict=False)]


# --- conversions -----------------------------------------------------------------------------

# An exact rate as "numerator/denominator" (both positive integers), the form it is stored in.
_ExactRate = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,38}/[1-9][0-9]{0,38}$")]
_BasisPoints = Annotated[StrictInt, Field(ge=0, le=10_000)]


class _ConversionParties(EventPayload):
    conversion_id: Identifier
    user_id: Identifier
    quote_id: Identifier | None
    from_currency: CurrencyCode
    to_currency: CurrencyCode
    amount_minor: AmountMinor


class ConversionCompleted(_ConversionParties):
    """`amount_minor` left the user's from_currency wallet and `receive_minor` entered the
    to_currency one; `fee_minor` (to_currency) went to fees (`conversion.completed`)."""

    receive_minor: AmountMinor
    fee_minor: Annotated[StrictInt, Field(ge=0)]
    mid_rate: _ExactRate
    spread_basis_points: _BasisPoints


class ConversionFailed(_ConversionParties):
    """The conversion could not be made; nothing moved (`conversion.failed`)."""

    failure_code: _Code


# --- withdrawals -----------------------------------------------------------------------------


class _WithdrawalParties(EventPayload):
    withdrawal_id: Identifier
    user_id: Identifier
    funding_source_id: Identifier
    amount_minor: AmountMinor
    currency: CurrencyCode


class WithdrawalRequested(_WithdrawalParties):
    """The funds are reserved (a pending transfer to payouts); the payout follows
    (`withdrawal.requested`)."""

    transfer_id: Identifier


class WithdrawalSucceeded(_WithdrawalParties):
    """The gateway paid the bank account and the reservation was posted (`withdrawal.succeeded`)."""

    payout_id: Identifier


class WithdrawalFailed(_WithdrawalParties):
    """The payout failed or timed out; the reserved funds were returned (`withdrawal.failed`)."""

    failure_code: _Code
    failure_message: Annotated[str, Field(min_length=1, max_length=MESSAGE_LENGTH_MAX)]


# --- operators -------------------------------------------------------------------------------

_DETAILS_MAX = 32


class AdminActionTaken(EventPayload):
    """An operator did something: decided a review, froze a user, granted a role
    (`admin.action_taken`). `actor_id` is the operator's user id, or `paystream-cli` for the
    command run against the database; `target_id` what was acted on."""

    action_id: Identifier
    actor_id: Identifier
    action: _Code
    target_id: Identifier
    reason: Annotated[str, Field(max_length=MESSAGE_LENGTH_MAX)] | None = None
    details: Annotated[
        dict[_Code, Annotated[str, Field(max_length=MESSAGE_LENGTH_MAX)]], Field(max_length=_DETAILS_MAX)
    ] = {}


# --- know your customer ----------------------------------------------------------------------


class _KycDocument(EventPayload):
    # Every KYC event names the document and its owner; never the document's number, which
    # stays in the database, nor the user's personal data.
    document_id: Identifier
    user_id: Identifier
    document_type: KycDocumentTypeName
    issuing_country: CountryCode


class KycSubmitted(_KycDocument):
    """A user uploaded an identity document; it is `pending` until verify-kyc decides
    (`kyc.submitted`)."""


class KycVerified(_KycDocument):
    """The document was verified and the user's level is `verified` (`kyc.verified`).
    `reviewer_id` names the operator who approved it in review; null when verify-kyc did."""

    reviewer_id: Identifier | None = None


class KycRejected(_KycDocument):
    """The document was not accepted; the user stays at `basic` and may upload another
    (`kyc.rejected`). `reviewer_id` as for `kyc.verified`."""

    failure_code: _Code
    reviewer_id: Identifier | None = None


class KycReview(_KycDocument):
    """The verifier could not decide: support reviews the document (`kyc.review`)."""

    review_reason: _Code


EVENT_PAYLOADS: Mapping[str, type[EventPayload]] = MappingProxyType(
    {
        "user.signed_up": UserSignedUp,
        "sanctions.matched": UserSanctionsMatched,
        "funding_source.added": FundingSourceAdded,
        "topup.succeeded": TopupSucceeded,
        "topup.declined": TopupDeclined,
        "payment.requested": PaymentRequested,
        "payment.approved": PaymentApproved,
        "payment.held": PaymentHeld,
        "payment.released": PaymentReleased,
        "payment.declined": PaymentDeclined,
        "payment.debited": PaymentDebited,
        "payment.failed": PaymentFailed,
        "payment.completed": PaymentCompleted,
        "payment.partially_refunded": PaymentPartiallyRefunded,
        "payment.refunded": PaymentRefunded,
        "refund.requested": RefundRequested,
        "refund.debited": RefundDebited,
        "refund.completed": RefundCompleted,
        "refund.failed": RefundFailed,
        "payment_request.created": PaymentRequestCreated,
        "payment_request.accepted": PaymentRequestAccepted,
        "payment_request.paid": PaymentRequestPaid,
        "payment_request.reopened": PaymentRequestReopened,
        "payment_request.declined": PaymentRequestDeclined,
        "payment_request.cancelled": PaymentRequestCancelled,
        "payment_request.expired": PaymentRequestExpired,
        "conversion.completed": ConversionCompleted,
        "conversion.failed": ConversionFailed,
        "withdrawal.requested": WithdrawalRequested,
        "withdrawal.succeeded": WithdrawalSucceeded,
        "withdrawal.failed": WithdrawalFailed,
        "admin.action_taken": AdminActionTaken,
        "kyc.submitted": KycSubmitted,
        "kyc.verified": KycVerified,
        "kyc.rejected": KycRejected,
        "kyc.review": KycReview,
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


def partition_key(payload: EventPayload) -> str:
    """The key whose events must keep their order: the wallet the event moves money from.

    Every event of a payment names its payer's wallet in the payment's currency, so the steps
    of one payment, and the payments one wallet makes, are delivered in the order they
    happened (docs/ordering.md); a top-up names the wallet it funds, a withdrawal the wallet it
    pays out of, a conversion the wallet it sells from and a refund its payee's wallet, which
    returns the money; a payment request names its payer's wallet, as its payment will; an
    event that moves no money names its user. The format is the ledger account id of that wallet.
    """
    if isinstance(payload, _PaymentParties):
        return f"wallet:{payload.payer_id}:{payload.currency}"
    if isinstance(payload, (TopupSucceeded, TopupDeclined)):
        return f"wallet:{payload.user_id}:{payload.currency}"
    if isinstance(payload, _WithdrawalParties):
        return f"wallet:{payload.user_id}:{payload.currency}"
    if isinstance(payload, _ConversionParties):
        return f"wallet:{payload.user_id}:{payload.from_currency}"
    if isinstance(payload, _RefundParties):
        return f"wallet:{payload.payee_id}:{payload.currency}"
    if isinstance(payload, _RequestParties):
        return f"wallet:{payload.payer_id}:{payload.currency}"
    if isinstance(payload, (UserSignedUp, FundingSourceAdded, UserSanctionsMatched)):
        return f"user:{payload.user_id}"
    if isinstance(payload, AdminActionTaken):
        return f"user:{payload.actor_id}"  # one operator's actions, in the order they took them
    if isinstance(payload, _KycDocument):
        return f"user:{payload.user_id}"  # a user's documents, in the order they were decided
    raise TypeError(f"no partition key is defined for {type(payload).__name__}")
