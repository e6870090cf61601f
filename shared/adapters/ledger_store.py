"""The double-entry ledger on SQL: accounts and transfers in the `accounts` and `transfers` tables.

The rules live in shared.domain.ledger; this module stores their results. Every method takes a
SQLAlchemy Connection inside the caller's transaction and never commits, because a ledger write
must commit together with the payment state change and the outbox row that announce it.

Creating a transfer is where the two databases differ:

- PostgreSQL: one round trip, ``SELECT paystream_create_transfer(...)``. The PL/pgSQL function
  (installed by migration 0001) locks the pending transfer and the two accounts in a fixed order,
  runs decide()'s checks in decide()'s order, applies the transfer, re-checks the floors and
  returns the outcome. pg8000 is CPU-bound on round trips, so this is what sets throughput.
- SQLite: the same in Python with the domain's decide() and apply(). The engine begins every
  transaction with BEGIN IMMEDIATE, so the read-decide-write sequence runs serialized.

Everything else (accounts, reads, the expiry sweep, totals) is one code path on both databases.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from shared.adapters.database import is_postgresql, sqlstate
from shared.adapters.tables import Timestamp, accounts, transfers
from shared.domain.ledger import (
    Account,
    AccountFlags,
    LedgerInvariantViolated,
    PendingStatus,
    StoredTransfer,
    Transfer,
    TransferFlags,
    TransferOutcome,
    apply,
    check_account_invariants,
    decide,
    expire_pending,
    is_expired,
)

__all__ = [
    "EXPIRY_BATCH_MAX",
    "LEDGER_INVARIANT_SQLSTATE",
    "LedgerStore",
    "SYSTEM_ACCOUNT_KINDS",
    "WALLET_ACCOUNT_KIND",
    "system_account_id",
    "wallet_account_id",
]

WALLET_ACCOUNT_KIND = "wallet"
SYSTEM_ACCOUNT_KINDS = ("funding", "clearing", "payouts", "fx", "fees")

# Funding goes negative as money enters the platform, and payouts, FX and fees are mirrors of
# flows that start elsewhere, so they have no floor. Clearing only ever passes on what it holds.
_SYSTEM_ACCOUNT_FLAGS: Mapping[str, AccountFlags] = {
    "funding": AccountFlags.NONE,
    "clearing": AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    "payouts": AccountFlags.NONE,
    "fx": AccountFlags.NONE,
    "fees": AccountFlags.NONE,
}
_ACCOUNT_KINDS = frozenset((WALLET_ACCOUNT_KIND, *SYSTEM_ACCOUNT_KINDS))

# The SQLSTATE that paystream_create_transfer() raises when a balance would break its floor after
# its checks said OK: a bug, reported as LedgerInvariantViolated. Migration 0001 spells it too.
LEDGER_INVARIANT_SQLSTATE = "PSL01"

# At most this many reservations are released per expire_pending_transfers() call, so that one
# sweep holds a bounded number of row locks; the sweep runs again for the rest.
EXPIRY_BATCH_MAX = 500

# Casts pick the function's exact signature: pg8000 sends Python ints as int8 and strings untyped.
_CREATE_TRANSFER_STATEMENT = sa.text(
    "SELECT paystream_create_transfer("
    "CAST(:id AS varchar), CAST(:debit_account_id AS varchar), "
    "CAST(:credit_account_id AS varchar), CAST(:amount_minor AS bigint), "
    "CAST(:currency AS varchar), CAST(:flags AS integer), CAST(:pending_id AS varchar), "
    "CAST(:timeout_seconds AS integer), CAST(:now AS timestamptz))"
).bindparams(sa.bindparam("now", type_=Timestamp()))


def wallet_account_id(user_id: str, currency: str) -> str:
    """The ledger account id of a user's wallet in one currency."""
    return f"wallet:{user_id}:{currency}"


def system_account_id(currency: str, kind: str) -> str:
    """The ledger account id of one of the platform's accounts (a SYSTEM_ACCOUNT_KINDS kind)."""
    return f"system:{currency}:{kind}"


