"""Hot accounts: locked after every other account, and as late in a batch as the rules allow.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

An account that many transfers touch (the platform's clearing, funding, FX and fees accounts; a
merchant's wallet) is `hot`. Every transaction that waits for its row lock waits until the holder
commits, so how long a batch holds it bounds how many batches a second can pass through it
(bench/RESULTS.md). Two changes shorten that hold:

- The global lock order becomes: pending transfers by id, then accounts that are not hot by id,
  then hot accounts by id (ids in byte order throughout). Every locker follows it, so none waits
  on another's account locks in a cycle (docs/architecture.md, "Hot accounts", names the one
  wait it adds: a transfer id sent twice at once with different accounts).
- paystream_create_transfers() locks the batch's hot accounts only when it must. A hot account's
  side of a transfer that its balance cannot refuse (a credit to an account without
  `credits_must_not_exceed_debits`, a debit from one without `debits_must_not_exceed_credits`, any
  side of a post or void) is decided and stored with the transfer, and its balances and history
  entry are written at the end of the batch, under its lock, in the batch's order. The first
  transfer that needs a hot account's balance (a floor to check), or names no account but hot
  ones, locks the batch's hot accounts and writes what was deferred first; the rest of the batch
  then runs as before. Outcomes are those of the reference ledger in every case; only the moment
  a hot row is locked changes.

Also here: paystream_apply_leg(), one side of a transfer (balances, floor check, history entry),
shared by transfers applied at once and by deferred sides.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# shared.domain.ledger.TRANSFER_BATCH_MAX as of this migration.
TRANSFER_BATCH_MAX = 8190

_BEFORE = importlib.import_module("shared.migrations.versions.0002_ledger_batches_and_history")


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("hot", sa.Boolean(), server_default=sa.false(), nullable=False))
    # The platform's own accounts are the ones every payment, top-up or conversion touches.
    op.execute("UPDATE accounts SET hot = true WHERE kind <> 'wallet'")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_TRANSFERS_FUNCTION)
        op.execute(DROP_TRANSFER_FUNCTION)
        op.execute(_BEFORE.DROP_APPLY_TRANSFER_FUNCTION)
        op.execute(CREATE_APPLY_LEG_FUNCTION)
        op.execute(CREATE_APPLY_TRANSFER_FUNCTION)
        op.execute(CREATE_APPLY_DEFERRED_LEGS_FUNCTION)
        op.execute(CREATE_TRANSFER_FUNCTION)
        op.execute(CREATE_TRANSFERS_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_TRANSFERS_FUNCTION)
        op.execute(DROP_TRANSFER_FUNCTION)
        op.execute(DROP_APPLY_DEFERRED_LEGS_FUNCTION)
        op.execute(DROP_APPLY_TRANSFER_FUNCTION)
        op.execute(DROP_APPLY_LEG_FUNCTION)
        op.execute(_BEFORE.CREATE_APPLY_TRANSFER_FUNCTION)
        op.execute(_BEFORE.REPLACE_TRANSFER_FUNCTION)
        op.execute(_BEFORE.CREATE_TRANSFERS_FUNCTION)
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("hot")


# One side of a transfer that decide() accepted: the account's balances change, the floor is
# checked again (a broken one here is a bug and aborts the transaction), and the account's
# history records the balances after it. `p_released_minor` is what a post or void releases:
# the pending transfer's amount.
CREATE_APPLY_LEG_FUNCTION = r"""
CREATE FUNCTION paystream_apply_leg(
    p_account_id varchar,
    p_is_debit boolean,
    p_transfer_id varchar,
    p_flags integer,
    p_amount_minor bigint,
    p_released_minor bigint,
    p_now timestamptz
) RETURNS void
LANGUAGE plpgsql AS $function$
DECLARE
    v_pending_change bigint := 0;
    v_posted_change bigint := 0;
    v_account accounts%ROWTYPE;
