"""Ledger batches with linked chains, and each account's history of balances.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Adds `accounts.history_sequence` and the append-only `account_history` table (one entry per
account per change, holding the balances after it). Accounts that already hold balances get an
opening entry, so that every account's newest entry equals its balances from the start.

On PostgreSQL it also installs, as one round trip each:

- paystream_apply_transfer(): decide() and apply() for one transfer whose rows the caller has
  locked, writing the transfer, the balances and both history entries;
- paystream_create_transfer(), redefined with the same signature: lock, then apply;
- paystream_create_transfers(): a batch of up to TRANSFER_BATCH_MAX transfers passed as arrays,
  with LINKED chains each in a sub-block, so that a failed chain rolls back only itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)

# shared.domain.ledger.TRANSFER_BATCH_MAX, spelled here because a migration must keep describing
# the schema as it was when it was written.
TRANSFER_BATCH_MAX = 8190
ACCOUNTS_FILLFACTOR_PERCENT = 70


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("history_sequence", sa.BigInteger(), server_default="0", nullable=False))
    op.create_table(
        "account_history",
        sa.Column("account_id", sa.String(80), nullable=False),
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("transfer_id", sa.String(80), nullable=True),
        sa.Column("cause", sa.String(8), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_account_history_account_id_accounts"),
        sa.PrimaryKeyConstraint("account_id", "sequence", name="pk_account_history"),
    )
    _write_opening_entries()

    if op.get_bind().dialect.name == "postgresql":
        # Every transfer updates two account rows. Room left on each page lets PostgreSQL keep
        # the new row versions on the same page (HOT updates), without touching the indexes.
        op.execute(f"ALTER TABLE accounts SET (fillfactor = {ACCOUNTS_FILLFACTOR_PERCENT})")
        # One statement per call: pg8000 prepares every statement, and a prepared statement
        # holds one command.
        op.execute(CREATE_APPLY_TRANSFER_FUNCTION)
        op.execute(REPLACE_TRANSFER_FUNCTION)
        op.execute(CREATE_TRANSFERS_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_TRANSFERS_FUNCTION)
        # Back to 0001's paystream_create_transfer, which does not call the function dropped next.
        initial = importlib.import_module("shared.migrations.versions.0001_initial")
        op.execute(initial.CREATE_TRANSFER_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
        op.execute(DROP_APPLY_TRANSFER_FUNCTION)
        op.execute("ALTER TABLE accounts RESET (fillfactor)")
    op.drop_table("account_history")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("history_sequence")


def _write_opening_entries() -> None:
    # Balances from before the history began: one opening entry per account that holds any.
    # The migration runs inside the upgrade's transaction, which every ledger write waits for.
    connection = op.get_bind()
    accounts = sa.table(
        "accounts",
        sa.column("id", sa.String),
        sa.column("debits_pending", sa.BigInteger),
        sa.column("debits_posted", sa.BigInteger),
        sa.column("credits_pending", sa.BigInteger),
        sa.column("credits_posted", sa.BigInteger),
        sa.column("history_sequence", sa.BigInteger),
    )
    rows = connection.execute(
        sa.select(
            accounts.c.id,
            accounts.c.debits_pending,
            accounts.c.debits_posted,
            accounts.c.credits_pending,
            accounts.c.credits_posted,
        ).where(
            sa.or_(
                accounts.c.debits_pending != 0,
                accounts.c.debits_posted != 0,
                accounts.c.credits_pending != 0,
                accounts.c.credits_posted != 0,
            )
        )
    ).all()
    if not rows:
        return
    # The one clock reading of this migration: when the history of these balances begins.
    opened_at = datetime.now(UTC)
    history = sa.table(
        "account_history",
        sa.column("account_id", sa.String),
        sa.column("sequence", sa.BigInteger),
        sa.column("transfer_id", sa.String),
        sa.column("cause", sa.String),
        sa.column("debits_pending", sa.BigInteger),
        sa.column("debits_posted", sa.BigInteger),
        sa.column("credits_pending", sa.BigInteger),
        sa.column("credits_posted", sa.BigInteger),
        sa.column("created_at", Timestamp),
    )
    connection.execute(
        sa.insert(history),
        [
            {
                "account_id": row.id,
                "sequence": 1,
                "transfer_id": None,
                "cause": "opening",
                "debits_pending": row.debits_pending,
                "debits_posted": row.debits_posted,
                "credits_pending": row.credits_pending,
                "credits_posted": row.credits_posted,
                # SQLite keeps naive UTC text, as shared.adapters.tables.Timestamp does.
                "created_at": (
                    opened_at if connection.dialect.name == "postgresql" else opened_at.replace(tzinfo=None)
                ),
            }
            for row in rows
        ],
    )
    connection.execute(
        sa.update(accounts).where(accounts.c.id.in_([row.id for row in rows])).values(history_sequence=1)
    )


# decide() and apply() for one transfer, check for check, as 0001's paystream_create_transfer did,
# now without taking locks (its callers take them, in one global order: pending transfers first,
# then accounts, each by id in byte order) and writing each account's history entry. Keep the
# numbered steps in step with decide()'s docstring; the differential tests in
# tests/integration/test_ledger_store.py run it against shared.domain.ledger.InMemoryLedger.
CREATE_APPLY_TRANSFER_FUNCTION = r"""
CREATE FUNCTION paystream_apply_transfer(
    p_id varchar,
    p_debit_account_id varchar,
    p_credit_account_id varchar,
    p_amount_minor bigint,
    p_currency varchar,
    p_flags integer,
    p_pending_id varchar,
    p_timeout_seconds integer,
    p_now timestamptz
) RETURNS text
LANGUAGE plpgsql AS $function$
DECLARE
    flag_pending constant integer := 1;
    flag_post constant integer := 2;
    flag_void constant integer := 4;
    is_post_or_void constant boolean := (p_flags & (flag_post | flag_void)) <> 0;
    v_existing transfers%ROWTYPE;
    v_pending transfers%ROWTYPE;
    v_pending_found boolean := false;
    v_debit accounts%ROWTYPE;
    v_debit_found boolean;
    v_credit accounts%ROWTYPE;
    v_credit_found boolean;
    v_released_minor bigint := 0;
    v_posted_minor bigint := 0;