class LedgerStore:
    """Accounts and transfers on SQL. Stateless: every method works on the caller's connection."""

    def create_account(
        self,
        conn: sa.Connection,
        account: Account,
        *,
        kind: str,
        user_id: str | None,
        now: datetime,
    ) -> bool:
        """Store a new, empty account; False (and nothing changes) if its id is already taken."""
        if kind not in _ACCOUNT_KINDS:
            raise ValueError(f"unknown account kind {kind!r}")
        _require_aware(now)
        # An account born with balances would unbalance its currency's books.
        if (
            account.debits_pending
            or account.debits_posted
            or account.credits_pending
            or account.credits_posted
        ):
            raise ValueError(f"account {account.id!r} must be created with zero balances")
        check_account_invariants(account)
        statement = (
            _insert(conn)
            .values(
                id=account.id,
                currency=account.currency,
                flags=int(account.flags),
                user_id=user_id,
                kind=kind,
                debits_pending=0,
                debits_posted=0,
                credits_pending=0,
                credits_posted=0,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
        return conn.execute(statement).rowcount == 1

    def ensure_wallet(
        self, conn: sa.Connection, user_id: str, currency: str, now: datetime
    ) -> Account:
        """The user's wallet in `currency`, created (never overdrawable) if it does not exist."""
        account_id = wallet_account_id(user_id, currency)
        wanted = Account(
            id=account_id, currency=currency, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        )
        # The wallet usually exists: one read, and a write only the first time.
        account = self.get_account(conn, account_id)
        if account is None:
            self.create_account(conn, wanted, kind=WALLET_ACCOUNT_KIND, user_id=user_id, now=now)
            account = self.get_account(conn, account_id)
        _require_same_shape(account, wanted)
        return account

    def ensure_system_accounts(
        self, conn: sa.Connection, currency: str, now: datetime
    ) -> dict[str, Account]:
        """The platform's accounts in `currency` by kind, creating the missing ones."""
        _require_aware(now)
        wanted = {
            kind: Account(
                id=system_account_id(currency, kind),
                currency=currency,
                flags=_SYSTEM_ACCOUNT_FLAGS[kind],
            )
            for kind in SYSTEM_ACCOUNT_KINDS
        }
        for account in wanted.values():
            check_account_invariants(account)
        conn.execute(
            _insert(conn)
            .values(
                [
                    {
                        "id": account.id,
                        "currency": account.currency,
                        "flags": int(account.flags),
                        "user_id": None,
                        "kind": kind,
                        "debits_pending": 0,
                        "debits_posted": 0,
                        "credits_pending": 0,
                        "credits_posted": 0,
                        "created_at": now,
                    }
                    for kind, account in wanted.items()
                ]
            )
            .on_conflict_do_nothing()
        )
        stored = self._accounts_by_id(conn, [account.id for account in wanted.values()])
        result: dict[str, Account] = {}
        for kind, account in wanted.items():
            found = stored.get(account.id)
            _require_same_shape(found, account)
            result[kind] = found
        return result

    def get_account(self, conn: sa.Connection, account_id: str) -> Account | None:
        """The account with this id, or None."""
        row = conn.execute(sa.select(accounts).where(accounts.c.id == account_id)).first()
        return None if row is None else _account_from_row(row)

    def wallets_of(self, conn: sa.Connection, user_id: str) -> list[Account]:
        """The user's wallet accounts, ordered by currency."""
        rows = conn.execute(
            sa.select(accounts)
            .where(accounts.c.user_id == user_id, accounts.c.kind == WALLET_ACCOUNT_KIND)
            .order_by(accounts.c.currency)
        )
        return [_account_from_row(row) for row in rows]

    def get_transfer(self, conn: sa.Connection, transfer_id: str) -> StoredTransfer | None:
        """The stored transfer with this id, or None."""
        row = conn.execute(sa.select(transfers).where(transfers.c.id == transfer_id)).first()
        return None if row is None else _stored_transfer_from_row(row)

    def create_transfer(
        self, conn: sa.Connection, transfer: Transfer, now: datetime
    ) -> TransferOutcome:
        """Create `transfer` at `now` unless decide() refuses it; return the outcome.

        Only OK changes anything. Expected refusals are outcomes; an exception means a bug
        (LedgerInvariantViolated) or a broken connection.
        """
        _require_aware(now)
        if is_postgresql(conn):
            return self._create_transfer_in_one_round_trip(conn, transfer, now)
        return self._create_transfer_in_python(conn, transfer, now)

    def expire_pending_transfers(
        self, conn: sa.Connection, now: datetime, *, limit: int = EXPIRY_BATCH_MAX
    ) -> list[str]:
        """Release up to `limit` reservations whose timeout has passed; return their ids.

        A pending transfer past its timeout can no longer be posted or voided, so without this
        sweep its funds would stay reserved for ever. Released ones get pending_status EXPIRED and
        their reserved amounts leave both accounts' *_pending totals. Soonest expiry first.
        """
        _require_aware(now)
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        candidates = (
            sa.select(transfers)
            .where(
                transfers.c.pending_status == PendingStatus.PENDING.value,
                transfers.c.expires_at <= now,
            )
            .order_by(transfers.c.expires_at, transfers.c.id)
            .limit(limit)
            # A reservation being posted or voided right now is locked: leave it to that
            # transfer, which will see it expired or settle it first.
            .with_for_update(skip_locked=True)
        )
        due = [
            stored
            for stored in map(_stored_transfer_from_row, conn.execute(candidates))
            if is_expired(stored, now)
        ]
        if not due:
            return []
        account_ids = {stored.transfer.debit_account_id for stored in due} | {
            stored.transfer.credit_account_id for stored in due
        }
        # Same lock order as paystream_create_transfer(): transfers first, then accounts by id.
        before = self._accounts_by_id(conn, account_ids, lock=True)
        after = dict(before)
        for stored in due:
            updated, new_debit, new_credit = expire_pending(
                stored,
                debit=after[stored.transfer.debit_account_id],
                credit=after[stored.transfer.credit_account_id],
                now=now,
            )
            after[new_debit.id] = new_debit
            after[new_credit.id] = new_credit
            self._set_pending_status(conn, stored.transfer.id, updated.pending_status)
        for account_id in sorted(account_ids):
            _write_balances(conn, before=before[account_id], after=after[account_id])
        return [stored.transfer.id for stored in due]

    def totals_by_currency(self, conn: sa.Connection) -> dict[str, tuple[int, int]]:
        """Per currency: (Σ credits_posted − debits_posted, Σ credits_pending − debits_pending).

        Both are zero in a consistent ledger, since every transfer credits what it debits.
        """
        rows = conn.execute(
            sa.select(
                accounts.c.currency,
                sa.func.sum(accounts.c.credits_posted - accounts.c.debits_posted),
                sa.func.sum(accounts.c.credits_pending - accounts.c.debits_pending),
            )
            .group_by(accounts.c.currency)
            .order_by(accounts.c.currency)
        )
        # PostgreSQL sums BIGINT into NUMERIC, which pg8000 returns as Decimal: back to int.
        return {currency: (int(posted), int(pending)) for currency, posted, pending in rows}

    def check_invariants(self, conn: sa.Connection) -> None:
        """Raise LedgerInvariantViolated unless every currency balances and no floor is broken."""
        for currency, (posted_net_minor, pending_net_minor) in self.totals_by_currency(
            conn
        ).items():
            if posted_net_minor or pending_net_minor:
                raise LedgerInvariantViolated(
                    f"{currency}: posted totals differ by {posted_net_minor}, "
                    f"pending totals by {pending_net_minor}"
                )
        debits_floor = accounts.c.flags.op("&")(int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS))
        credits_floor = accounts.c.flags.op("&")(int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS))
        broken = (
            conn.execute(
                sa.select(accounts.c.id)
                .where(
                    sa.or_(
                        accounts.c.debits_pending < 0,
                        accounts.c.debits_posted < 0,
                        accounts.c.credits_pending < 0,
                        accounts.c.credits_posted < 0,
                        sa.and_(
                            debits_floor != 0,
                            accounts.c.debits_pending + accounts.c.debits_posted
                            > accounts.c.credits_posted,
                        ),
                        sa.and_(
                            credits_floor != 0,
                            accounts.c.credits_pending + accounts.c.credits_posted
                            > accounts.c.debits_posted,
                        ),
                    )
                )
                .order_by(accounts.c.id)
                .limit(_BROKEN_ACCOUNTS_REPORTED_MAX)
            )
            .scalars()
            .all()
        )
        if broken:
            raise LedgerInvariantViolated(f"accounts breaking their floor: {', '.join(broken)}")

    # -- PostgreSQL ---------------------------------------------------------------------------

    def _create_transfer_in_one_round_trip(
        self, conn: sa.Connection, transfer: Transfer, now: datetime
    ) -> TransferOutcome:
        try:
            value = conn.execute(
                _CREATE_TRANSFER_STATEMENT,
                {
                    "id": transfer.id,
                    "debit_account_id": transfer.debit_account_id,
                    "credit_account_id": transfer.credit_account_id,
                    "amount_minor": transfer.amount_minor,
                    "currency": transfer.currency,
                    "flags": int(transfer.flags),
                    "pending_id": transfer.pending_id,
                    "timeout_seconds": transfer.timeout_seconds,
                    "now": now,
                },
            ).scalar_one()
        except sa_exc.DBAPIError as error:
            if sqlstate(error) == LEDGER_INVARIANT_SQLSTATE:
                raise LedgerInvariantViolated(str(error.orig)) from error
            raise
        # An unknown string here means the function and the enum disagree: ValueError, a bug.
        return TransferOutcome(value)

    # -- SQLite (and any database without the function) ---------------------------------------

    def _create_transfer_in_python(
        self, conn: sa.Connection, transfer: Transfer, now: datetime
    ) -> TransferOutcome:
        transfer_ids = [transfer.id]
        if transfer.pending_id is not None:
            transfer_ids.append(transfer.pending_id)
        stored = self._transfers_by_id(conn, transfer_ids)
        pending = stored.get(transfer.pending_id) if transfer.pending_id is not None else None
        found = self._accounts_by_id(conn, {transfer.debit_account_id, transfer.credit_account_id})
        debit = found.get(transfer.debit_account_id)
        credit = found.get(transfer.credit_account_id)
        outcome = decide(
            transfer,
            existing=stored.get(transfer.id),
            pending=pending,
            debit=debit,
            credit=credit,
            now=now,
        )
        if outcome is not TransferOutcome.OK:
            return outcome
        if debit is None or credit is None:
            raise LedgerInvariantViolated("decide() answered OK without both accounts")
        # apply() checks the new balances against the floors before anything is written.
        new_debit, new_credit = apply(transfer, debit=debit, credit=credit, pending=pending)
        is_pending = TransferFlags.PENDING in transfer.flags
        conn.execute(
            sa.insert(transfers).values(
                id=transfer.id,
                debit_account_id=transfer.debit_account_id,
                credit_account_id=transfer.credit_account_id,
                amount_minor=transfer.amount_minor,
                currency=transfer.currency,
                flags=int(transfer.flags),
                pending_id=transfer.pending_id,
                pending_status=PendingStatus.PENDING.value if is_pending else None,
                timeout_seconds=transfer.timeout_seconds,
                created_at=now,
                expires_at=(
                    now + timedelta(seconds=transfer.timeout_seconds)
                    if is_pending and transfer.timeout_seconds > 0
                    else None
                ),
            )
        )
        _write_balances(conn, before=debit, after=new_debit)
        _write_balances(conn, before=credit, after=new_credit)
        if pending is not None:
            settled = (
                PendingStatus.POSTED
                if TransferFlags.POST_PENDING_TRANSFER in transfer.flags
                else PendingStatus.VOIDED
            )
            self._set_pending_status(conn, pending.transfer.id, settled)
        return TransferOutcome.OK

    # -- shared helpers -----------------------------------------------------------------------

    def _accounts_by_id(
        self, conn: sa.Connection, account_ids: Collection[str], *, lock: bool = False
    ) -> dict[str, Account]:
        statement = sa.select(accounts).where(accounts.c.id.in_(sorted(account_ids)))
        if lock:
            # Lock in byte order of ids, the order paystream_create_transfer() uses, so that
            # lockers never wait on each other in a cycle. (SQLite ignores FOR UPDATE: its
            # transactions are serialized by BEGIN IMMEDIATE.)
            statement = statement.order_by(_byte_order(conn, accounts.c.id)).with_for_update()
        return {row.id: _account_from_row(row) for row in conn.execute(statement)}

    def _transfers_by_id(
        self, conn: sa.Connection, transfer_ids: Iterable[str]
    ) -> dict[str, StoredTransfer]:
        rows = conn.execute(sa.select(transfers).where(transfers.c.id.in_(list(transfer_ids))))
        return {row.id: _stored_transfer_from_row(row) for row in rows}

    def _set_pending_status(
        self, conn: sa.Connection, transfer_id: str, status: PendingStatus | None
    ) -> None:
        if status is None:
            raise LedgerInvariantViolated(f"transfer {transfer_id!r} would lose its pending status")
        result = conn.execute(
            sa.update(transfers)
            .where(
                transfers.c.id == transfer_id,
                transfers.c.pending_status == PendingStatus.PENDING.value,
            )
            .values(pending_status=status.value)
        )
        if result.rowcount != 1:
            raise LedgerInvariantViolated(
                f"transfer {transfer_id!r} stopped being pending while it was being settled"
            )


