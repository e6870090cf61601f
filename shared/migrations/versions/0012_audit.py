"""The daily reconciliation's findings: the flagged activity that is not a payment's.

Revision ID: 0012_audit
Revises: 0011_limits
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_audit"
down_revision: str | None = "0011_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "flagged_activity",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("finding", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), server_default="", nullable=False),
        sa.Column("subject_id", sa.String(80), server_default="", nullable=False),
        sa.Column("expected_minor", sa.BigInteger(), nullable=True),
        sa.Column("actual_minor", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("detected_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_flagged_activity"),
        sa.UniqueConstraint(
            "day", "finding", "currency", "subject_id", name="uq_flagged_activity_day_finding_currency_subject_id"
        ),
    )


def downgrade() -> None:
    op.drop_table("flagged_activity")