BEGIN
    -- 1. Idempotency: a stored transfer with this id answers every retry.
    SELECT * INTO v_existing FROM transfers WHERE id = p_id;
    IF FOUND THEN
        RETURN paystream_exists_outcome(
            v_existing, p_debit_account_id, p_credit_account_id, p_amount_minor, p_currency,
            p_flags, p_pending_id, p_timeout_seconds);
    END IF;

    -- 2-6. The transfer on its own. LINKED (8) is about the batch and is not looked at here.
    IF ((p_flags & flag_pending) <> 0)::integer + ((p_flags & flag_post) <> 0)::integer
        + ((p_flags & flag_void) <> 0)::integer > 1 THEN
        RETURN 'flags_are_mutually_exclusive';
    END IF;
    IF p_amount_minor <= 0 THEN
        RETURN 'amount_must_be_positive';
    END IF;
    IF p_debit_account_id = p_credit_account_id THEN
        RETURN 'accounts_must_be_different';
    END IF;
    IF is_post_or_void AND p_pending_id IS NULL THEN
        RETURN 'pending_id_required';
    END IF;
    IF NOT is_post_or_void AND p_pending_id IS NOT NULL THEN
        RETURN 'pending_id_must_be_empty';
    END IF;
    IF (p_flags & flag_pending) = 0 AND p_timeout_seconds <> 0 THEN
        RETURN 'timeout_reserved_for_pending_transfer';
    END IF;

    -- 7. A post or void must match the reservation it settles, and that must still be live.
    IF is_post_or_void THEN
        SELECT * INTO v_pending FROM transfers WHERE id = p_pending_id;
        v_pending_found := FOUND;
        IF NOT v_pending_found THEN
            RETURN 'pending_transfer_not_found';
        END IF;
        IF (v_pending.flags & flag_pending) = 0 THEN
            RETURN 'pending_transfer_not_pending';
        END IF;
        IF p_debit_account_id <> v_pending.debit_account_id THEN
            RETURN 'pending_transfer_has_different_debit_account_id';
        END IF;
        IF p_credit_account_id <> v_pending.credit_account_id THEN
            RETURN 'pending_transfer_has_different_credit_account_id';
        END IF;
        IF p_currency <> v_pending.currency THEN
            RETURN 'pending_transfer_has_different_currency';
        END IF;
        IF p_amount_minor > v_pending.amount_minor THEN
            RETURN 'exceeds_pending_transfer_amount';
        END IF;
        IF (p_flags & flag_void) <> 0 AND p_amount_minor <> v_pending.amount_minor THEN
            RETURN 'pending_transfer_has_different_amount';
        END IF;
        IF v_pending.pending_status = 'posted' THEN
            RETURN 'pending_transfer_already_posted';
        END IF;
        IF v_pending.pending_status = 'voided' THEN
            RETURN 'pending_transfer_already_voided';
        END IF;
        IF v_pending.pending_status = 'expired' THEN
            RETURN 'pending_transfer_expired';
        END IF;
        IF v_pending.pending_status IS DISTINCT FROM 'pending' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'PSL01',
                MESSAGE = format('ledger invariant violated: transfer %s has pending_status %s',
                                 v_pending.id, v_pending.pending_status);
        END IF;
        IF v_pending.timeout_seconds > 0
            AND v_pending.created_at + make_interval(secs => v_pending.timeout_seconds) <= p_now
        THEN
            RETURN 'pending_transfer_expired';
        END IF;
    END IF;

    -- 8-11. The accounts.
    SELECT * INTO v_debit FROM accounts WHERE id = p_debit_account_id;
    v_debit_found := FOUND;
    IF NOT v_debit_found THEN
        RETURN 'debit_account_not_found';
    END IF;
    SELECT * INTO v_credit FROM accounts WHERE id = p_credit_account_id;
    v_credit_found := FOUND;
    IF NOT v_credit_found THEN
        RETURN 'credit_account_not_found';
    END IF;
    IF v_debit.currency <> v_credit.currency THEN
        RETURN 'accounts_must_have_the_same_currency';
    END IF;
    IF p_currency <> v_debit.currency THEN
        RETURN 'transfer_currency_must_match_accounts';
    END IF;

    -- 12. Balance floors; settling a reservation never needs new funds.
    IF NOT is_post_or_void THEN
        IF (v_debit.flags & 1) <> 0 AND v_debit.debits_pending + v_debit.debits_posted
            + p_amount_minor > v_debit.credits_posted THEN
            RETURN 'insufficient_funds';
        END IF;
        IF (v_credit.flags & 2) <> 0 AND v_credit.credits_pending + v_credit.credits_posted
            + p_amount_minor > v_credit.debits_posted THEN
            RETURN 'exceeds_debits';
        END IF;
    END IF;

    -- 13. OK: store the transfer, then apply it. A conflict on insert means a transfer with this
    -- id committed after step 1 looked (possible only if it locked other accounts): answer as
    -- step 1 would have, and change nothing.
    INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_minor, currency, flags,
                           pending_id, pending_status, timeout_seconds, created_at, expires_at)
    VALUES (p_id, p_debit_account_id, p_credit_account_id, p_amount_minor, p_currency, p_flags,
            p_pending_id, CASE WHEN (p_flags & flag_pending) <> 0 THEN 'pending' END,
            p_timeout_seconds, p_now,
            CASE WHEN (p_flags & flag_pending) <> 0 AND p_timeout_seconds > 0
                 THEN p_now + make_interval(secs => p_timeout_seconds) END)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        SELECT * INTO STRICT v_existing FROM transfers WHERE id = p_id;
        RETURN paystream_exists_outcome(
            v_existing, p_debit_account_id, p_credit_account_id, p_amount_minor, p_currency,
            p_flags, p_pending_id, p_timeout_seconds);
    END IF;

    IF is_post_or_void THEN
        v_released_minor := v_pending.amount_minor;
        IF (p_flags & flag_post) <> 0 THEN
            v_posted_minor := p_amount_minor;
        END IF;
        UPDATE accounts
           SET debits_pending = debits_pending - v_released_minor,
               debits_posted = debits_posted + v_posted_minor,
               history_sequence = history_sequence + 1
         WHERE id = p_debit_account_id
        RETURNING * INTO STRICT v_debit;
        UPDATE accounts
           SET credits_pending = credits_pending - v_released_minor,
               credits_posted = credits_posted + v_posted_minor,
               history_sequence = history_sequence + 1
         WHERE id = p_credit_account_id
        RETURNING * INTO STRICT v_credit;
        UPDATE transfers
           SET pending_status = CASE WHEN (p_flags & flag_post) <> 0 THEN 'posted' ELSE 'voided' END
         WHERE id = p_pending_id;
    ELSIF (p_flags & flag_pending) <> 0 THEN
        UPDATE accounts SET debits_pending = debits_pending + p_amount_minor,
                            history_sequence = history_sequence + 1
         WHERE id = p_debit_account_id
        RETURNING * INTO STRICT v_debit;
        UPDATE accounts SET credits_pending = credits_pending + p_amount_minor,
                            history_sequence = history_sequence + 1
         WHERE id = p_credit_account_id
        RETURNING * INTO STRICT v_credit;
    ELSE
        UPDATE accounts SET debits_posted = debits_posted + p_amount_minor,
                            history_sequence = history_sequence + 1
         WHERE id = p_debit_account_id
        RETURNING * INTO STRICT v_debit;
        UPDATE accounts SET credits_posted = credits_posted + p_amount_minor,
                            history_sequence = history_sequence + 1
         WHERE id = p_credit_account_id
        RETURNING * INTO STRICT v_credit;
    END IF;

    -- Check again after writing: a broken floor here is a bug, and aborts the transaction.
    PERFORM paystream_check_account_floor(v_debit);
    PERFORM paystream_check_account_floor(v_credit);

    -- The history: each account's balances after this transfer, debit first.
    INSERT INTO account_history (account_id, sequence, transfer_id, cause, debits_pending,
                                 debits_posted, credits_pending, credits_posted, created_at)
    VALUES (v_debit.id, v_debit.history_sequence, p_id, 'transfer', v_debit.debits_pending,
            v_debit.debits_posted, v_debit.credits_pending, v_debit.credits_posted, p_now),
           (v_credit.id, v_credit.history_sequence, p_id, 'transfer', v_credit.debits_pending,
            v_credit.debits_posted, v_credit.credits_pending, v_credit.credits_posted, p_now);
    RETURN 'ok';
