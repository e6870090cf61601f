"""Fixtures shared by the whole suite: throwaway databases, migrated or not.

PostgreSQL tests run against the machine's server (PAYSTREAM_TEST_POSTGRES says where; it defaults
to the local trust-auth server), each session in a database of its own that is created here and
dropped at the end, so that parallel sessions and CI never see each other's rows. The server
itself is never stopped or reconfigured. SQLite tests get a fresh file per test.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pg8000.dbapi
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from shared.adapters.database import migrate

__all__: list[str] = []

# Properties are checked for what they assert, never for how long an example takes or is drawn:
# timing lives in bench/, and a deadline or a too-slow check only fails examples on a loaded machine.
settings.register_profile("paystream", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("paystream")

POSTGRES_SERVER_ENV = "PAYSTREAM_TEST_POSTGRES"
POSTGRES_SERVER_DEFAULT = "postgresql+pg8000://postgres@127.0.0.1:5432/test"
# How long to wait for the server when creating or dropping the test database.
POSTGRES_ADMIN_TIMEOUT_SECONDS = 30
DATABASE_NAME_PREFIX = "paystream_test_"


def _server_url() -> sa.URL:
    return sa.make_url(os.environ.get(POSTGRES_SERVER_ENV, POSTGRES_SERVER_DEFAULT))


def _admin_connection(server: sa.URL) -> pg8000.dbapi.Connection:
    """An autocommit pg8000 connection to the server's maintenance database (CREATE DATABASE
    cannot run inside a transaction)."""
    connection = pg8000.dbapi.connect(
        user=server.username or "postgres",
        password=server.password,
        host=server.host or "127.0.0.1",
        port=server.port or 5432,
        database=server.database or "postgres",
        timeout=POSTGRES_ADMIN_TIMEOUT_SECONDS,
    )
    connection.autocommit = True
    return connection


@contextlib.contextmanager
def _throwaway_postgres_database() -> Iterator[str]:
    """Create an empty database on the test server, yield its URL, drop it afterwards."""
    server = _server_url()
    try:
        admin = _admin_connection(server)
    except Exception as error:  # noqa: BLE001 - any failure here means "no usable server"
        pytest.fail(
            f"PostgreSQL is unreachable at {server.render_as_string(hide_password=True)} "
            f"({error}). Start it or point {POSTGRES_SERVER_ENV} at a reachable server.",
            pytrace=False,
        )
    database = DATABASE_NAME_PREFIX + secrets.token_hex(6)
    try:
        # The name is ours (a fixed prefix and hex digits), so writing it into the SQL is safe.
        admin.cursor().execute(f'CREATE DATABASE "{database}"')
    finally:
        admin.close()
    try:
        yield server.set(database=database).render_as_string(hide_password=False)
    finally:
        admin = _admin_connection(server)
        try:
            # FORCE ends connections a failed test may have left behind (PostgreSQL 13+).
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            admin.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database for this test session; dropped afterwards."""
    with _throwaway_postgres_database() as url:
        yield url


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database for this one test (e.g. to test migrations)."""
    with _throwaway_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_url: str) -> str:
    """The session's PostgreSQL database, migrated to the newest schema."""
    migrate(postgres_url)
    return postgres_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new, empty SQLite file for this test."""
    return f"sqlite:///{tmp_path / 'paystream.db'}"


@pytest.fixture
def migrated_sqlite_url(sqlite_url: str) -> str:
    """A SQLite file for this test, migrated to the newest schema."""
    migrate(sqlite_url)
    return sqlite_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database URL; a test using it runs once on SQLite and once on PostgreSQL.

    The PostgreSQL database is shared by the session: tests on it must choose unique ids.
    """
    if request.param == "sqlite":
        return request.getfixturevalue("migrated_sqlite_url")
    return request.getfixturevalue("migrated_postgres_url")
