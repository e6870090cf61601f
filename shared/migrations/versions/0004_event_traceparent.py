"""Events carry the trace context of the work that recorded them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

`events.traceparent` holds the W3C Trace Context of the span that recorded the event; the
outbox publishes it as the CloudEvent `traceparent` extension, so that the consumers continue
the same trace (docs/observability.md). 55 characters: version, trace id, span id and flags.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("traceparent")
