"""Fraud rules: admin-editable thresholds, the sanctions list, screening keys, and the payment
indexes score-fraud reads through.

Revision ID: 0010_rules
Revises: 0009_kyc
Create Date: 2026-12-05

Existing users get their name's screening key here, so that they are screened as payees from
the first payment after the upgrade, and the bundled sample list is loaded so that screening
works from the start; `paystream sanctions refresh` replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from shared.domain.sanctions import name_key
from shared.sanctions import BUNDLED_LIST_DIR

revision: str = "0010_rules"
down_revision: str | None = "0009_kyc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
# Users whose keys are computed per round trip while upgrading.
_BACKFILL_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("screening_name_key", sa.String(200), nullable=True))
        batch.add_column(sa.Column("sanctions_matched_at", Timestamp, nullable=True))
        batch.add_column(sa.Column("sanctions_match", sa.String(500), nullable=True))
    with op.batch_alter_table("kyc_profiles") as batch:
        batch.add_column(sa.Column("legal_name_key", sa.String(200), nullable=True))
    op.create_index("ix_payments_payer_created", "payments", ["payer_id", "created_at"])
    op.create_index("ix_payments_payee_created", "payments", ["payee_id", "created_at"])
    op.create_index("ix_payments_payer_payee", "payments", ["payer_id", "payee_id"])
    op.create_table(
        "fraud_thresholds",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(40), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_fraud_thresholds"),
    )
    op.create_table(
        "sanctions_entries",
        sa.Column("entry_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False),
        sa.Column("name", sa.String(350), nullable=False),
        sa.Column("entry_type", sa.String(40), nullable=False),
        sa.Column("programs", sa.String(200), nullable=False),
        sa.Column("loaded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "name_key", name="pk_sanctions_entries"),
    )
    op.create_index("ix_sanctions_entries_name_key", "sanctions_entries", ["name_key"])
    op.create_table(
        "sanctioned_countries",
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("loaded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("country", name="pk_sanctioned_countries"),
    )
    _backfill_keys(op.get_bind())
    _load_bundled_list(op.get_bind())


def _load_bundled_list(conn: sa.Connection) -> None:
    from shared.domain.sanctions import parse_alternates, parse_countries, parse_sdn

    def read(name: str) -> str:
        return (BUNDLED_LIST_DIR / name).read_text(encoding="utf-8")

    now = datetime.now(UTC)
    primaries = parse_sdn(read("sdn.csv"))
    entries = {(e.entry_id, e.key): e for e in (*primaries, *parse_alternates(read("alt.csv"), primaries))}
    table = sa.table(
        "sanctions_entries",
        *(sa.column(name) for name in ("entry_id", "name_key", "name", "entry_type", "programs", "loaded_at")),
    )
    conn.execute(
        table.insert(),
        [
            {"entry_id": e.entry_id, "name_key": e.key, "name": e.name, "entry_type": e.entry_type,
             "programs": e.programs, "loaded_at": now}
            for e in entries.values()
        ],
    )  # fmt: skip
    countries = sa.table("sanctioned_countries", sa.column("country"), sa.column("program"), sa.column("loaded_at"))
    conn.execute(
        countries.insert(),
        [
            {"country": c.country, "program": c.program, "loaded_at": now}
            for c in parse_countries(read("countries.csv"))
        ],
    )


def _backfill_keys(conn: sa.Connection) -> None:
    users = sa.table("users", sa.column("id"), sa.column("full_name"), sa.column("screening_name_key"))
    profiles = sa.table("kyc_profiles", sa.column("user_id"), sa.column("legal_name"), sa.column("legal_name_key"))
    for table, id_column, name_column, key_column in (
        (users, users.c.id, users.c.full_name, "screening_name_key"),
        (profiles, profiles.c.user_id, profiles.c.legal_name, "legal_name_key"),
    ):
        after = ""
        while True:
            rows = conn.execute(
                sa.select(id_column, name_column).where(id_column > after).order_by(id_column).limit(_BACKFILL_BATCH)
            ).all()
            if not rows:
                break
            for row_id, name in rows:
                conn.execute(table.update().where(id_column == row_id).values({key_column: name_key(str(name))}))
            after = rows[-1][0]


def downgrade() -> None:
    op.drop_table("sanctioned_countries")
    op.drop_index("ix_sanctions_entries_name_key", table_name="sanctions_entries")
    op.drop_table("sanctions_entries")
    op.drop_table("fraud_thresholds")
    op.drop_index("ix_payments_payer_payee", table_name="payments")
    op.drop_index("ix_payments_payee_created", table_name="payments")
    op.drop_index("ix_payments_payer_created", table_name="payments")
    with op.batch_alter_table("kyc_profiles") as batch:
        batch.drop_column("legal_name_key")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("sanctions_match")
        batch.drop_column("sanctions_matched_at")
        batch.drop_column("screening_name_key")
