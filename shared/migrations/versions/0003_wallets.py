"""Conversions and withdrawals: FX quotes, conversions, withdrawals, the sandbox's payouts, and
the counter side of a conversion in the transaction history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("transactions") as table:
        table.add_column(sa.Column("counter_amount_minor", sa.BigInteger(), nullable=True))
        table.add_column(sa.Column("counter_currency", sa.String(3), nullable=True))
    op.create_table(
        "fx_quotes",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("from_currency", sa.String(3), nullable=False),
        sa.Column("to_currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("receive_minor", sa.BigInteger(), nullable=False),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("mid_rate", sa.String(80), nullable=False),
        sa.Column("spread_basis_points", sa.Integer(), nullable=False),
        sa.Column("rates_published_on", sa.Date(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("conversion_id", sa.String(40), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_fx_quotes_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_fx_quotes"),
        sa.UniqueConstraint("conversion_id", name="uq_fx_quotes_conversion_id"),
    )
    op.create_index("ix_fx_quotes_user_id", "fx_quotes", ["user_id"])
    op.create_table(
        "conversions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("quote_id", sa.String(40), nullable=True),
        sa.Column("from_currency", sa.String(3), nullable=False),
        sa.Column("to_currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("receive_minor", sa.BigInteger(), nullable=False),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("mid_rate", sa.String(80), nullable=False),
        sa.Column("spread_basis_points", sa.Integer(), nullable=False),
        sa.Column("rates_published_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_conversions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_conversions"),
    )
    op.create_index("ix_conversions_user_id", "conversions", ["user_id"])
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("funding_source_id", sa.String(40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.Column("payout_id", sa.String(40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_withdrawals_amount_positive")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_withdrawals_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_withdrawals"),
    )
    op.create_index("ix_withdrawals_user_id", "withdrawals", ["user_id"])
    op.create_index("ix_withdrawals_status_updated", "withdrawals", ["status", "updated_at"])
    op.create_table(
        "payouts",
        sa.Column("idempotency_key", sa.String(80), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("token", sa.String(40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name="pk_payouts"),
        sa.UniqueConstraint("id", name="uq_payouts_id"),
    )


def downgrade() -> None:
    for name in ("payouts", "withdrawals", "conversions", "fx_quotes"):
        op.drop_table(name)
    with op.batch_alter_table("transactions") as table:
        table.drop_column("counter_currency")
        table.drop_column("counter_amount_minor")
