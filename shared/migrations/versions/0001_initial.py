"""The initial schema: every table of shared/adapters/tables.py, and the ledger's transfer function.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

The tables are spelled out rather than derived from the live metadata, so this migration keeps
describing the schema as it was even when tables.py moves on; tests/integration/test_migrations.py
checks that the migrated schema equals tables.py. On PostgreSQL the migration also installs
paystream_create_transfer(), which makes a ledger transfer one database round trip.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)

# Constraint names below are final. Alembic applies the target metadata's naming convention to
# the names it is given, and the check-constraint convention embeds the given name, so check
# names are wrapped in op.f() to keep "ck_payments_amount_positive" from becoming
# "ck_payments_ck_payments_amount_positive".


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("role", sa.String(16), server_default="user", nullable=False),
        sa.Column("kyc_status", sa.String(16), server_default="unverified", nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("family_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("issued_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("spent_at", Timestamp, nullable=True),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_refresh_tokens_user_id_users"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_refresh_tokens"),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_table(
        "card_vault",
        sa.Column("token", sa.String(40), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("behaviour", sa.String(32), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_card_vault"),
    )
    op.create_table(
        "funding_sources",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("brand", sa.String(32), nullable=True),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=True),
        sa.Column("exp_year", sa.Integer(), nullable=True),
        sa.Column("gateway_token", sa.String(40), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_funding_sources_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_funding_sources"),
    )
    op.create_index("ix_funding_sources_user_id", "funding_sources", ["user_id"])
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("flags", sa.Integer(), server_default="0", nullable=False),
        sa.Column("user_id", sa.String(40), nullable=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("user_id", "currency", "kind", name="uq_accounts_user_id_currency_kind"),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("debit_account_id", sa.String(80), nullable=False),
        sa.Column("credit_account_id", sa.String(80), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("pending_id", sa.String(80), nullable=True),
        sa.Column("pending_status", sa.String(8), nullable=True),
        sa.Column("timeout_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=True),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_transfers_amount_positive")),
        sa.ForeignKeyConstraint(["debit_account_id"], ["accounts.id"], name="fk_transfers_debit_account_id_accounts"),
        sa.ForeignKeyConstraint(["credit_account_id"], ["accounts.id"], name="fk_transfers_credit_account_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_transfers"),
    )
    op.create_index("ix_transfers_pending_status_expires_at", "transfers", ["pending_status", "expires_at"])
    op.create_table(
        "payments",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("payer_id", sa.String(40), nullable=False),
        sa.Column("payee_id", sa.String(40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("note", sa.String(500), server_default="", nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.Column("failure_message", sa.String(200), nullable=True),
        sa.Column("fraud_score", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payments_amount_positive")),
        sa.ForeignKeyConstraint(["payer_id"], ["users.id"], name="fk_payments_payer_id_users"),
        sa.ForeignKeyConstraint(["payee_id"], ["users.id"], name="fk_payments_payee_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
    )
    op.create_index("ix_payments_payer_id", "payments", ["payer_id"])
    op.create_index("ix_payments_payee_id", "payments", ["payee_id"])
    op.create_table(
        "topups",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("funding_source_id", sa.String(40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decline_code", sa.String(40), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_topups_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_topups"),
    )
    op.create_index("ix_topups_user_id", "topups", ["user_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("aggregate_sequence", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=True),
        sa.Column("occurred_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("subject", "aggregate_sequence", name="uq_events_subject_aggregate_sequence"),
    )
    op.create_table(
        "outbox",
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_outbox_event_id_events"),
        sa.PrimaryKeyConstraint("event_id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("processed_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.JSON(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_table(
        "transactions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("counterparty_id", sa.String(40), nullable=True),
        sa.Column("description", sa.String(500), server_default="", nullable=False),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", "user_id", name="pk_transactions"),
    )
    op.create_index("ix_transactions_user_created", "transactions", ["user_id", "created_at", "id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.String(1000), nullable=False),
        sa.Column("read_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("user_id", "event_id", name="uq_notifications_user_id_event_id"),
    )
    op.create_index("ix_notifications_user_created", "notifications", ["user_id", "created_at", "id"])

    if op.get_bind().dialect.name == "postgresql":
        # One statement per call: pg8000 prepares every statement, and a prepared statement
        # holds one command.
        op.execute(CREATE_CHECK_ACCOUNT_FLOOR_FUNCTION)
        op.execute(CREATE_EXISTS_OUTCOME_FUNCTION)
        op.execute(CREATE_TRANSFER_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DROP_TRANSFER_FUNCTIONS:
            op.execute(statement)
    # Reverse order of creation, so that no foreign key points at a dropped table.
    for table in (
        "notifications",
        "transactions",
        "idempotency_keys",
        "processed_events",
        "outbox",
        "events",
        "topups",
        "payments",
        "transfers",
        "accounts",
        "funding_sources",
        "card_vault",
        "refresh_tokens",
        "users",
    ):
        op.drop_table(table)


# One ledger transfer in one round trip: shared.domain.ledger.decide() and apply(), check for
# check, in PL/pgSQL. Keep the numbered steps in step with decide()'s docstring; the differential
# test in tests/integration/test_ledger_store.py runs both against the same random histories.
#
# Locks are always taken in one global order, so concurrent transfers cannot deadlock each other:
# first the pending transfer being posted or voided (if any), then the two accounts by id in
# byte order. Every row is re-read after its lock is granted (READ COMMITTED gives each statement
# a fresh snapshot), so a concurrent transfer's committed effects are never overwritten.
#
# A broken floor or status after the checks said OK can only be a bug: the functions raise
# SQLSTATE PSL01 (shared.adapters.ledger_store.LEDGER_INVARIANT_SQLSTATE, which turns it into
# LedgerInvariantViolated), and the caller's transaction aborts.
CREATE_CHECK_ACCOUNT_FLOOR_FUNCTION = r"""
CREATE FUNCTION paystream_check_account_floor(account accounts) RETURNS void
LANGUAGE plpgsql AS $function$
BEGIN
    IF account.debits_pending < 0 OR account.debits_posted < 0
        OR account.credits_pending < 0 OR account.credits_posted < 0
        OR ((account.flags & 1) <> 0
            AND account.debits_pending + account.debits_posted > account.credits_posted)
        OR ((account.flags & 2) <> 0
            AND account.credits_pending + account.credits_posted > account.debits_posted)
    THEN
        RAISE EXCEPTION USING
            ERRCODE = 'PSL01',
            MESSAGE = format('ledger invariant violated: account %s breaks its floor', account.id);
    END IF;