# A broken ledger is reported with at most this many account ids; the rest are alike.
_BROKEN_ACCOUNTS_REPORTED_MAX = 20


def _write_balances(conn: sa.Connection, *, before: Account, after: Account) -> None:
    """Write `after`'s totals over the row, provided it still holds `before`'s.

    The condition turns a lost update (someone else wrote the row between our read and this
    write, which the transaction's locks should make impossible) into an error instead of money.
    """
    if before.id != after.id:
        raise LedgerInvariantViolated(f"cannot write {after.id!r} over {before.id!r}")
    check_account_invariants(after)
    if after == before:
        return
    result = conn.execute(
        sa.update(accounts)
        .where(
            accounts.c.id == before.id,
            accounts.c.debits_pending == before.debits_pending,
            accounts.c.debits_posted == before.debits_posted,
            accounts.c.credits_pending == before.credits_pending,
            accounts.c.credits_posted == before.credits_posted,
        )
        .values(
            debits_pending=after.debits_pending,
            debits_posted=after.debits_posted,
            credits_pending=after.credits_pending,
            credits_posted=after.credits_posted,
        )
    )
    if result.rowcount != 1:
        raise LedgerInvariantViolated(
            f"account {before.id!r} changed under a ledger write: is the transaction serialized?"
        )


