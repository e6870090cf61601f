"""The review queue of held payments: what operators read of it, and their decisions.

score-fraud holds a payment for review with its amount reserved in the ledger (the pending
transfer `<payment_id>:debit`, `score_payment`) and opens its review. Then exactly one of these
closes it:

- a reviewer approves it: the payment is `pending` again and `payment.released` sends it to
  settle, which posts the hold placed at review time and credits the payee;
- a reviewer declines it: the hold is voided and the payment is `declined` (`review_declined`,
  the reviewer's reason as its message);
- nobody decided within `review_max_age_seconds`: sweep-sagas declines it (`review_expired`).

Each decision locks the payment's row first, so that two decisions (two reviewers, a double
click, a reviewer and the sweeper) are taken one after the other: the second finds the review
decided, and is answered as the first was (the same decision) or refused (the opposite one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.events import PaymentReleased
from schemas.operators import PayerHistory, PreviousReviews, ReviewPayment, ReviewQuery, ReviewResponse
from shared.adapters.database import as_utc
from shared.adapters.ledger_store import LedgerStore
from shared.adapters.tables import payment_reviews, payments, users
from shared.domain.fx import ExchangeRates, reference_minor
from shared.domain.payment import FailureCode, PaymentStatus
from shared.domain.review import DecisionOutcome, ReviewDecision, ReviewStatus, outcome_of
from shared.http import ApiError
from shared.privacy import PersonalDataVault
from shared.services.context import EventContext
from shared.services.operators import record_admin_action
from shared.services.payments import (
    advance_payment,
    close_review,
    decline_payment,
    lock_payment,
    parties,
    reservation_of,
)
from shared.services.people import Person, people

__all__ = [
    "approve_review",
    "decline_review",
    "expire_review",
    "expired_review_ids",
    "get_review",
    "list_reviews",
]

# The statuses of a payment whose money reached its payee (refunded since or not): what the
# payer's history counts as completed.
_REACHED_THE_PAYEE = tuple(
    status.value for status in (PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
)

_PAYER = users.alias("payer")
# Built once: a review with its payment and the two parties, as every read of the queue needs.
_REVIEWS = sa.select(
    payment_reviews,
    payments.c.amount_minor,
    payments.c.currency,
    payments.c.payee_id,
    payments.c.note,
    payments.c.status.label("payment_status"),
    payments.c.created_at.label("payment_created_at"),
    _PAYER.c.created_at.label("payer_created_at"),
).select_from(
    payment_reviews.join(payments, payments.c.id == payment_reviews.c.payment_id).join(
        _PAYER, _PAYER.c.id == payment_reviews.c.payer_id
    )
)
_OLDEST_FIRST = (payment_reviews.c.created_at.asc(), payment_reviews.c.payment_id.asc())
_REVIEW_STATUS = sa.select(payment_reviews.c.status).where(payment_reviews.c.payment_id == sa.bindparam("payment_id"))

# The reviews a payer had before this one: the same payer, opened earlier.
_THIS = payment_reviews.alias("this_review")
_EARLIER = payment_reviews.alias("earlier_review")


def _not_found() -> ApiError:
    return ApiError.not_found("review_not_found", "no held payment has this id", "payment_id")


def list_reviews(
    conn: Connection, query: ReviewQuery, *, rates: ExchangeRates, privacy: PersonalDataVault
) -> tuple[list[ReviewResponse], bool]:
    """A page of reviews that meet the query's filters, oldest first (the queue's order), and
    whether more lie beyond it."""
    filters: list[Any] = [payment_reviews.c.status == query.status]
    if query.currency is not None:
        filters.append(payments.c.currency == query.currency)
    if query.min_score is not None:
        filters.append(payment_reviews.c.fraud_score >= query.min_score)
    if query.starting_after is not None:
        cursor = conn.execute(
            sa.select(payment_reviews.c.created_at, payment_reviews.c.payment_id).where(
                payment_reviews.c.payment_id == query.starting_after
            )
        ).first()
        if cursor is None:
            raise ApiError.invalid("cursor_invalid", "starting_after names no review", "starting_after")
        filters.append(
            sa.tuple_(payment_reviews.c.created_at, payment_reviews.c.payment_id)
            > sa.tuple_(sa.literal(cursor.created_at), sa.literal(cursor.payment_id))
        )
    rows = conn.execute(_REVIEWS.where(*filters).order_by(*_OLDEST_FIRST).limit(query.limit + 1)).all()
    return _views(conn, rows[: query.limit], rates, privacy), len(rows) > query.limit


def get_review(
    conn: Connection, payment_id: str, *, rates: ExchangeRates, privacy: PersonalDataVault
) -> ReviewResponse:
    """The review of one held (or once held) payment; a 404 if it was never held."""
    row = conn.execute(_REVIEWS.where(payment_reviews.c.payment_id == payment_id)).first()
    if row is None:
        raise _not_found()
    [view] = _views(conn, [row], rates, privacy)
    return view


def approve_review(
    conn: Connection,
    payment_id: str,
    *,
    reviewer_id: str,
    reason: str | None,
    context: EventContext,
    rates: ExchangeRates,
    privacy: PersonalDataVault,
) -> tuple[ReviewResponse, list[str]]:
    """Approve a held payment: it is `pending` again and `payment.released` sends it on to
    settle, which posts the hold placed when it was held (never a second one). An approval
    already made is answered as it was; a review declined already is a 409."""
    payment, outcome = _decidable(conn, payment_id, ReviewDecision.APPROVE)
    recorded: list[str] = []
    if outcome is DecisionOutcome.DECIDE:
        if payment.status != PaymentStatus.HELD.value:
            raise RuntimeError(f"payment {payment.id} has an open review but is {payment.status}")
        recorded += advance_payment(
            conn,
            payment,
            status=PaymentStatus.PENDING,
            event_type="payment.released",
            payload=PaymentReleased(
                **parties(payment), transfer_id=reservation_of(payment).pending_id, reviewer_id=reviewer_id
            ),
            context=context,
        )
        close_review(
            conn, payment.id, status=ReviewStatus.APPROVED, decided_by=reviewer_id, reason=reason, now=context.now
        )
        recorded.append(
            record_admin_action(
                conn,
                actor_id=reviewer_id,
                action="review.approve",
                target_id=payment.id,
                context=context,
                reason=reason,
            )
        )
    return get_review(conn, payment.id, rates=rates, privacy=privacy), recorded


def decline_review(
    conn: Connection,
    payment_id: str,
    *,
    reviewer_id: str,
    reason: str,
    ledger: LedgerStore,
    context: EventContext,
    rates: ExchangeRates,
    privacy: PersonalDataVault,
) -> tuple[ReviewResponse, list[str]]:
    """Decline a held payment: its hold is voided (the payer's funds come back once) and it is
    `declined` with `review_declined` and the reviewer's reason, which the payer is told. A
    decline already made is answered as it was; a review approved already is a 409."""
    payment, outcome = _decidable(conn, payment_id, ReviewDecision.DECLINE)
    recorded: list[str] = []
    if outcome is DecisionOutcome.DECIDE:
        recorded += decline_payment(
            conn,
            payment.id,
            code=FailureCode.REVIEW_DECLINED,
            ledger=ledger,
            context=context,
            message=reason,
            decided_by=reviewer_id,
        )
        recorded.append(
            record_admin_action(
                conn,
                actor_id=reviewer_id,
                action="review.decline",
                target_id=payment.id,
                context=context,
                reason=reason,
            )
        )
    return get_review(conn, payment.id, rates=rates, privacy=privacy), recorded


def expired_review_ids(conn: Connection, *, now: datetime, max_age_seconds: int, limit: int) -> list[str]:
    """The payments whose review has been open longer than `max_age_seconds`, oldest first."""
    return list(
        conn.execute(
            sa.select(payment_reviews.c.payment_id)
            .where(
                payment_reviews.c.status == ReviewStatus.OPEN.value,
                payment_reviews.c.created_at < now - timedelta(seconds=max_age_seconds),
            )
            .order_by(*_OLDEST_FIRST)
            .limit(limit)
        ).scalars()
    )


def expire_review(conn: Connection, payment_id: str, *, ledger: LedgerStore, context: EventContext) -> list[str]:
    """Decline a payment whose review was left open too long (`review_expired`), voiding its
    hold; nothing if a reviewer decided it meanwhile."""
    payment = lock_payment(conn, payment_id)
    if payment is None or conn.execute(_REVIEW_STATUS, {"payment_id": payment_id}).scalar() != ReviewStatus.OPEN.value:
        return []
    return decline_payment(conn, payment.id, code=FailureCode.REVIEW_EXPIRED, ledger=ledger, context=context)


def _decidable(conn: Connection, payment_id: str, decision: ReviewDecision) -> tuple[Any, DecisionOutcome]:
    """The payment, locked until the transaction ends, and what `decision` comes to on its
    review; a 404 for a payment never held, a 409 for a review decided the other way."""
    payment = lock_payment(conn, payment_id)
    status = None if payment is None else conn.execute(_REVIEW_STATUS, {"payment_id": payment_id}).scalar()
    if status is None:
        raise _not_found()
    outcome = outcome_of(ReviewStatus(status), decision)
    if outcome is DecisionOutcome.CONFLICT:
        raise ApiError.invalid(
            "review_already_decided", f"the review was {status} already and cannot be {decision.status.value}",
            "payment_id", 409,
        )  # fmt: skip
    return payment, outcome


def _views(
    conn: Connection, rows: Sequence[Any], rates: ExchangeRates, privacy: PersonalDataVault
) -> list[ReviewResponse]:
    named = people(conn, [party for row in rows for party in (row.payer_id, row.payee_id)], privacy=privacy)
    """The reviews of `rows` (rows of _REVIEWS), each with its payer's history, read for the
    whole page at once: two queries, however many reviews."""
    if not rows:
        return []
    payer_ids = sorted({row.payer_id for row in rows})
    # Per payer and currency: how many payments reached their payee, and their total.
    completed: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for sums in conn.execute(
        sa.select(
            payments.c.payer_id,
            payments.c.currency,
            sa.func.count().label("payments_count"),
            sa.func.sum(payments.c.amount_minor).label("total"),
        )
        .where(payments.c.payer_id.in_(payer_ids), payments.c.status.in_(_REACHED_THE_PAYEE))
        .group_by(payments.c.payer_id, payments.c.currency)
    ):
        completed[sums.payer_id][sums.currency] = (int(sums.payments_count), int(sums.total))
    # Per review: how the payer's earlier reviews stand.
    earlier: dict[str, dict[str, int]] = defaultdict(dict)
    for counted in conn.execute(
        sa.select(_THIS.c.payment_id, _EARLIER.c.status, sa.func.count().label("reviews_count"))
        .select_from(
            _THIS.join(
                _EARLIER, sa.and_(_EARLIER.c.payer_id == _THIS.c.payer_id, _EARLIER.c.created_at < _THIS.c.created_at)
            )
        )
        .where(_THIS.c.payment_id.in_([row.payment_id for row in rows]))
        .group_by(_THIS.c.payment_id, _EARLIER.c.status)
    ):
        earlier[counted.payment_id][counted.status] = int(counted.reviews_count)
    return [_view(row, completed[row.payer_id], earlier[row.payment_id], rates, named) for row in rows]


def _view(
    row: Any,
    completed: dict[str, tuple[int, int]],
    earlier: dict[str, int],
    rates: ExchangeRates,
    named: Mapping[str, Person],
) -> ReviewResponse:
    # The payment under review is not its own history: once approved and completed, it is left
    # out of the payer's totals, so that a decided review reads the same later.
    totals = dict(completed)
    if row.payment_status in _REACHED_THE_PAYEE:
        count, total = totals[row.currency]
        totals[row.currency] = (count - 1, total - row.amount_minor)
    opened_at = as_utc(row.created_at)
    return ReviewResponse(
        payment_id=row.payment_id,
        status=row.status,
        fraud_score=row.fraud_score,
        reasons=list(row.reasons),
        review_reason=row.review_reason,
        created_at=opened_at,
        decided_by=row.decided_by,
        decision_reason=row.decision_reason,
        decided_at=row.decided_at,
        payment=ReviewPayment(
            id=row.payment_id,
            amount=row.amount_minor,
            currency=row.currency,
            payer_id=row.payer_id,
            payer_email=_address(named, row.payer_id),
            payee_id=row.payee_id,
            payee_email=_address(named, row.payee_id),
            note=row.note,
            created_at=row.payment_created_at,
        ),
        payer_history=PayerHistory(
            account_created_at=row.payer_created_at,
            account_age_seconds=max(0, int((opened_at - as_utc(row.payer_created_at)).total_seconds())),
            completed_payments=sum(count for count, _ in totals.values()),
            completed_volume_usd=sum(
                reference_minor(total, currency, rates) for currency, (_, total) in totals.items()
            ),
            previous_reviews=PreviousReviews(
                open=earlier.get(ReviewStatus.OPEN.value, 0),
                approved=earlier.get(ReviewStatus.APPROVED.value, 0),
                declined=earlier.get(ReviewStatus.DECLINED.value, 0),
            ),
        ),
    )


def _address(named: Mapping[str, Person], user_id: str) -> str:
    """The user's e-mail address as an operator sees it; empty for an erased user."""
    person = named.get(user_id)
    return "" if person is None or person.email is None else person.email
