"""Personal data encrypted in the application: per-user data keys, the e-mail blind index, and
the rows that exist sealed.

- `personal_data_keys`: each user's `personal` and `retention` data keys, wrapped by the
  key-encryption key (shared.privacy);
- `users`: the address and the name sealed (`email_encrypted`, `full_name_encrypted`), the
  address's keyed blind index (`email_index`, unique) and `closed_at`; the clear columns go;
- `funding_sources.gateway_token`, sealed under the personal key;
- `kyc_profiles` (name, date of birth, address, phone) and `kyc_documents.document_number`,
  sealed under the retention key;
- `notifications.counterparty_id`: new notifications name the other party by id; the texts
  stored before are sealed under their recipient's personal key;
- the sanctions screening keys (users', KYC profiles', the list's) become SHA-256 digests of the
  names' normal forms (shared.domain.sanctions.screening_key): no name stays in clear there;
- `password_resets.email_digest` (0014) becomes the address's blind index, as new requests
  record it: a request of an account is re-keyed, and the requests for unknown addresses (which
  only throttle for an hour, and whose addresses are not known here) are deleted.

What else 0014 added holds no personal data in clear: the second factor's secret stays sealed
under a key derived from the secret key (shared.services.mfa), the recovery codes, the
verification codes and the reset tokens are digests.

Sealing the rows that exist needs the platform's key-encryption key and the index key
(PAYSTREAM_PERSONAL_DATA_KEY_FILE or the KMS key, and PAYSTREAM_PERSONAL_DATA_INDEX_KEY): the
migration reads them from the settings only when there are rows to seal.

Revision ID: 0015_privacy
Revises: 0014_mfa
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0015_privacy"
down_revision: str | None = "0014_mfa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
# Rows sealed per statement batch.
_BATCH_ROWS = 500

_users = sa.table(
    "users",
    sa.column("id"),
    sa.column("email"),
    sa.column("full_name"),
    sa.column("email_encrypted"),
    sa.column("email_index"),
    sa.column("full_name_encrypted"),
)
_keys = sa.table(
    "personal_data_keys",
    sa.column("user_id"),
    sa.column("purpose"),
    sa.column("wrapped_key"),
    sa.column("created_at"),
)
_sources = sa.table("funding_sources", sa.column("id"), sa.column("user_id"), sa.column("gateway_token"))
_profiles = sa.table(
    "kyc_profiles",
    sa.column("user_id"),
    sa.column("legal_name"),
    sa.column("date_of_birth"),
    sa.column("address_line1"),
    sa.column("address_line2"),
    sa.column("city"),
    sa.column("postal_code"),
    sa.column("phone"),
)
_documents = sa.table("kyc_documents", sa.column("id"), sa.column("user_id"), sa.column("document_number"))
_resets = sa.table("password_resets", sa.column("user_id"), sa.column("email_digest"))
_notifications = sa.table("notifications", sa.column("id"), sa.column("user_id"), sa.column("title"), sa.column("body"))
_PROFILE_FIELDS = ("legal_name", "date_of_birth", "address_line1", "address_line2", "city", "postal_code", "phone")


def upgrade() -> None:
    op.create_table(
        "personal_data_keys",
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("shred_after", Timestamp, nullable=True),
        sa.Column("destroyed_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("user_id", "purpose", name="pk_personal_data_keys"),
    )
    op.create_index("ix_personal_data_keys_shred_after", "personal_data_keys", ["shred_after"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_encrypted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("email_index", sa.String(64), nullable=True))
        batch.add_column(sa.Column("full_name_encrypted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("closed_at", Timestamp, nullable=True))
    with op.batch_alter_table("funding_sources") as batch:
        batch.alter_column("gateway_token", type_=sa.Text(), existing_type=sa.String(40), existing_nullable=False)
    with op.batch_alter_table("kyc_profiles") as batch:
        for name in _PROFILE_FIELDS:
            if name == "date_of_birth":
                batch.alter_column(name, type_=sa.Text(), postgresql_using="date_of_birth::text")
            else:
                batch.alter_column(name, type_=sa.Text())
    with op.batch_alter_table("kyc_documents") as batch:
        batch.alter_column("document_number", type_=sa.Text(), existing_type=sa.String(40), existing_nullable=False)
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("counterparty_id", sa.String(40), nullable=True))
        batch.alter_column("title", type_=sa.Text(), existing_type=sa.String(200), existing_nullable=False)
        batch.alter_column("body", type_=sa.Text(), existing_type=sa.String(1000), existing_nullable=False)

    _digest_screening_keys(op.get_bind())
    op.get_bind().execute(_resets.delete().where(_resets.c.user_id.is_(None)))
    _seal_existing_rows(op.get_bind())

    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_email", type_="unique")
        batch.drop_column("email")
        batch.drop_column("full_name")
        batch.create_unique_constraint("uq_users_email_index", ["email_index"])


def _digest_screening_keys(conn: sa.Connection) -> None:
    """Replace every stored screening key (a name's normal form) by its digest."""
    from shared.domain.sanctions import digest_of_key

    entries = sa.table("sanctions_entries", sa.column("entry_id"), sa.column("name_key"))
    for row in conn.execute(sa.select(entries.c.entry_id, entries.c.name_key)).all():
        conn.execute(
            entries.update()
            .where(entries.c.entry_id == row.entry_id, entries.c.name_key == row.name_key)
            .values(name_key=digest_of_key(row.name_key))
        )
    users = sa.table("users", sa.column("id"), sa.column("screening_name_key"))
    profiles = sa.table("kyc_profiles", sa.column("user_id"), sa.column("legal_name_key"))
    for table, id_column, key_column in (
        (users, users.c.id, users.c.screening_name_key),
        (profiles, profiles.c.user_id, profiles.c.legal_name_key),
    ):
        for row_id, key in conn.execute(sa.select(id_column, key_column).where(key_column.is_not(None))).all():
            conn.execute(table.update().where(id_column == row_id).values({key_column.name: digest_of_key(str(key))}))


def _seal_existing_rows(conn: sa.Connection) -> None:
    """Give every existing user their data keys and seal what names them."""
    user_ids = [row.id for row in conn.execute(sa.select(_users.c.id))]
    if not user_ids:
        return
    # Imported here: only a database with users needs the keys, and the settings name them.
    from shared.adapters.aws import aws_client
    from shared.bootstrap import blind_index_key_of, key_encryption_key_of
    from shared.privacy import BlindIndex, PersonalDataVault
    from shared.settings import Settings, load_settings

    settings: Settings = load_settings()

    def client(service: str):
        return aws_client(service, endpoint_url=settings.aws_endpoint_for(service), region=settings.aws_region)

    key_encryption_key = key_encryption_key_of(settings, client)
    index = BlindIndex(lambda: blind_index_key_of(settings))
    now = datetime.now(UTC)
    personal: dict[str, bytes] = {}
    retention: dict[str, bytes] = {}
    for user_id in user_ids:
        rows = []
        for purpose, keys in (("personal", personal), ("retention", retention)):
            key, wrapped = key_encryption_key.generate_data_key()
            keys[user_id] = key
            rows.append({"user_id": user_id, "purpose": purpose, "wrapped_key": wrapped, "created_at": now})
        conn.execute(_keys.insert(), rows)
    seal = PersonalDataVault.seal_with

    for row in conn.execute(sa.select(_users.c.id, _users.c.email, _users.c.full_name)).all():
        key = personal[row.id]
        email_index = index.email(row.email)
        conn.execute(
            _users.update()
            .where(_users.c.id == row.id)
            .values(
                email_encrypted=seal(key, row.id, "email", row.email),
                email_index=email_index,
                full_name_encrypted=seal(key, row.id, "full_name", row.full_name),
            )
        )
        conn.execute(_resets.update().where(_resets.c.user_id == row.id).values(email_digest=email_index))
    for row in conn.execute(sa.select(_sources)).all():
        conn.execute(
            _sources.update()
            .where(_sources.c.id == row.id)
            .values(
                gateway_token=seal(
                    personal[row.user_id], row.user_id, "funding_sources.gateway_token", row.gateway_token
                )
            )
        )
    for row in conn.execute(sa.select(_profiles)).all():
        key = retention[row.user_id]
        values = {
            name: seal(key, row.user_id, f"kyc_profiles.{name}", str(getattr(row, name)))
            for name in _PROFILE_FIELDS
            if getattr(row, name) is not None
        }
        conn.execute(_profiles.update().where(_profiles.c.user_id == row.user_id).values(**values))
    for row in conn.execute(sa.select(_documents)).all():
        key = retention[row.user_id]
        conn.execute(
            _documents.update()
            .where(_documents.c.id == row.id)
            .values(document_number=seal(key, row.user_id, "kyc_documents.document_number", row.document_number))
        )
    for row in conn.execute(sa.select(_notifications)).all():
        if row.user_id not in personal:
            continue
        key = personal[row.user_id]
        conn.execute(
            _notifications.update()
            .where(_notifications.c.id == row.id)
            .values(
                title=seal(key, row.user_id, "notifications.title", row.title),
                body=seal(key, row.user_id, "notifications.body", row.body),
            )
        )


def downgrade() -> None:
    # Sealed data cannot be opened here without the keys; a downgrade keeps the columns empty,
    # and the password resets asked for (recorded by blind index) must be asked for again.
    op.execute("DELETE FROM password_resets")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_email_index", type_="unique")
        batch.add_column(sa.Column("email", sa.String(320), nullable=True))
        batch.add_column(sa.Column("full_name", sa.String(200), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.drop_column("closed_at")
        batch.drop_column("full_name_encrypted")
        batch.drop_column("email_index")
        batch.drop_column("email_encrypted")
        batch.create_unique_constraint("uq_users_email", ["email"])
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("counterparty_id")
    op.drop_index("ix_personal_data_keys_shred_after", table_name="personal_data_keys")
    op.drop_table("personal_data_keys")
