"""Know your customer: the profile that raises a user to `basic`, and identity documents.

Revision ID: 0009_kyc
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_kyc"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kyc_profiles",
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("legal_name", sa.String(200), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("address_line1", sa.String(200), nullable=False),
        sa.Column("address_line2", sa.String(200), nullable=True),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("postal_code", sa.String(16), nullable=False),
        sa.Column("address_country", sa.String(2), nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_kyc_profiles_user_id_users"),
        sa.PrimaryKeyConstraint("user_id", name="pk_kyc_profiles"),
    )
    op.create_table(
        "kyc_documents",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("document_type", sa.String(24), nullable=False),
        sa.Column("document_number", sa.String(40), nullable=False),
        sa.Column("issuing_country", sa.String(2), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("object_key", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.Column("review_reason", sa.String(40), nullable=True),
        sa.Column("decided_by", sa.String(40), nullable=True),
        sa.Column("decision_reason", sa.String(500), nullable=True),
        sa.Column("decided_at", Timestamp, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_kyc_documents_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_documents"),
    )
    op.create_index("ix_kyc_documents_user_id", "kyc_documents", ["user_id"])
    op.create_index("ix_kyc_documents_status_created", "kyc_documents", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_kyc_documents_status_created", table_name="kyc_documents")
    op.drop_index("ix_kyc_documents_user_id", table_name="kyc_documents")
    op.drop_table("kyc_documents")
    op.drop_table("kyc_profiles")