END;
$function$
"""

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
    -- Locks: the pending transfer first, then the accounts in id order (see the comment above).
    IF p_pending_id IS NOT NULL THEN
        SELECT * INTO v_pending FROM transfers WHERE id = p_pending_id FOR UPDATE;
        v_pending_found := FOUND;
    END IF;
    IF p_debit_account_id COLLATE "C" <= p_credit_account_id COLLATE "C" THEN
        SELECT * INTO v_debit FROM accounts WHERE id = p_debit_account_id FOR UPDATE;
        v_debit_found := FOUND;
        SELECT * INTO v_credit FROM accounts WHERE id = p_credit_account_id FOR UPDATE;
        v_credit_found := FOUND;
    ELSE
        SELECT * INTO v_credit FROM accounts WHERE id = p_credit_account_id FOR UPDATE;
        v_credit_found := FOUND;
        SELECT * INTO v_debit FROM accounts WHERE id = p_debit_account_id FOR UPDATE;
        v_debit_found := FOUND;
    END IF;

    -- 1. Idempotency: a stored transfer with this id answers every retry.
    SELECT * INTO v_existing FROM transfers WHERE id = p_id;
    IF FOUND THEN
        RETURN paystream_exists_outcome(
            v_existing, p_debit_account_id, p_credit_account_id, p_amount_minor, p_currency,
            p_flags, p_pending_id, p_timeout_seconds);
    END IF;

    -- 2-6. The transfer on its own.
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
    IF NOT v_debit_found THEN
        RETURN 'debit_account_not_found';
    END IF;
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
               debits_posted = debits_posted + v_posted_minor
         WHERE id = p_debit_account_id
        RETURNING * INTO STRICT v_debit;
        UPDATE accounts
           SET credits_pending = credits_pending - v_released_minor,
               credits_posted = credits_posted + v_posted_minor
         WHERE id = p_credit_account_id
        RETURNING * INTO STRICT v_credit;
        UPDATE transfers
           SET pending_status = CASE WHEN (p_flags & flag_post) <> 0 THEN 'posted' ELSE 'voided' END
         WHERE id = p_pending_id;
    ELSIF (p_flags & flag_pending) <> 0 THEN
        UPDATE accounts SET debits_pending = debits_pending + p_amount_minor
         WHERE id = p_debit_account_id
        RETURNING * INTO STRICT v_debit;
        UPDATE accounts SET credits_pending = credits_pending + p_amount_minor
         WHERE id = p_credit_account_id
        RETURNING * INTO STRICT v_credit;
    ELSE
        UPDATE accounts SET debits_posted = debits_posted + p_amount_minor
         WHERE id = p_debit_account_id
        RETURNING * INTO STRICT v_debit;
        UPDATE accounts SET credits_posted = credits_posted + p_amount_minor
         WHERE id = p_credit_account_id
        RETURNING * INTO STRICT v_credit;
    END IF;

    -- Check again after writing: a broken floor here is a bug, and aborts the transaction.
    PERFORM paystream_check_account_floor(v_debit);
    PERFORM paystream_check_account_floor(v_credit);
    RETURN 'ok';
END;
$function$
"""

