"""The double-entry ledger on SQL: accounts and transfers in the `accounts` and `transfers` tables.

The rules live in shared.domain.ledger; this module stores their results. Every method takes a
SQLAlchemy Connection inside the caller's transaction and never commits, because a ledger write
must commit together with the payment state change and the outbox row that announce it.

Creating transfers is where the two databases differ:

- PostgreSQL: one round trip per call. ``SELECT paystream_create_transfer(...)`` for one transfer
  and ``SELECT paystream_create_transfers(...)`` (arrays) for a batch: the PL/pgSQL functions
  (migrations 0002 and 0007) lock the rows the call may touch in one global order (pending
  transfers, then accounts, hot accounts last), run decide()'s checks in decide()'s order, apply,
  re-check the floors, append each account's history entry and return the outcomes. A LINKED
  chain runs in a sub-block, so a failed chain rolls back only itself. A batch locks its hot
  accounts (the platform's, a merchant's) only once a transfer needs their balances, or at its
  end, so that batches through one hot account hold its lock briefly. pg8000 is CPU-bound on
  round trips, so this is what sets throughput.
- SQLite: the rows the batch touches are loaded into a shared.domain.ledger.InMemoryLedger, the
  batch runs there with the domain's rules, and what changed is written back. The engine begins
  every transaction with BEGIN IMMEDIATE, so the read-decide-write sequence runs serialized.

Every change to an account's balances appends one entry to `account_history` holding the balances
after it; the balances themselves stay on the account row, read in constant time.

Everything else (accounts, reads, the expiry sweep, totals) is one code path on both databases.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from shared.adapters.database import as_utc, execute_prepared, is_postgresql, sqlstate
from shared.adapters.tables import account_history, accounts, transfers
from shared.domain.ledger import (
    TRANSFER_BATCH_MAX,
    Account,
    AccountFlags,
    AccountHistoryEntry,
    HistoryCause,
    InMemoryLedger,
    LedgerInvariantViolated,
    PendingStatus,
    StoredTransfer,
    Transfer,
    TransferFlags,
    TransferOutcome,
    check_account_invariants,
    check_batch_size,
    is_expired,
    require_history_page,
)

__all__ = [
    "EXPIRY_BATCH_MAX",
    "LEDGER_INVARIANT_SQLSTATE",
    "TRANSFER_BATCH_MAX",
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

# Casts pick the functions' exact signatures. Run through execute_prepared(): one round trip.
_CREATE_TRANSFER_SQL = (
    "SELECT paystream_create_transfer($1::varchar, $2::varchar, $3::varchar, $4::bigint, "
    "$5::varchar, $6::integer, $7::varchar, $8::integer, $9::timestamptz)"
)
_CREATE_TRANSFERS_SQL = (
    "SELECT paystream_create_transfers($1::varchar[], $2::varchar[], $3::varchar[], "
    "$4::bigint[], $5::varchar[], $6::integer[], $7::varchar[], $8::integer[], $9::timestamptz)"
)

# The global lock order of the ledger functions (migration 0007): pending transfers, then accounts
# that are not hot, then hot accounts, each by id in byte order.
_LOCK_TRANSFERS_SQL = 'SELECT 1 FROM transfers WHERE id = ANY($1::varchar[]) ORDER BY id COLLATE "C" FOR UPDATE'
_LOCK_ACCOUNTS_SQL = 'SELECT 1 FROM accounts WHERE id = ANY($1::varchar[]) ORDER BY hot, id COLLATE "C" FOR UPDATE'


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
        hot: bool = False,
    ) -> bool:
        """Store a new, empty account; False (and nothing changes) if its id is already taken.

        `hot`: many transfers will touch it (a merchant); the ledger then holds its lock as
        briefly as it can. The platform's own accounts are hot (ensure_system_accounts)."""
        if kind not in _ACCOUNT_KINDS:
            raise ValueError(f"unknown account kind {kind!r}")
        _require_aware(now)
        # An account born with balances would unbalance its currency's books.
        if account.debits_pending or account.debits_posted or account.credits_pending or account.credits_posted:
            raise ValueError(f"account {account.id!r} must be created with zero balances")
        check_account_invariants(account)
        row = _new_account_row(account, kind, user_id, now, hot)
        return conn.execute(_insert_accounts(conn), row).rowcount == 1

    def ensure_wallet(self, conn: sa.Connection, user_id: str, currency: str, now: datetime) -> Account:
        """The user's wallet in `currency`, created (never overdrawable) if it does not exist."""
        account_id = wallet_account_id(user_id, currency)
        wanted = Account(id=account_id, currency=currency, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
        # The wallet usually exists: one read, and a write only the first time.
        account = self.get_account(conn, account_id)
        if account is None:
            self.create_account(conn, wanted, kind=WALLET_ACCOUNT_KIND, user_id=user_id, now=now)
            account = self.get_account(conn, account_id)
        return _require_same_shape(account, wanted)

    def ensure_system_accounts(self, conn: sa.Connection, currency: str, now: datetime) -> dict[str, Account]:
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
            _insert_accounts(conn),
            [_new_account_row(account, kind, None, now, True) for kind, account in wanted.items()],
        )
        stored, _ = self._accounts_by_id(conn, [account.id for account in wanted.values()])
        result: dict[str, Account] = {}
        for kind, account in wanted.items():
            found = stored.get(account.id)
            result[kind] = _require_same_shape(found, account)
        return result

    def get_account(self, conn: sa.Connection, account_id: str) -> Account | None:
        """The account with this id, or None."""
        row = conn.execute(_ACCOUNT_BY_ID, {"account_id": account_id}).first()
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

    def lock_for(self, conn: sa.Connection, transfers_to_come: Sequence[Transfer]) -> None:
        """Lock, in the global order, every row the ledger calls for `transfers_to_come` will lock.

        Each call locks its own rows in that order; a transaction that makes several calls takes
        them all first, or it could hold a hot account from one call while waiting for another
        call's wallet that a concurrent transfer holds while waiting for the hot account. On
        SQLite a write transaction already holds the whole database: nothing to do.
        """
        if not is_postgresql(conn):
            return
        pending_ids = sorted({t.pending_id for t in transfers_to_come if t.pending_id is not None})
        account_ids = sorted({a for t in transfers_to_come for a in (t.debit_account_id, t.credit_account_id)})
        if pending_ids:
            execute_prepared(conn, _LOCK_TRANSFERS_SQL, (pending_ids,))
        execute_prepared(conn, _LOCK_ACCOUNTS_SQL, (account_ids,))

    def create_transfer(self, conn: sa.Connection, transfer: Transfer, now: datetime) -> TransferOutcome:
        """Create `transfer` at `now` unless decide() refuses it; return the outcome.

        The batch of one (a LINKED transfer alone is LINKED_EVENT_CHAIN_OPEN). Only OK changes
        anything. Expected refusals are outcomes; an exception means a bug
        (LedgerInvariantViolated) or a broken connection.
        """
        _require_aware(now)
        if is_postgresql(conn):
            # Scalars rather than one-element arrays: the same answer, less to encode and parse.
            value = _call_ledger_function(
                conn,
                _CREATE_TRANSFER_SQL,
                (
                    transfer.id,
                    transfer.debit_account_id,
                    transfer.credit_account_id,
                    transfer.amount_minor,
                    transfer.currency,
                    int(transfer.flags),
                    transfer.pending_id,
                    transfer.timeout_seconds,
                    as_utc(now),
                ),
            )
            # An unknown string means the function and the enum disagree: ValueError, a bug.
            return TransferOutcome(value)
        return self._create_transfers_in_python(conn, [transfer], now)[0]

    def create_transfers(
        self, conn: sa.Connection, transfers_batch: Sequence[Transfer], now: datetime
    ) -> list[TransferOutcome]:
        """Create up to TRANSFER_BATCH_MAX transfers in order; one outcome per transfer, in order.

        Each transfer sees the effects of the ones before it. LINKED chains succeed or fail as a
        whole (shared.domain.ledger.create_transfers_in_chains); a failed chain or a refused
        transfer leaves the rest of the batch going. On PostgreSQL the batch is one round trip.
        A batch over TRANSFER_BATCH_MAX raises ValueError before anything is sent.
        """
        _require_aware(now)
        check_batch_size(transfers_batch)
        if not transfers_batch:
            return []
        if not is_postgresql(conn):
            return self._create_transfers_in_python(conn, transfers_batch, now)
        values = _call_ledger_function(
            conn,
            _CREATE_TRANSFERS_SQL,
            (
                [transfer.id for transfer in transfers_batch],
                [transfer.debit_account_id for transfer in transfers_batch],
                [transfer.credit_account_id for transfer in transfers_batch],
                [transfer.amount_minor for transfer in transfers_batch],
                [transfer.currency for transfer in transfers_batch],
                [int(transfer.flags) for transfer in transfers_batch],
                [transfer.pending_id for transfer in transfers_batch],
                [transfer.timeout_seconds for transfer in transfers_batch],
                as_utc(now),
            ),
        )
        if len(values) != len(transfers_batch):
            raise LedgerInvariantViolated(f"{len(transfers_batch)} transfers sent, {len(values)} outcomes returned")
        return [TransferOutcome(value) for value in values]

    def account_history(
        self, conn: sa.Connection, account_id: str, *, limit: int, before: int | None = None
    ) -> list[AccountHistoryEntry]:
        """Up to `limit` (at most HISTORY_PAGE_MAX) history entries of the account, newest first.

        `before` is a sequence: only older entries are returned, so the last entry's sequence of
        one page is the `before` of the next.
        """
        require_history_page(limit, before)
        statement = (
            sa.select(account_history)
            .where(account_history.c.account_id == account_id)
            .order_by(account_history.c.sequence.desc())
            .limit(limit)
        )
        if before is not None:
            statement = statement.where(account_history.c.sequence < before)
        return [_history_entry_from_row(row) for row in conn.execute(statement)]

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
            .order_by(transfers.c.expires_at, _byte_order(conn, transfers.c.id))
            .limit(limit)
            # A reservation being posted or voided right now is locked: leave it to that
            # transfer, which will see it expired or settle it first.
            .with_for_update(skip_locked=True)
        )
        due = [stored for stored in map(_stored_transfer_from_row, conn.execute(candidates)) if is_expired(stored, now)]
        if not due:
            return []
        account_ids = {stored.transfer.debit_account_id for stored in due} | {
            stored.transfer.credit_account_id for stored in due
        }
        # Same lock order as the ledger functions: transfers first, then accounts (hot ones last).
        before, sequences = self._accounts_by_id(conn, account_ids, lock=True)
        scratch = InMemoryLedger.holding(before.values(), due, history_sequences=sequences)
        expired_ids = scratch.expire_pending_transfers(now)
        if sorted(expired_ids) != sorted(stored.transfer.id for stored in due):
            raise LedgerInvariantViolated("the expiry sweep released other transfers than due")
        self._write_back(conn, scratch, before, {stored.transfer.id: stored for stored in due})
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
        ).tuples()  # SQLAlchemy's typing of a row that is unpacked (the rows are the same)
        # PostgreSQL sums BIGINT into NUMERIC, which pg8000 returns as Decimal: back to int.
        return {currency: (int(posted), int(pending)) for currency, posted, pending in rows}

    def check_invariants(self, conn: sa.Connection) -> None:
        """Raise LedgerInvariantViolated unless every currency balances and no floor is broken."""
        for currency, (posted_net_minor, pending_net_minor) in self.totals_by_currency(conn).items():
            if posted_net_minor or pending_net_minor:
                raise LedgerInvariantViolated(
                    f"{currency}: posted totals differ by {posted_net_minor}, pending totals by {pending_net_minor}"
                )
        debits_floor = accounts.c.flags.op("&")(int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS))
        credits_floor = accounts.c.flags.op("&")(int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS))
        broken: list[str] = list(
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
                            accounts.c.debits_pending + accounts.c.debits_posted > accounts.c.credits_posted,
                        ),
                        sa.and_(
                            credits_floor != 0,
                            accounts.c.credits_pending + accounts.c.credits_posted > accounts.c.debits_posted,
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
        self._check_history_ends_at_balances(conn)

    def _check_history_ends_at_balances(self, conn: sa.Connection) -> None:
        # Every account's newest history entry, the one its history_sequence names, holds its
        # balances; an account without history has zero balances; no entry is newer than that.
        newest = account_history.alias("newest")
        differs = sa.or_(*[newest.c[name] != accounts.c[name] for name in _BALANCE_COLUMNS])
        all_zero = sa.and_(*[accounts.c[name] == 0 for name in _BALANCE_COLUMNS])
        broken: list[str] = list(
            conn.execute(
                sa.select(accounts.c.id)
                .select_from(
                    accounts.outerjoin(
                        newest,
                        sa.and_(
                            newest.c.account_id == accounts.c.id,
                            newest.c.sequence == accounts.c.history_sequence,
                        ),
                    )
                )
                .where(
                    sa.or_(
                        sa.and_(accounts.c.history_sequence == 0, sa.not_(all_zero)),
                        sa.and_(
                            accounts.c.history_sequence != 0,
                            sa.or_(newest.c.account_id.is_(None), differs),
                        ),
                        sa.exists().where(
                            account_history.c.account_id == accounts.c.id,
                            account_history.c.sequence > accounts.c.history_sequence,
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
            raise LedgerInvariantViolated(f"accounts whose history does not end at their balances: {', '.join(broken)}")

    # -- SQLite (and any database without the functions) --------------------------------------

    def _create_transfers_in_python(
        self, conn: sa.Connection, transfers_batch: Sequence[Transfer], now: datetime
    ) -> list[TransferOutcome]:
        # The batch runs on an in-memory copy of the rows it can touch, with the domain's rules
        # and chains; then what changed is written back.
        transfer_ids = {transfer.id for transfer in transfers_batch} | {
            transfer.pending_id for transfer in transfers_batch if transfer.pending_id is not None
        }
        account_ids = {transfer.debit_account_id for transfer in transfers_batch} | {
            transfer.credit_account_id for transfer in transfers_batch
        }
        stored = self._transfers_by_id(conn, transfer_ids)
        before, sequences = self._accounts_by_id(conn, account_ids, lock=True)
        scratch = InMemoryLedger.holding(before.values(), stored.values(), history_sequences=sequences)
        outcomes = scratch.create_transfers(transfers_batch, now)
        self._write_back(conn, scratch, before, stored)
        return outcomes

    def _write_back(
        self,
        conn: sa.Connection,
        scratch: InMemoryLedger,
        accounts_before: Mapping[str, Account],
        transfers_before: Mapping[str, StoredTransfer],
    ) -> None:
        """Write what `scratch` changed relative to the rows it was loaded from."""
        new_transfers = [stored for stored in scratch.transfers() if stored.transfer.id not in transfers_before]
        if new_transfers:
            conn.execute(sa.insert(transfers), [_transfer_row(stored) for stored in new_transfers])
        for transfer_id, stored_before in transfers_before.items():
            stored_after = scratch.transfer(transfer_id)
            if stored_after is None:
                raise LedgerInvariantViolated(f"transfer {transfer_id!r} vanished from a batch")
            if stored_after.pending_status is not stored_before.pending_status:
                self._set_pending_status(conn, transfer_id, stored_after.pending_status)
        journal = scratch.journal()
        newest: dict[str, AccountHistoryEntry] = {entry.account_id: entry for entry in journal}
        for account_id in sorted(newest):
            account_after = scratch.account(account_id)
            if account_after is None:
                raise LedgerInvariantViolated(f"account {account_id!r} vanished from a batch")
            _write_balances(
                conn,
                before=accounts_before[account_id],
                after=account_after,
                history_sequence=newest[account_id].sequence,
            )
        if journal:
            conn.execute(sa.insert(account_history), [_history_row(entry) for entry in journal])

    # -- shared helpers -----------------------------------------------------------------------

    def _accounts_by_id(
        self, conn: sa.Connection, account_ids: Collection[str], *, lock: bool = False
    ) -> tuple[dict[str, Account], dict[str, int]]:
        """The accounts found, and each one's history_sequence."""
        statement = sa.select(accounts).where(accounts.c.id.in_(sorted(account_ids)))
        if lock:
            # Lock in the ledger functions' order (accounts that are not hot, then hot ones, each
            # by id in byte order), so that lockers never wait on each other in a cycle. (SQLite
            # ignores FOR UPDATE: its transactions are serialized by BEGIN IMMEDIATE.)
            statement = statement.order_by(accounts.c.hot, _byte_order(conn, accounts.c.id)).with_for_update()
        rows = conn.execute(statement).all()
        return (
            {row.id: _account_from_row(row) for row in rows},
            {row.id: int(row.history_sequence) for row in rows},
        )

    def _transfers_by_id(self, conn: sa.Connection, transfer_ids: Iterable[str]) -> dict[str, StoredTransfer]:
        rows = conn.execute(sa.select(transfers).where(transfers.c.id.in_(list(transfer_ids))))
        return {row.id: _stored_transfer_from_row(row) for row in rows}

    def _set_pending_status(self, conn: sa.Connection, transfer_id: str, status: PendingStatus | None) -> None:
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
            raise LedgerInvariantViolated(f"transfer {transfer_id!r} stopped being pending while it was being settled")


# A broken ledger is reported with at most this many account ids; the rest are alike.
_BROKEN_ACCOUNTS_REPORTED_MAX = 20

_BALANCE_COLUMNS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")


def _write_balances(conn: sa.Connection, *, before: Account, after: Account, history_sequence: int) -> None:
    """Write `after`'s totals and newest history sequence over the row, if it still holds `before`.

    The condition turns a lost update (someone else wrote the row between our read and this
    write, which the transaction's locks should make impossible) into an error instead of money.
    """
    if before.id != after.id:
        raise LedgerInvariantViolated(f"cannot write {after.id!r} over {before.id!r}")
    check_account_invariants(after)
    result = conn.execute(
        sa.update(accounts)
        .where(
            accounts.c.id == before.id,
            accounts.c.debits_pending == before.debits_pending,
            accounts.c.debits_posted == before.debits_posted,
            accounts.c.credits_pending == before.credits_pending,
            accounts.c.credits_posted == before.credits_posted,
            accounts.c.history_sequence < history_sequence,
        )
        .values(
            debits_pending=after.debits_pending,
            debits_posted=after.debits_posted,
            credits_pending=after.credits_pending,
            credits_posted=after.credits_posted,
            history_sequence=history_sequence,
        )
    )
    if result.rowcount != 1:
        raise LedgerInvariantViolated(
            f"account {before.id!r} changed under a ledger write: is the transaction serialized?"
        )


def _call_ledger_function(conn: sa.Connection, sql: str, values: tuple[Any, ...]) -> Any:
    """Run one ledger function call; its invariant errors become LedgerInvariantViolated."""
    try:
        rows = execute_prepared(conn, sql, values)
        if len(rows) != 1 or len(rows[0]) != 1:
            raise LedgerInvariantViolated(f"a ledger function returned {rows!r}")
        return rows[0][0]
    except sa_exc.DBAPIError as error:
        if sqlstate(error) == LEDGER_INVARIANT_SQLSTATE:
            raise LedgerInvariantViolated(str(error.orig)) from error
        raise


# Built once, not per call (each would be coerced and keyed for the compiled cache again). Both
# dialects spell INSERT … ON CONFLICT DO NOTHING; SQLAlchemy exposes it per dialect. The columns
# an insert sets are the keys of the rows it runs with.
_INSERT_ACCOUNT_POSTGRESQL = postgresql.insert(accounts).on_conflict_do_nothing()
_INSERT_ACCOUNT_SQLITE = sqlite.insert(accounts).on_conflict_do_nothing()
_ACCOUNT_BY_ID = sa.select(accounts).where(accounts.c.id == sa.bindparam("account_id"))


def _insert_accounts(conn: sa.Connection) -> Any:
    return _INSERT_ACCOUNT_POSTGRESQL if is_postgresql(conn) else _INSERT_ACCOUNT_SQLITE


def _new_account_row(account: Account, kind: str, user_id: str | None, now: datetime, hot: bool) -> dict[str, Any]:
    """The row of a new, empty account."""
    return {
        "id": account.id,
        "currency": account.currency,
        "flags": int(account.flags),
        "user_id": user_id,
        "kind": kind,
        "debits_pending": 0,
        "debits_posted": 0,
        "credits_pending": 0,
        "credits_posted": 0,
        "created_at": now,
        "hot": hot,
    }


def _byte_order(conn: sa.Connection, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    # SQLite compares text bytewise already; PostgreSQL needs the "C" collation for that.
    return column.collate("C") if is_postgresql(conn) else column


def _require_aware(now: datetime) -> None:
    # A naive time is ambiguous, and SQLite would store it as if it were UTC.
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")


def _require_same_shape(found: Account | None, wanted: Account) -> Account:
    """`found`, once it is known to exist with `wanted`'s currency and flags."""
    if found is None:
        raise LedgerInvariantViolated(f"account {wanted.id!r} is missing right after creation")
    if found.currency != wanted.currency or found.flags != wanted.flags:
        raise LedgerInvariantViolated(
            f"account {wanted.id!r} exists as {found.currency}/{found.flags!r}, "
            f"expected {wanted.currency}/{wanted.flags!r}"
        )
    return found


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


def _transfer_row(stored: StoredTransfer) -> dict[str, Any]:
    transfer = stored.transfer
    return {
        "id": transfer.id,
        "debit_account_id": transfer.debit_account_id,
        "credit_account_id": transfer.credit_account_id,
        "amount_minor": transfer.amount_minor,
        "currency": transfer.currency,
        "flags": int(transfer.flags),
        "pending_id": transfer.pending_id,
        "pending_status": None if stored.pending_status is None else stored.pending_status.value,
        "timeout_seconds": transfer.timeout_seconds,
        "created_at": stored.created_at,
        "expires_at": (
            stored.created_at + timedelta(seconds=transfer.timeout_seconds)
            if stored.pending_status is not None and transfer.timeout_seconds > 0
            else None
        ),
    }


def _history_row(entry: AccountHistoryEntry) -> dict[str, Any]:
    return {
        "account_id": entry.account_id,
        "sequence": entry.sequence,
        "transfer_id": entry.transfer_id,
        "cause": entry.cause.value,
        "debits_pending": entry.debits_pending,
        "debits_posted": entry.debits_posted,
        "credits_pending": entry.credits_pending,
        "credits_posted": entry.credits_posted,
        "created_at": entry.created_at,
    }


def _history_entry_from_row(row: sa.Row[Any]) -> AccountHistoryEntry:
    return AccountHistoryEntry(
        account_id=row.account_id,
        sequence=int(row.sequence),
        transfer_id=row.transfer_id,
        cause=HistoryCause(row.cause),
        debits_pending=int(row.debits_pending),
        debits_posted=int(row.debits_posted),
        credits_pending=int(row.credits_pending),
        credits_posted=int(row.credits_posted),
        created_at=row.created_at,
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
