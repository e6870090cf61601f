"""Operators: roles, frozen accounts, KYC levels and the review queue of held payments.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

`users.role` held one role per account and was always `user`; roles now live in `user_roles`,
one row per operator role (`support`, `admin`, `auditor`), since an account may hold several and
`user` is every account's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("role")
        batch.add_column(sa.Column("kyc_level", sa.String(16), server_default="none", nullable=False))
        batch.add_column(sa.Column("frozen_at", Timestamp, nullable=True))
        batch.add_column(sa.Column("frozen_reason", sa.String(500), nullable=True))
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("granted_by", sa.String(40), nullable=True),
        sa.Column("granted_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_roles_user_id_users"),
        sa.PrimaryKeyConstraint("user_id", "role", name="pk_user_roles"),
    )
    op.create_table(
        "payment_reviews",
        sa.Column("payment_id", sa.String(40), nullable=False),
        sa.Column("payer_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fraud_score", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("review_reason", sa.String(40), nullable=False),
        sa.Column("decided_by", sa.String(40), nullable=True),
        sa.Column("decision_reason", sa.String(500), nullable=True),
        sa.Column("decided_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_payment_reviews_payment_id_payments"),
        sa.ForeignKeyConstraint(["payer_id"], ["users.id"], name="fk_payment_reviews_payer_id_users"),
        sa.PrimaryKeyConstraint("payment_id", name="pk_payment_reviews"),
    )
    op.create_index("ix_payment_reviews_payer_id", "payment_reviews", ["payer_id"])
    op.create_index("ix_payment_reviews_status_created", "payment_reviews", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_payment_reviews_status_created", table_name="payment_reviews")
    op.drop_index("ix_payment_reviews_payer_id", table_name="payment_reviews")
    op.drop_table("payment_reviews")
    op.drop_table("user_roles")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("frozen_reason")
        batch.drop_column("frozen_at")
        batch.drop_column("kyc_level")
        batch.add_column(sa.Column("role", sa.String(16), server_default="user", nullable=False))