# Step 1 of decide(): which field of a retried transfer differs from the stored one, in the
# order of TransferOutcome. Created before paystream_create_transfer, which calls it.
CREATE_EXISTS_OUTCOME_FUNCTION = r"""
CREATE FUNCTION paystream_exists_outcome(
    stored transfers,
    p_debit_account_id varchar,
    p_credit_account_id varchar,
    p_amount_minor bigint,
    p_currency varchar,
    p_flags integer,
    p_pending_id varchar,
    p_timeout_seconds integer
) RETURNS text
LANGUAGE sql IMMUTABLE AS $function$
    SELECT CASE
        WHEN stored.debit_account_id <> p_debit_account_id
            THEN 'exists_with_different_debit_account_id'
        WHEN stored.credit_account_id <> p_credit_account_id
            THEN 'exists_with_different_credit_account_id'
        WHEN stored.amount_minor <> p_amount_minor THEN 'exists_with_different_amount'
        WHEN stored.currency <> p_currency THEN 'exists_with_different_currency'
        WHEN stored.flags <> p_flags THEN 'exists_with_different_flags'
        WHEN stored.pending_id IS DISTINCT FROM p_pending_id
            THEN 'exists_with_different_pending_id'
        WHEN stored.timeout_seconds <> p_timeout_seconds THEN 'exists_with_different_timeout'
        ELSE 'exists'
    END
$function$
"""

# One statement each: pg8000 sends statements as prepared statements, which hold one command.
DROP_TRANSFER_FUNCTIONS = (
    "DROP FUNCTION paystream_create_transfer(varchar, varchar, varchar, bigint, varchar, integer,"
    " varchar, integer, timestamptz)",
    "DROP FUNCTION paystream_exists_outcome(transfers, varchar, varchar, bigint, varchar, integer, varchar, integer)",
    "DROP FUNCTION paystream_check_account_floor(accounts)",
)