BEGIN
    IF (p_flags & 6) <> 0 THEN
        -- A post (2) or void (4): the reservation leaves pending; a post moves an amount to posted.
        v_pending_change := -p_released_minor;
        IF (p_flags & 2) <> 0 THEN
            v_posted_change := p_amount_minor;
        END IF;
    ELSIF (p_flags & 1) <> 0 THEN
        v_pending_change := p_amount_minor;
    ELSE
        v_posted_change := p_amount_minor;
    END IF;
    IF p_is_debit THEN
        UPDATE accounts
           SET debits_pending = debits_pending + v_pending_change,
               debits_posted = debits_posted + v_posted_change,
               history_sequence = history_sequence + 1
         WHERE id = p_account_id
        RETURNING * INTO STRICT v_account;
    ELSE
        UPDATE accounts
           SET credits_pending = credits_pending + v_pending_change,
               credits_posted = credits_posted + v_posted_change,
               history_sequence = history_sequence + 1
         WHERE id = p_account_id
        RETURNING * INTO STRICT v_account;
    END IF;
    PERFORM paystream_check_account_floor(v_account);
    INSERT INTO account_history (account_id, sequence, transfer_id, cause, debits_pending,
                                 debits_posted, credits_pending, credits_posted, created_at)
    VALUES (v_account.id, v_account.history_sequence, p_transfer_id, 'transfer',
            v_account.debits_pending, v_account.debits_posted, v_account.credits_pending,
            v_account.credits_posted, p_now);
END;
$function$
"""

# decide() and apply() for one transfer whose accounts the caller has locked, except hot ones
# when `p_hot_locked` is false. Steps 1 to 13 are 0002's, check for check (keep the numbering in
# step with decide()'s docstring; tests/integration/test_ledger_store.py runs this against
# shared.domain.ledger.InMemoryLedger). Between steps 11 and 12, with the hot accounts unlocked:
# a side on a hot account whose balance could refuse the transfer, or a transfer on hot accounts
# only, answers 'hot_accounts_not_locked' having written nothing (the caller locks them and calls
# again); any other side on a hot account is deferred: the caller applies it later with
# paystream_apply_leg().
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
    p_now timestamptz,
    p_hot_locked boolean
) RETURNS text
LANGUAGE plpgsql AS $function$
DECLARE
    flag_pending constant integer := 1;
    flag_post constant integer := 2;
    flag_void constant integer := 4;
    is_post_or_void constant boolean := (p_flags & (flag_post | flag_void)) <> 0;
    v_existing transfers%ROWTYPE;
    v_pending transfers%ROWTYPE;
    v_debit accounts%ROWTYPE;
    v_credit accounts%ROWTYPE;
    v_defer_debit boolean;
    v_defer_credit boolean;
    v_released_minor bigint := 0;
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
        IF NOT FOUND THEN
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
        v_released_minor := v_pending.amount_minor;
    END IF;

    -- 8-11. The accounts. An unlocked hot row is read for what never changes (it exists, its
    -- currency, its flags); its balances are not used below.
    SELECT * INTO v_debit FROM accounts WHERE id = p_debit_account_id;
    IF NOT FOUND THEN
        RETURN 'debit_account_not_found';
    END IF;
    SELECT * INTO v_credit FROM accounts WHERE id = p_credit_account_id;
    IF NOT FOUND THEN
        RETURN 'credit_account_not_found';
    END IF;
    IF v_debit.currency <> v_credit.currency THEN
        RETURN 'accounts_must_have_the_same_currency';
    END IF;
    IF p_currency <> v_debit.currency THEN
        RETURN 'transfer_currency_must_match_accounts';
    END IF;

    v_defer_debit := v_debit.hot AND NOT p_hot_locked;
    v_defer_credit := v_credit.hot AND NOT p_hot_locked;
    IF (v_defer_debit AND v_defer_credit)
        OR (v_defer_debit AND NOT is_post_or_void AND (v_debit.flags & 1) <> 0)
        OR (v_defer_credit AND NOT is_post_or_void AND (v_credit.flags & 2) <> 0)
    THEN
        -- A floor to check on a hot balance, or no lock at all to serialize this transfer id.
        RETURN 'hot_accounts_not_locked';
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
        UPDATE transfers
           SET pending_status = CASE WHEN (p_flags & flag_post) <> 0 THEN 'posted' ELSE 'voided' END
         WHERE id = p_pending_id;
    END IF;
    -- Debit first, as the history has always been written.
    IF NOT v_defer_debit THEN
        PERFORM paystream_apply_leg(p_debit_account_id, true, p_id, p_flags, p_amount_minor,
                                    v_released_minor, p_now);
    END IF;
    IF NOT v_defer_credit THEN
        PERFORM paystream_apply_leg(p_credit_account_id, false, p_id, p_flags, p_amount_minor,
                                    v_released_minor, p_now);
    END IF;
    RETURN 'ok';
END;
$function$
"""

