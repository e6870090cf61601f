"""The daily reconciliation: the ledger against itself, and the transaction history and the audit
chain against the ledger, for one UTC day.

Three findings, each a row of `flagged_activity` (once per day, finding, currency and subject,
however often the day is reconciled) and a `paystream.reconciliation.differences` sample that a
Datadog monitor alerts on:

- `ledger_unbalanced`: in a currency, the accounts' posted credits and debits do not sum to the
  same amount, or their pending ones do not (double entry says both always do);
- `projection_mismatch`: a payment credited to its payee that day, or a top-up funded that day,
  is missing from the transaction history, or is there with another amount, currency or an
  unfinished status;
- `audit_mismatch`: such a movement has no `payment.completed` / `topup.succeeded` record of that
  day in the audit chain (or one with another amount), or the chain records one that the
  ledger never made.

The ledger is the reference: its transfers are the money. Movements are matched by the ids that
the sagas give their transfers (`<payment>:credit`, `<topup>:fund`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.cloudevent import wire_type
from shared.adapters.audit_chain import AuditChain
from shared.adapters.tables import accounts, flagged_activity, transactions, transfers
from shared.ids import new_id
from shared.observability.metrics import emit
from shared.services.audit import day_records

__all__ = ["FINDINGS", "Finding", "Reconciliation", "day_bounds", "emit_differences", "reconcile_day"]

LEDGER_UNBALANCED = "ledger_unbalanced"
PROJECTION_MISMATCH = "projection_mismatch"
AUDIT_MISMATCH = "audit_mismatch"
FINDINGS = (LEDGER_UNBALANCED, PROJECTION_MISMATCH, AUDIT_MISMATCH)
_DETAIL_CHARS_MAX = 500


@dataclass(frozen=True)
class _Movement:
    """A kind of money movement that the ledger, the history and the chain each record."""

    kind: str
    transfer_suffix: str
    event_type: str
    id_field: str
    # The history row of the side credited, and the statuses it may have once the money moved.
    transaction_type: str
    finished_statuses: frozenset[str]


_MOVEMENTS = (
    _Movement(
        "payment",
        ":credit",
        "payment.completed",
        "payment_id",
        "payment",
        frozenset({"completed", "refunded", "partially_refunded"}),
    ),
    _Movement("topup", ":fund", "topup.succeeded", "topup_id", "topup", frozenset({"succeeded"})),
)


@dataclass(frozen=True)
class Finding:
    """One difference the reconciliation found."""

    finding: str
    currency: str
    subject_id: str
    expected_minor: int | None
    actual_minor: int | None
    detail: str


@dataclass(frozen=True)
class Reconciliation:
    """What reconciling a day found, and how many of those findings are new."""

    day: date
    movements_checked: int
    findings: tuple[Finding, ...]
    recorded: int

    @property
    def ok(self) -> bool:
        return not self.findings


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC day as [start, end)."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def reconcile_day(conn: Connection, chain: AuditChain, day: date, *, now: datetime) -> Reconciliation:
    """Reconcile `day`, record what differs in `flagged_activity` and emit its metric."""
    findings = list(_ledger_balance(conn))
    checked = 0
    chain_movements = _chain_movements(chain, day)
    for movement in _MOVEMENTS:
        ledger = _ledger_movements(conn, movement, day)
        checked += len(ledger)
        findings += _against_projection(conn, movement, ledger)
        findings += _against_chain(movement, ledger, chain_movements.get(movement.event_type, {}))
    recorded = _record(conn, day, findings, now=now)
    return Reconciliation(day=day, movements_checked=checked, findings=tuple(findings), recorded=recorded)


def emit_differences(result: Reconciliation) -> None:
    """Send the day's differences per finding (zero included, so the monitor sees a value every
    day): once the findings are committed."""
    for finding in FINDINGS:
        emit(
            "paystream.reconciliation.differences",
            sum(1 for f in result.findings if f.finding == finding),
            {"finding": finding},
        )


def _ledger_balance(conn: Connection) -> Iterable[Finding]:
    rows = conn.execute(
        sa.select(
            accounts.c.currency,
            sa.func.sum(accounts.c.credits_posted - accounts.c.debits_posted).label("posted"),
            sa.func.sum(accounts.c.credits_pending - accounts.c.debits_pending).label("pending"),
        ).group_by(accounts.c.currency)
    ).all()
    for row in rows:
        currency: str = row.currency
        posted, pending = int(row.posted or 0), int(row.pending or 0)
        if posted != 0:
            yield Finding(LEDGER_UNBALANCED, currency, "", 0, posted, "posted credits minus debits over all accounts")
        if pending != 0:
            yield Finding(
                LEDGER_UNBALANCED,
                currency,
                "pending",
                0,
                pending,
                "pending credits minus debits over all accounts",
            )


def _ledger_movements(conn: Connection, movement: _Movement, day: date) -> dict[str, tuple[str, int]]:
    """The movements of `day` in the ledger: subject id -> (currency, amount)."""
    start, end = day_bounds(day)
    rows = conn.execute(
        sa.select(transfers.c.id, transfers.c.currency, transfers.c.amount_minor).where(
            transfers.c.id.like(f"%{movement.transfer_suffix}"),
            transfers.c.created_at >= start,
            transfers.c.created_at < end,
        )
    ).all()
    found: dict[str, tuple[str, int]] = {}
    for row in rows:
        subject: str = row.id.removesuffix(movement.transfer_suffix)
        if subject.startswith(movement.kind[:3]):  # `pay_…:credit`, `top_…:fund`; not a refund's
            found[subject] = (row.currency, int(row.amount_minor))
    return found


def _against_projection(conn: Connection, movement: _Movement, ledger: dict[str, tuple[str, int]]) -> Iterable[Finding]:
    history: dict[str, tuple[str, int, str]] = {}
    subjects = sorted(ledger)
    for start in range(0, len(subjects), 500):
        rows = conn.execute(
            sa.select(transactions.c.id, transactions.c.currency, transactions.c.amount_minor, transactions.c.status)
            .where(transactions.c.id.in_(subjects[start : start + 500]))
            .where(transactions.c.type == movement.transaction_type)
            .where(transactions.c.direction == "credit")
        ).all()
        history.update({row[0]: (row[1], int(row[2]), row[3]) for row in rows})
    for subject, (currency, amount) in sorted(ledger.items()):
        seen = history.get(subject)
        if seen is None:
            yield Finding(
                PROJECTION_MISMATCH, currency, subject, amount, None, f"the {movement.kind} is not in the history"
            )
        elif seen[:2] != (currency, amount) or seen[2] not in movement.finished_statuses:
            yield Finding(
                PROJECTION_MISMATCH,
                currency,
                subject,
                amount,
                seen[1],
                f"the history shows {seen[1]} {seen[0]} {seen[2]}",
            )


def _chain_movements(chain: AuditChain, day: date) -> dict[str, dict[str, tuple[str, int]]]:
    """The money events of `day` in the audit chain: short type -> subject id -> (currency, amount)."""
    # The audit function keeps the short type (`payment.completed`); an event appended as it
    # travels on the bus carries the wire type. Both name the same event.
    wanted = {movement.event_type: movement for movement in _MOVEMENTS}
    wanted |= {wire_type(movement.event_type): movement for movement in _MOVEMENTS}
    found: dict[str, dict[str, tuple[str, int]]] = {}
    for record in day_records(chain, day):
        movement = wanted.get(record.event_type)
        if movement is None:
            continue
        data = json.loads(record.event_json).get("data") or {}
        subject = data.get(movement.id_field)
        if isinstance(subject, str):
            found.setdefault(movement.event_type, {})[subject] = (str(data.get("currency")), int(data["amount_minor"]))
    return found


def _against_chain(
    movement: _Movement, ledger: dict[str, tuple[str, int]], chain: dict[str, tuple[str, int]]
) -> Iterable[Finding]:
    for subject in sorted(set(ledger) | set(chain)):
        in_ledger, in_chain = ledger.get(subject), chain.get(subject)
        if in_ledger == in_chain:
            continue
        currency = (in_ledger or in_chain or ("", 0))[0]
        if in_chain is None:
            detail = f"no {movement.event_type} record of the day in the audit chain"
        elif in_ledger is None:
            detail = f"the audit chain records {movement.event_type}, the ledger no such movement that day"
        else:
            detail = f"the audit chain records {in_chain[1]} {in_chain[0]}"
        yield Finding(
            AUDIT_MISMATCH,
            currency,
            subject,
            in_ledger[1] if in_ledger else None,
            in_chain[1] if in_chain else None,
            detail,
        )


def _record(conn: Connection, day: date, findings: list[Finding], *, now: datetime) -> int:
    """Insert the findings not recorded yet for `day`; how many were new."""
    existing = {
        tuple(row)
        for row in conn.execute(
            sa.select(flagged_activity.c.finding, flagged_activity.c.currency, flagged_activity.c.subject_id).where(
                flagged_activity.c.day == day
            )
        )
    }
    new = [f for f in findings if (f.finding, f.currency, f.subject_id) not in existing]
    if new:
        conn.execute(
            flagged_activity.insert(),
            [
                {
                    "id": new_id("flg"),
                    "day": day,
                    "finding": f.finding,
                    "currency": f.currency,
                    "subject_id": f.subject_id,
                    "expected_minor": f.expected_minor,
                    "actual_minor": f.actual_minor,
                    "detail": f.detail[:_DETAIL_CHARS_MAX],
                    "detected_at": now,
                }
                for f in new
            ],
        )
    return len(new)