END;
$function$
"""

# One transfer: take its locks in the global order, then apply it.
REPLACE_TRANSFER_FUNCTION = r"""
CREATE OR REPLACE FUNCTION paystream_create_transfer(
    p_id varchar,
    p_debit_account_id varchar,
    p_credit_account_id varchar,
    p_amount_minor bigint,
    p_currency varchar,
    p_flags integer,
    p_pending_id varchar,
    p_timeout_seconds integer,
    p_now timestamptz
) RETURNS text
LANGUAGE plpgsql AS $function$
BEGIN
    -- A LINKED transfer alone is a chain the batch leaves open.
    IF (p_flags & 8) <> 0 THEN
        RETURN 'linked_event_chain_open';
    END IF;
    IF p_pending_id IS NOT NULL THEN
        PERFORM 1 FROM transfers WHERE id = p_pending_id FOR UPDATE;
    END IF;
    PERFORM 1 FROM accounts WHERE id IN (p_debit_account_id, p_credit_account_id)
     ORDER BY id COLLATE "C" FOR UPDATE;
    RETURN paystream_apply_transfer(
        p_id, p_debit_account_id, p_credit_account_id, p_amount_minor, p_currency, p_flags,
        p_pending_id, p_timeout_seconds, p_now);
END;
$function$
"""

# A batch, in order. Every row it may touch is locked first, in the global order, so that batches
# and single transfers never wait on each other in a cycle. A chain (LINKED transfers and the one
# after them) runs in a sub-block: the first member that fails raises PSL02, which rolls back the
# chain's writes only; local variables keep their values, so the outcomes survive. The rules are
# shared.domain.ledger.create_transfers_in_chains's.
CREATE_TRANSFERS_FUNCTION = (
    r"""
