"""Migration 0015_privacy seals the personal data that exists: a database at 0014 whose users,
funding sources, KYC records and notifications are in clear comes out sealed, indexed and
readable through the platform's keys, with nothing left in clear, and its password resets
recorded by the blind index."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from shared.adapters.database import create_engine, migrate
from shared.bootstrap import platform, reset_platform
from shared.domain.sanctions import screening_key
from shared.privacy import RETENTION
from shared.services.people import people
from tests.fixtures.keys import use_personal_data_keys
from tests.fixtures.migrations import upgrade_to

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_the_migration_seals_existing_rows_and_leaves_nothing_in_clear(tmp_path, monkeypatch):
    # GIVEN a database at 0014 with a user, their card, their KYC, a notification, in clear, and
    # two password resets (one of the user, one for an unknown address)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    upgrade_to(engine, "0014_mfa")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, password_hash, full_name, country, kyc_status, kyc_level, "
                "screening_name_key, created_at, token_version) VALUES ('usr_old', 'old.timer@example.com', '-', "
                "'Old Timer', 'US', 'unverified', 'basic', 'old timer', :now, 0)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO password_resets (id, email_digest, user_id, token_hash, created_at, expires_at) "
                "VALUES ('pwr_old', 'a digest under the old key', 'usr_old', 'a token digest', :now, :now), "
                "('pwr_unknown', 'a digest of an unknown address', NULL, NULL, :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO funding_sources (id, user_id, type, brand, last4, gateway_token, created_at) "
                "VALUES ('fs_old', 'usr_old', 'card', 'visa', '4242', 'tok_0123456789abcdef0123456789abcdef', :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO kyc_profiles (user_id, legal_name, date_of_birth, address_line1, city, postal_code, "
                "address_country, phone, legal_name_key, created_at, updated_at) VALUES ('usr_old', 'Old Q Timer', "
                "'1950-01-02', '1 Memory Lane', 'Leeds', 'LS1 1AA', 'GB', '+447700900999', 'old q timer', :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO notifications (id, user_id, event_id, kind, title, body, created_at) VALUES "
                "('ntf_old', 'usr_old', 'evt_old', 'payment.completed', 'Payment received', "
                "'You received 1.00 USD from Young Person.', :now)"
            ),
            {"now": NOW},
        )
    # WHEN the platform's keys are configured and the migration runs
    use_personal_data_keys(monkeypatch, tmp_path / "keys")
    migrate(engine)
    # THEN nothing of it is in clear any more
    with engine.connect() as conn:
        dump = " ".join(
            str(value)
            for table in ("users", "funding_sources", "kyc_profiles", "notifications")
            for row in conn.execute(sa.text(f"SELECT * FROM {table}"))  # noqa: S608 - fixed table names
            for value in row
        ).casefold()
    for clear in ("old.timer@example.com", "old timer", "memory lane", "+447700900999", "tok_0123", "young person"):
        assert clear not in dump, clear
    # AND the platform reads it all back through the keys the migration made, and the index finds it
    monkeypatch.setenv("PAYSTREAM_DATABASE_URL", url)
    monkeypatch.setenv("PAYSTREAM_REDIS_URL", "memory://")
    reset_platform()
    try:
        runtime = platform()
        with runtime.engine.connect() as conn:
            person = people(conn, ["usr_old"], privacy=runtime.privacy)["usr_old"]
            assert (person.email, person.full_name) == ("old.timer@example.com", "Old Timer")
            row = conn.execute(sa.text("SELECT email_index, screening_name_key FROM users")).one()
            assert row.email_index == runtime.email_index.email("Old.Timer@example.com")
            assert row.screening_name_key == screening_key("Old Timer")
            resets = conn.execute(sa.text("SELECT id, email_digest FROM password_resets")).all()
            assert [tuple(reset) for reset in resets] == [("pwr_old", row.email_index)]
            sealed: str = conn.execute(sa.text("SELECT phone FROM kyc_profiles")).scalar_one()
            assert runtime.privacy.open(conn, "usr_old", "kyc_profiles.phone", sealed, RETENTION) == "+447700900999"
            body: str = conn.execute(sa.text("SELECT body FROM notifications")).scalar_one()
            assert runtime.privacy.open(conn, "usr_old", "notifications.body", body) == (
                "You received 1.00 USD from Young Person."
            )
    finally:
        reset_platform()
        engine.dispose()
