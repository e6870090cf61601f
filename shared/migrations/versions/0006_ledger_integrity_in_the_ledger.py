"""The ledger checks its own references; ledger accounts can be neither deleted nor truncated.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

Every transfer and history entry is written by the ledger's functions, which lock both accounts
and refuse a transfer whose account does not exist (`debit_account_not_found`,
`credit_account_not_found`) before they write. The foreign keys from `transfers` and
`account_history` to `accounts` checked that again, four lookups per transfer on rows the
function already holds, and on the one account every payment credits (a merchant) they are a
quarter of what a batch of transfers costs (bench/RESULTS.md). What the foreign keys also
guarded, that no account a transfer names ever goes away, a trigger now guards on PostgreSQL:
ledger accounts are permanent, so DELETE and TRUNCATE of `accounts` are refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FOREIGN_KEYS = (
    ("transfers", "fk_transfers_debit_account_id_accounts", "debit_account_id"),
    ("transfers", "fk_transfers_credit_account_id_accounts", "credit_account_id"),
    ("account_history", "fk_account_history_account_id_accounts", "account_id"),
)

_PERMANENT_ACCOUNTS = r"""
CREATE FUNCTION paystream_accounts_are_permanent() RETURNS trigger
LANGUAGE plpgsql AS $function$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'PSL03',
        MESSAGE = 'ledger accounts are permanent: transfers and history refer to them';
END;
$function$
"""


def upgrade() -> None:
    for table, name, _ in _FOREIGN_KEYS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PERMANENT_ACCOUNTS)
        op.execute(
            "CREATE TRIGGER accounts_are_permanent BEFORE DELETE ON accounts "
            "FOR EACH ROW EXECUTE FUNCTION paystream_accounts_are_permanent()"
        )
        op.execute(
            "CREATE TRIGGER accounts_are_never_truncated BEFORE TRUNCATE ON accounts "
            "FOR EACH STATEMENT EXECUTE FUNCTION paystream_accounts_are_permanent()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER accounts_are_never_truncated ON accounts")
        op.execute("DROP TRIGGER accounts_are_permanent ON accounts")
        op.execute("DROP FUNCTION paystream_accounts_are_permanent()")
    for table, name, column in _FOREIGN_KEYS:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, "accounts", [column], ["id"])
