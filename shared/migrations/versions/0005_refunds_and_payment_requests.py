"""Refunds and payment requests.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=False),
        sa.Column("payer_id", sa.String(40), nullable=False),
        sa.Column("payee_id", sa.String(40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.Column("failure_message", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_refunds_payment_id_payments"),
        sa.ForeignKeyConstraint(["payer_id"], ["users.id"], name="fk_refunds_payer_id_users"),
        sa.ForeignKeyConstraint(["payee_id"], ["users.id"], name="fk_refunds_payee_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
    )
    op.create_index("ix_refunds_payment_id", "refunds", ["payment_id"])
    op.create_table(
        "payment_requests",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("requester_id", sa.String(40), nullable=False),
        sa.Column("payer_id", sa.String(40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("note", sa.String(500), server_default="", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=True),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payment_requests_amount_positive")),
        sa.ForeignKeyConstraint(["requester_id"], ["users.id"], name="fk_payment_requests_requester_id_users"),
        sa.ForeignKeyConstraint(["payer_id"], ["users.id"], name="fk_payment_requests_payer_id_users"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_payment_requests_payment_id_payments"),
        sa.PrimaryKeyConstraint("id", name="pk_payment_requests"),
    )
    op.create_index("ix_payment_requests_requester_id", "payment_requests", ["requester_id"])
    op.create_index("ix_payment_requests_payer_id", "payment_requests", ["payer_id"])
    op.create_index("ix_payment_requests_payment_id", "payment_requests", ["payment_id"])
    op.create_index("ix_payment_requests_status_expires_at", "payment_requests", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("payment_requests")
    op.drop_table("refunds")