CREATE FUNCTION paystream_create_transfers(
    p_ids varchar[],
    p_debit_account_ids varchar[],
    p_credit_account_ids varchar[],
    p_amounts_minor bigint[],
    p_currencies varchar[],
    p_flags integer[],
    p_pending_ids varchar[],
    p_timeouts_seconds integer[],
    p_now timestamptz
) RETURNS text[]
LANGUAGE plpgsql AS $function$
DECLARE
    flag_linked constant integer := 8;
    batch_size constant integer := coalesce(cardinality(p_ids), 0);
    v_outcomes text[] := '{}';
    v_outcome text;
    v_first integer := 1;
    v_last integer;
    v_failed integer;
BEGIN
    IF batch_size > TRANSFER_BATCH_MAX THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('a batch holds at most TRANSFER_BATCH_MAX transfers, got %s',
                             batch_size);
    END IF;
    IF coalesce(cardinality(p_debit_account_ids), 0) <> batch_size
        OR coalesce(cardinality(p_credit_account_ids), 0) <> batch_size
        OR coalesce(cardinality(p_amounts_minor), 0) <> batch_size
        OR coalesce(cardinality(p_currencies), 0) <> batch_size
        OR coalesce(cardinality(p_flags), 0) <> batch_size
        OR coalesce(cardinality(p_pending_ids), 0) <> batch_size
        OR coalesce(cardinality(p_timeouts_seconds), 0) <> batch_size
    THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'the arrays of a transfer batch must all have one element per transfer';
    END IF;

    PERFORM 1 FROM transfers WHERE id = ANY (p_pending_ids) ORDER BY id COLLATE "C" FOR UPDATE;
    PERFORM 1 FROM accounts WHERE id = ANY (p_debit_account_ids || p_credit_account_ids)
     ORDER BY id COLLATE "C" FOR UPDATE;

    WHILE v_first <= batch_size LOOP
        -- The chain from v_first: every LINKED transfer and the first one after them.
        v_last := v_first;
        WHILE v_last < batch_size AND (p_flags[v_last] & flag_linked) <> 0 LOOP
            v_last := v_last + 1;
        END LOOP;
        IF (p_flags[v_last] & flag_linked) = 0 AND v_last = v_first THEN
            -- Not linked: a refused transfer wrote nothing, so no sub-block is needed.
            v_outcomes[v_first] := paystream_apply_transfer(
                p_ids[v_first], p_debit_account_ids[v_first], p_credit_account_ids[v_first],
                p_amounts_minor[v_first], p_currencies[v_first], p_flags[v_first],
                p_pending_ids[v_first], p_timeouts_seconds[v_first], p_now);
        ELSE
            v_failed := NULL;
            BEGIN
                FOR v_index IN v_first .. v_last LOOP
                    IF (p_flags[v_index] & flag_linked) <> 0 AND v_index = batch_size THEN
                        v_outcome := 'linked_event_chain_open';
                    ELSE
                        v_outcome := paystream_apply_transfer(
                            p_ids[v_index], p_debit_account_ids[v_index],
                            p_credit_account_ids[v_index], p_amounts_minor[v_index],
                            p_currencies[v_index], p_flags[v_index], p_pending_ids[v_index],
                            p_timeouts_seconds[v_index], p_now);
                    END IF;
                    v_outcomes[v_index] := v_outcome;
                    IF v_outcome NOT IN ('ok', 'exists') THEN
                        v_failed := v_index;
                        RAISE EXCEPTION USING ERRCODE = 'PSL02';
                    END IF;
                END LOOP;
            EXCEPTION WHEN SQLSTATE 'PSL02' THEN
                FOR v_index IN v_first .. v_last LOOP
                    IF v_index <> v_failed THEN
                        v_outcomes[v_index] := 'linked_event_failed';
                    END IF;
                END LOOP;
                IF (p_flags[v_last] & flag_linked) <> 0 AND v_last = batch_size THEN
                    v_outcomes[v_last] := 'linked_event_chain_open';
                END IF;
            END;
        END IF;
        v_first := v_last + 1;
    END LOOP;
    RETURN v_outcomes;
END;
$function$
"""
).replace("TRANSFER_BATCH_MAX", str(TRANSFER_BATCH_MAX))

DROP_TRANSFERS_FUNCTION = (
    "DROP FUNCTION paystream_create_transfers(varchar[], varchar[], varchar[], bigint[],"
    " varchar[], integer[], varchar[], integer[], timestamptz)"
)
DROP_APPLY_TRANSFER_FUNCTION = (
    "DROP FUNCTION paystream_apply_transfer(varchar, varchar, varchar, bigint, varchar, integer,"
    " varchar, integer, timestamptz)"
)