def _insert(conn: sa.Connection) -> Any:
    # Both dialects spell INSERT … ON CONFLICT DO NOTHING; SQLAlchemy exposes it per dialect.
    if is_postgresql(conn):
        return postgresql.insert(accounts)
    return sqlite.insert(accounts)


def _byte_order(conn: sa.Connection, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    # SQLite compares text bytewise already; PostgreSQL needs the "C" collation for that.
    return column.collate("C") if is_postgresql(conn) else column


def _require_aware(now: datetime) -> None:
    # A naive time is ambiguous, and SQLite would store it as if it were UTC.
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")


def _require_same_shape(found: Account | None, wanted: Account) -> None:
    if found is None:
        raise LedgerInvariantViolated(f"account {wanted.id!r} is missing right after creation")
    if found.currency != wanted.currency or found.flags != wanted.flags:
        raise LedgerInvariantViolated(
            f"account {wanted.id!r} exists as {found.currency}/{found.flags!r}, "
            f"expected {wanted.currency}/{wanted.flags!r}"
        )


def _account_from_row(row: sa.Row[Any]) -> Account:
    return Account(
        id=row.id,
        currency=row.currency,
        flags=AccountFlags(row.flags),
        debits_pending=int(row.debits_pending),
        debits_posted=int(row.debits_posted),
        credits_pending=int(row.credits_pending),
        credits_posted=int(row.credits_posted),
    )


def _stored_transfer_from_row(row: sa.Row[Any]) -> StoredTransfer:
    return StoredTransfer(
        transfer=Transfer(
            id=row.id,
            debit_account_id=row.debit_account_id,
            credit_account_id=row.credit_account_id,
            amount_minor=int(row.amount_minor),
            currency=row.currency,
            flags=TransferFlags(row.flags),
            pending_id=row.pending_id,
            timeout_seconds=int(row.timeout_seconds),
        ),
        pending_status=None if row.pending_status is None else PendingStatus(row.pending_status),
        created_at=row.created_at,
    )
