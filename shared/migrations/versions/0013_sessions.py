"""Sessions: each refresh-token family as a session with its device, address and last use,
and the users' token version that ends every session's access tokens at once.

Revision ID: 0013_sessions
Revises: 0012_audit
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_sessions"
down_revision: str | None = "0012_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("user_agent", sa.String(300), server_default="", nullable=False),
        sa.Column("ip_address", sa.String(45), server_default="", nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("last_used_at", Timestamp, nullable=False),
        sa.Column("ended_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    # The families signed in before sessions were kept: one session each, ended when every
    # token of the family is revoked, its device and address unknown.
    op.execute(
        """
        INSERT INTO sessions (id, user_id, user_agent, ip_address, created_at, last_used_at, ended_at)
        SELECT family_id, MIN(user_id), '', '', MIN(issued_at), MAX(issued_at),
               CASE WHEN COUNT(revoked_at) = COUNT(*) THEN MAX(revoked_at) END
        FROM refresh_tokens GROUP BY family_id
        """
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_user_id", table_name="sessions")
    op.drop_table("sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")
