"""The three regulatory reports of a UTC day, built from the database as CSV.

- `daily-transactions`: the day's transactions (by the time they were made) summed per
  currency, type and status: how many and how much;
- `large-transactions`: each transaction of the day whose amount is at or above the reporting
  threshold in US dollars (`report_large_transaction_usd`, 10,000 by default), converted at the
  newest reference rates the platform has (shared.domain.fx.reference_minor);
- `flagged-activity`: payments held for review, fraud declines, review decisions with their
  reviewers, and the reconciliation's findings.

A transaction is counted once, though the history keeps a row for each person it concerns (the
payer's debit and the payee's credit); payment requests move no money and are left out. The
same CSV is served by `GET /v1/admin/reports/{kind}` and stored in the archive bucket by the
daily `reconcile` run and `paystream reports build`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.archive_store import ArchiveStore
from shared.adapters.tables import flagged_activity, payment_reviews, payments, transactions
from shared.domain.fx import REFERENCE_CURRENCY, ExchangeRates, FxRateMissing, reference_minor
from shared.domain.money import Money
from shared.domain.payment import FailureCode
from shared.domain.reports import REPORT_CONTENT_TYPE, REPORT_KINDS, render_csv, report_key
from shared.services.reconciliation import day_bounds

__all__ = [
    "DAILY_TRANSACTIONS_COLUMNS",
    "FLAGGED_ACTIVITY_COLUMNS",
    "LARGE_TRANSACTIONS_COLUMNS",
    "ReportOptions",
    "build_report",
    "store_reports",
]

DAILY_TRANSACTIONS_COLUMNS = ("date", "currency", "type", "status", "count", "amount_minor", "amount")
LARGE_TRANSACTIONS_COLUMNS = (
    "date",
    "created_at",
    "transaction_id",
    "type",
    "status",
    "currency",
    "amount_minor",
    "amount",
    "usd_equivalent_minor",
    "debited_user_id",
    "credited_user_id",
)
FLAGGED_ACTIVITY_COLUMNS = (
    "date",
    "at",
    "kind",
    "subject_id",
    "user_id",
    "currency",
    "amount_minor",
    "fraud_score",
    "reasons",
    "status",
    "decided_by",
    "detail",
)
# Transactions in the history that move no money.
_NOT_MONEY = ("request",)


@dataclass(frozen=True)
class ReportOptions:
    """What a report needs besides the database: the rates and the large-transaction threshold."""

    rates: ExchangeRates
    large_transaction_usd: int


def build_report(conn: Connection, kind: str, day: date, options: ReportOptions) -> str:
    """The CSV of report `kind` for `day`; ValueError for an unknown kind."""
    builders: dict[str, Callable[[Connection, date, ReportOptions], str]] = {
        "daily-transactions": _daily_transactions,
        "large-transactions": _large_transactions,
        "flagged-activity": _flagged_activity,
    }
    if kind not in builders:
        raise ValueError(f"unknown report kind {kind!r}; known: {', '.join(REPORT_KINDS)}")
    return builders[kind](conn, day, options)


def store_reports(conn: Connection, store: ArchiveStore, day: date, options: ReportOptions) -> dict[str, bool]:
    """Build every report of `day` and store each in the archive bucket; (key, written) each."""
    stored = {}
    for kind in REPORT_KINDS:
        key = report_key(kind, day)
        body = build_report(conn, kind, day, options).encode("utf-8")
        written = store.put(key, body, content_type=f"{REPORT_CONTENT_TYPE}; charset=utf-8", metadata={"day": str(day)})
        stored[key] = written
    return stored


def _day_transactions(day: date) -> sa.Subquery:
    """One row per transaction made on `day`: its type, status, currency and amount, and who
    was debited and credited."""
    start, end = day_bounds(day)
    t = transactions
    return (
        sa.select(
            t.c.id,
            t.c.type,
            sa.func.max(t.c.status).label("status"),
            t.c.currency,
            t.c.amount_minor,
            sa.func.min(t.c.created_at).label("created_at"),
            sa.func.max(sa.case((t.c.direction == "debit", t.c.user_id))).label("debited_user_id"),
            sa.func.max(sa.case((t.c.direction == "credit", t.c.user_id))).label("credited_user_id"),
        )
        .where(t.c.created_at >= start, t.c.created_at < end, t.c.type.not_in(_NOT_MONEY))
        .group_by(t.c.id, t.c.type, t.c.currency, t.c.amount_minor)
        .subquery()
    )


def _major(amount_minor: int, currency: str) -> str:
    return Money(amount_minor, currency).major_text()


def _daily_transactions(conn: Connection, day: date, options: ReportOptions) -> str:
    made = _day_transactions(day)
    rows = conn.execute(
        sa.select(
            made.c.currency,
            made.c.type,
            made.c.status,
            sa.func.count().label("made"),
            sa.func.sum(made.c.amount_minor).label("total"),
        )
        .group_by(made.c.currency, made.c.type, made.c.status)
        .order_by(made.c.currency, made.c.type, made.c.status)
    ).all()
    return render_csv(
        DAILY_TRANSACTIONS_COLUMNS,
        [
            (
                day.isoformat(),
                row.currency,
                row.type,
                row.status,
                int(row.made),
                int(row.total),
                _major(int(row.total), row.currency),
            )
            for row in rows
        ],
    )


def _large_transactions(conn: Connection, day: date, options: ReportOptions) -> str:
    made = _day_transactions(day)
    threshold_minor = Money.from_major(str(options.large_transaction_usd), REFERENCE_CURRENCY).amount_minor
    rows = []
    for row in conn.execute(sa.select(made).order_by(made.c.created_at, made.c.id)):
        try:
            usd_minor = reference_minor(int(row.amount_minor), row.currency, options.rates)
        except FxRateMissing:
            # A currency the rates do not know cannot be compared; it is listed, to be looked at.
            usd_minor = None
        if usd_minor is not None and usd_minor < threshold_minor:
            continue
        rows.append(
            (
                day.isoformat(),
                row.created_at.isoformat(),
                row.id,
                row.type,
                row.status,
                row.currency,
                int(row.amount_minor),
                _major(int(row.amount_minor), row.currency),
                usd_minor,
                row.debited_user_id,
                row.credited_user_id,
            )
        )
    return render_csv(LARGE_TRANSACTIONS_COLUMNS, rows)


def _flagged_activity(conn: Connection, day: date, options: ReportOptions) -> str:
    start, end = day_bounds(day)
    review_rows = sa.select(
        payment_reviews.c.payment_id,
        payment_reviews.c.payer_id,
        payment_reviews.c.status,
        payment_reviews.c.fraud_score,
        payment_reviews.c.reasons,
        payment_reviews.c.decided_by,
        payment_reviews.c.decision_reason,
        payment_reviews.c.decided_at,
        payment_reviews.c.created_at,
        payments.c.currency,
        payments.c.amount_minor,
    ).select_from(payment_reviews.join(payments, payments.c.id == payment_reviews.c.payment_id))
    found: list[tuple] = []
    for row in conn.execute(
        review_rows.where(payment_reviews.c.created_at >= start, payment_reviews.c.created_at < end)
    ):
        found.append(
            (
                row.created_at,
                "hold",
                row.payment_id,
                row.payer_id,
                row.currency,
                int(row.amount_minor),
                row.fraud_score,
                ";".join(row.reasons or ()),
                row.status,
                "",
                "held for review",
            )
        )
    for row in conn.execute(
        review_rows.where(payment_reviews.c.decided_at >= start, payment_reviews.c.decided_at < end)
    ):
        found.append(
            (
                row.decided_at,
                "review_decision",
                row.payment_id,
                row.payer_id,
                row.currency,
                int(row.amount_minor),
                row.fraud_score,
                ";".join(row.reasons or ()),
                row.status,
                row.decided_by or "",
                row.decision_reason or "",
            )
        )
    declined = conn.execute(
        sa.select(payments).where(
            payments.c.failure_code == FailureCode.FRAUD_DECLINED.value,
            payments.c.updated_at >= start,
            payments.c.updated_at < end,
        )
    )
    for row in declined:
        found.append(
            (
                row.updated_at,
                "fraud_decline",
                row.id,
                row.payer_id,
                row.currency,
                int(row.amount_minor),
                row.fraud_score,
                "",
                row.status,
                "",
                row.failure_message or "",
            )
        )
    for row in conn.execute(sa.select(flagged_activity).where(flagged_activity.c.day == day)):
        found.append(
            (
                row.detected_at,
                "reconciliation",
                row.subject_id,
                "",
                row.currency,
                row.actual_minor,
                None,
                row.finding,
                "open",
                "",
                f"{row.detail} (expected {row.expected_minor}, found {row.actual_minor})",
            )
        )
    found.sort(key=lambda entry: (entry[0], entry[1], entry[2]))
    return render_csv(
        FLAGGED_ACTIVITY_COLUMNS,
        [(day.isoformat(), entry[0].isoformat(), *entry[1:]) for entry in found],
    )