# Lock a batch's hot accounts (in the global order) and write the sides paystream_apply_transfer()
# deferred: those on hot accounts of every transfer among the first `p_count` that it answered
# 'ok' while they were unlocked, debit side first, in the batch's order.
CREATE_APPLY_DEFERRED_LEGS_FUNCTION = r"""
CREATE FUNCTION paystream_apply_deferred_legs(
    p_hot_account_ids varchar[],
    p_outcomes text[],
    p_count integer,
    p_ids varchar[],
    p_debit_account_ids varchar[],
    p_credit_account_ids varchar[],
    p_amounts_minor bigint[],
    p_flags integer[],
    p_pending_ids varchar[],
    p_now timestamptz
) RETURNS void
LANGUAGE plpgsql AS $function$
DECLARE
    v_released_minor bigint;
BEGIN
    PERFORM 1 FROM accounts WHERE id = ANY (p_hot_account_ids)
     ORDER BY id COLLATE "C" FOR UPDATE;
    FOR v_index IN 1 .. p_count LOOP
        CONTINUE WHEN p_outcomes[v_index] <> 'ok';
        v_released_minor := 0;
        IF (p_flags[v_index] & 6) <> 0 THEN
            SELECT amount_minor INTO STRICT v_released_minor
              FROM transfers WHERE id = p_pending_ids[v_index];
        END IF;
        IF p_debit_account_ids[v_index] = ANY (p_hot_account_ids) THEN
            PERFORM paystream_apply_leg(
                p_debit_account_ids[v_index], true, p_ids[v_index], p_flags[v_index],
                p_amounts_minor[v_index], v_released_minor, p_now);
        END IF;
        IF p_credit_account_ids[v_index] = ANY (p_hot_account_ids) THEN
            PERFORM paystream_apply_leg(
                p_credit_account_ids[v_index], false, p_ids[v_index], p_flags[v_index],
                p_amounts_minor[v_index], v_released_minor, p_now);
        END IF;
    END LOOP;
END;
$function$
"""

# One transfer: its locks in the global order (its hot account, if any, last), then apply it.
CREATE_TRANSFER_FUNCTION = r"""
CREATE FUNCTION paystream_create_transfer(
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
     ORDER BY hot, id COLLATE "C" FOR UPDATE;
    RETURN paystream_apply_transfer(
        p_id, p_debit_account_id, p_credit_account_id, p_amount_minor, p_currency, p_flags,
        p_pending_id, p_timeout_seconds, p_now, true);
END;
$function$
"""

