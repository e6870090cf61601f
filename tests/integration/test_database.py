"""Engines are configured as the ledger relies on, and failures map to DatabaseUnavailable."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from shared.adapters import database
from shared.adapters.database import (
    POSTGRES_STATEMENT_TIMEOUT_MS,
    DatabaseUnavailable,
    as_utc,
    create_engine,
    is_postgresql,
    translate_errors,
)
from shared.adapters.tables import accounts
from shared.observability.metrics import watch_engine

pytestmark = pytest.mark.integration

WRITER_THREADS = 8
INCREMENTS_PER_WRITER = 40
# Nothing listens on port 1 of the loopback interface, so connecting is refused at once.
UNREACHABLE_POSTGRES_URL = "postgresql+pg8000://postgres@127.0.0.1:1/paystream"
SHORT_STATEMENT_TIMEOUT_MS = 50


def test_sqlite_writers_queue_instead_of_failing_or_losing_updates(
    migrated_sqlite_url: str,
) -> None:
    # GIVEN one row and several threads that each read it and write it back incremented
    engine = create_engine(migrated_sqlite_url, pool_size=WRITER_THREADS)
    account_id = "system:USD:funding"
    with engine.begin() as conn:
        conn.execute(
            sa.insert(accounts).values(
                id=account_id, currency="USD", kind="funding", created_at=datetime.now(UTC)
            )
        )
    errors: list[BaseException] = []

    def increment_many_times() -> None:
        try:
            for _ in range(INCREMENTS_PER_WRITER):
                with engine.begin() as conn:
                    # Read, then write: a deferred transaction would fail on the lock upgrade.
                    current = conn.execute(
                        sa.select(accounts.c.credits_posted).where(accounts.c.id == account_id)
                    ).scalar_one()
                    conn.execute(
                        sa.update(accounts)
                        .where(accounts.c.id == account_id)
                        .values(credits_posted=current + 1)
                    )
        except BaseException as error:  # noqa: BLE001 - collected and reported below
            errors.append(error)

    # WHEN they all run at once
    threads = [threading.Thread(target=increment_many_times) for _ in range(WRITER_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # THEN none failed with "database is locked" and no increment was lost
    assert errors == []
    with engine.connect() as conn:
        total = conn.execute(
            sa.select(accounts.c.credits_posted).where(accounts.c.id == account_id)
        ).scalar_one()
    engine.dispose()
    assert total == WRITER_THREADS * INCREMENTS_PER_WRITER


def test_sqlite_engine_settings(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert not is_postgresql(conn)
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    finally:
        engine.dispose()


def test_postgres_engine_settings(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=1)
    try:
        with engine.connect() as conn:
            assert is_postgresql(conn)
            assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == "read committed"
            timeout = conn.exec_driver_sql("SHOW statement_timeout").scalar()
            assert timeout == f"{POSTGRES_STATEMENT_TIMEOUT_MS // 1000}s"
    finally:
        engine.dispose()


def test_an_unreachable_server_is_unavailable() -> None:
    engine = create_engine(UNREACHABLE_POSTGRES_URL, pool_size=1)
    try:
        with pytest.raises(DatabaseUnavailable), translate_errors():
            with engine.connect():
                pass
    finally:
        engine.dispose()


def test_a_statement_cancelled_by_its_timeout_is_unavailable(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=1)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {SHORT_STATEMENT_TIMEOUT_MS}")
            with pytest.raises(DatabaseUnavailable), translate_errors():
                conn.exec_driver_sql("SELECT pg_sleep(5)")
            conn.rollback()
    finally:
        engine.dispose()


def test_a_connection_dropped_mid_transaction_is_unavailable(postgres_url: str) -> None:
    # GIVEN an engine watched for metrics, as every function's is, in a transaction
    engine = create_engine(postgres_url, pool_size=1)
    watch_engine(engine)
    admin = create_engine(postgres_url, pool_size=1)
    try:
        with pytest.raises(DatabaseUnavailable), translate_errors():
            with engine.begin() as conn:
                pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                # WHEN the server ends the session (a restart, a fail-over, an operator)
                with admin.connect() as other:
                    other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                conn.execute(sa.text("SELECT 1"))
        # THEN the caller hears "unavailable" (a 503), and the pool serves a new session
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
        admin.dispose()


def test_a_wrong_statement_is_not_unavailable(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=1)
    try:
        with engine.connect() as conn:
            with pytest.raises(sa_exc.DBAPIError) as raised, translate_errors():
                conn.exec_driver_sql("SELECT no_such_column FROM accounts")
            assert not isinstance(raised.value, DatabaseUnavailable)
            conn.rollback()
    finally:
        engine.dispose()


def test_as_utc_reads_naive_times_as_utc() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert as_utc(naive) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    paris = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc(paris) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert as_utc(paris).tzinfo is UTC


def test_an_exhausted_pool_is_unavailable(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a pool of one connection that gives up on a checkout quickly
    monkeypatch.setattr(database, "POSTGRES_POOL_OVERFLOW_MAX", 0)
    monkeypatch.setattr(database, "POSTGRES_POOL_TIMEOUT_SECONDS", 0.1)
    engine = create_engine(postgres_url, pool_size=1)
    try:
        with engine.connect():
            # WHEN a second connection is wanted while the only one is in use
            # THEN the caller hears "unavailable", not a pool internals error
            with pytest.raises(DatabaseUnavailable), translate_errors():
                with engine.connect():
                    pass
    finally:
        engine.dispose()
