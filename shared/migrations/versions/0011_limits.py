"""Limits per KYC level, seeded with the defaults; the index on a payer's payments alone goes.

The seeded amounts are written out here (a migration never changes with the code it predates);
a test checks that they are shared.domain.limits.DEFAULT_LIMITS_USD_MINOR.

Revision ID: 0011_limits
Revises: 0010_rules
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0011_limits"
down_revision: str | None = "0010_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)

# (kyc_level, limit_name, USD minor units)
SEEDED_LIMITS = (
    ("none", "single_payment", 500_000),
    ("none", "sent_24h", 750_000),
    ("none", "sent_30d", 1_000_000),
    ("none", "withdrawal_24h", 250_000),
    ("basic", "single_payment", 1_000_000),
    ("basic", "sent_24h", 1_500_000),
    ("basic", "sent_30d", 2_500_000),
    ("basic", "withdrawal_24h", 500_000),
    ("verified", "single_payment", 5_000_000),
    ("verified", "sent_24h", 10_000_000),
    ("verified", "sent_30d", 25_000_000),
    ("verified", "withdrawal_24h", 5_000_000),
)


def upgrade() -> None:
    kyc_limits = op.create_table(
        "kyc_limits",
        sa.Column("kyc_level", sa.String(16), nullable=False),
        sa.Column("limit_name", sa.String(24), nullable=False),
        sa.Column("amount_usd_minor", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(40), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint("amount_usd_minor > 0", name=op.f("ck_kyc_limits_amount_positive")),
        sa.PrimaryKeyConstraint("kyc_level", "limit_name", name="pk_kyc_limits"),
    )
    seeded_at = datetime.now(UTC)
    op.bulk_insert(
        kyc_limits,
        [
            {"kyc_level": level, "limit_name": name, "amount_usd_minor": amount, "updated_at": seeded_at}
            for level, name, amount in SEEDED_LIMITS
        ],
    )
    # The limit check sums a payer's payments over a window through (payer_id, created_at),
    # which 0010_rules created; it serves every lookup by payer as well, so the index on
    # payer_id alone goes.
    op.drop_index("ix_payments_payer_id", table_name="payments")


def downgrade() -> None:
    op.create_index("ix_payments_payer_id", "payments", ["payer_id"])
    op.drop_table("kyc_limits")