# A batch, in order. Pending transfers and the accounts that are not hot are locked first, in the
# global order; hot accounts when a transfer needs them, or at the end. A chain (LINKED transfers
# and the one after them) runs in a sub-block: the first member that fails raises PSL02, which
# rolls back the chain's writes only; local variables keep their values, so the outcomes survive.
# A chain that needs the hot accounts is rolled back the same way, and runs again once they are
# locked (outside the sub-block, so that the deferred sides written then are not undone with it).
# The rules are shared.domain.ledger.create_transfers_in_chains's.
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
    v_hot_ids varchar[];
    v_hot_locked boolean;
    v_needs_hot boolean;
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
       AND NOT hot
     ORDER BY id COLLATE "C" FOR UPDATE;
    SELECT coalesce(array_agg(id), '{}') INTO v_hot_ids FROM accounts
     WHERE id = ANY (p_debit_account_ids || p_credit_account_ids) AND hot;
    v_hot_locked := cardinality(v_hot_ids) = 0;

    WHILE v_first <= batch_size LOOP
        -- The chain from v_first: every LINKED transfer and the first one after them.
        v_last := v_first;
        WHILE v_last < batch_size AND (p_flags[v_last] & flag_linked) <> 0 LOOP
            v_last := v_last + 1;
        END LOOP;
        LOOP
            v_needs_hot := false;
            IF (p_flags[v_last] & flag_linked) = 0 AND v_last = v_first THEN
                -- Not linked: a refused transfer wrote nothing, so no sub-block is needed.
                v_outcome := paystream_apply_transfer(
                    p_ids[v_first], p_debit_account_ids[v_first], p_credit_account_ids[v_first],
                    p_amounts_minor[v_first], p_currencies[v_first], p_flags[v_first],
                    p_pending_ids[v_first], p_timeouts_seconds[v_first], p_now, v_hot_locked);
                v_needs_hot := v_outcome = 'hot_accounts_not_locked';
                v_outcomes[v_first] := v_outcome;
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
                                p_timeouts_seconds[v_index], p_now, v_hot_locked);
                        END IF;
                        v_outcomes[v_index] := v_outcome;
                        IF v_outcome NOT IN ('ok', 'exists') THEN
                            v_needs_hot := v_outcome = 'hot_accounts_not_locked';
                            v_failed := v_index;
                            RAISE EXCEPTION USING ERRCODE = 'PSL02';
                        END IF;
                    END LOOP;
                EXCEPTION WHEN SQLSTATE 'PSL02' THEN
                    IF NOT v_needs_hot THEN
                        FOR v_index IN v_first .. v_last LOOP
                            IF v_index <> v_failed THEN
                                v_outcomes[v_index] := 'linked_event_failed';
                            END IF;
                        END LOOP;
                        IF (p_flags[v_last] & flag_linked) <> 0 AND v_last = batch_size THEN
                            v_outcomes[v_last] := 'linked_event_chain_open';
                        END IF;
                    END IF;
                END;
            END IF;
            EXIT WHEN NOT v_needs_hot;
            -- Lock the hot accounts, write what the transfers before this chain deferred (the
            -- chain's own writes were rolled back), and run the chain again.
            PERFORM paystream_apply_deferred_legs(
                v_hot_ids, v_outcomes, v_first - 1, p_ids, p_debit_account_ids,
                p_credit_account_ids, p_amounts_minor, p_flags, p_pending_ids, p_now);
            v_hot_locked := true;
        END LOOP;
        v_first := v_last + 1;
    END LOOP;
    IF NOT v_hot_locked THEN
        PERFORM paystream_apply_deferred_legs(
            v_hot_ids, v_outcomes, batch_size, p_ids, p_debit_account_ids, p_credit_account_ids,
            p_amounts_minor, p_flags, p_pending_ids, p_now);
    END IF;
    RETURN v_outcomes;
END;
$function$
"""
).replace("TRANSFER_BATCH_MAX", str(TRANSFER_BATCH_MAX))

DROP_APPLY_LEG_FUNCTION = (
    "DROP FUNCTION paystream_apply_leg(varchar, boolean, varchar, integer, bigint, bigint, timestamptz)"
)
DROP_APPLY_TRANSFER_FUNCTION = (
    "DROP FUNCTION paystream_apply_transfer(varchar, varchar, varchar, bigint, varchar, integer,"
    " varchar, integer, timestamptz, boolean)"
)
DROP_APPLY_DEFERRED_LEGS_FUNCTION = (
    "DROP FUNCTION paystream_apply_deferred_legs(varchar[], text[], integer, varchar[],"
    " varchar[], varchar[], bigint[], integer[], varchar[], timestamptz)"
)
DROP_TRANSFER_FUNCTION = (
    "DROP FUNCTION paystream_create_transfer(varchar, varchar, varchar, bigint, varchar, integer,"
    " varchar, integer, timestamptz)"
)
DROP_TRANSFERS_FUNCTION = _BEFORE.DROP_TRANSFERS_FUNCTION
