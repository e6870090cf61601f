"""The second factor (TOTP and recovery codes), password resets and e-mail verification.

The accounts that exist already are taken as verified (at their creation): they signed up when
no code was sent, and their owners could not have proved the address any other way. Every
account created from now on is verified by an e-mailed code.

Revision ID: 0014_mfa
Revises: 0013_sessions
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_mfa"
down_revision: str | None = "0013_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", Timestamp, nullable=True))
        batch.add_column(sa.Column("mfa_secret", sa.String(200), nullable=True))
        batch.add_column(sa.Column("mfa_enabled_at", Timestamp, nullable=True))
        batch.add_column(sa.Column("mfa_last_step", sa.BigInteger(), nullable=True))
    op.execute("UPDATE users SET email_verified_at = created_at")
    op.create_table(
        "mfa_recovery_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("used_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_mfa_recovery_codes_user_id_users"),
        sa.PrimaryKeyConstraint("code_hash", name="pk_mfa_recovery_codes"),
    )
    op.create_index("ix_mfa_recovery_codes_user_id", "mfa_recovery_codes", ["user_id"])
    op.create_table(
        "password_resets",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("email_digest", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("used_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_password_resets_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_password_resets"),
        sa.UniqueConstraint("token_hash", name="uq_password_resets_token_hash"),
    )
    op.create_index("ix_password_resets_email_digest", "password_resets", ["email_digest"])
    op.create_index("ix_password_resets_user_id", "password_resets", ["user_id"])
    op.create_table(
        "email_verifications",
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("code_digest", sa.String(64), nullable=False),
        sa.Column("sent_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_email_verifications_user_id_users"),
        sa.PrimaryKeyConstraint("user_id", name="pk_email_verifications"),
    )


def downgrade() -> None:
    op.drop_table("email_verifications")
    op.drop_index("ix_password_resets_user_id", table_name="password_resets")
    op.drop_index("ix_password_resets_email_digest", table_name="password_resets")
    op.drop_table("password_resets")
    op.drop_index("ix_mfa_recovery_codes_user_id", table_name="mfa_recovery_codes")
    op.drop_table("mfa_recovery_codes")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("mfa_last_step")
        batch.drop_column("mfa_enabled_at")
        batch.drop_column("mfa_secret")
        batch.drop_column("email_verified_at")
