"""Engines are configured as the ledger relies on, and failures map to DatabaseUnavailable."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pg8000.core as pg8000_core
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
            sa.insert(accounts).values(id=account_id, currency="USD", kind="funding", created_at=datetime.now(UTC))
        )
    errors: list[BaseException] = []

    def increment_many_times() -> None:
        try:
            for _ in range(INCREMENTS_PER_WRITER):
                with engine.begin() as conn:
                    # Read, then write: a deferred transaction would fail on the lock upgrade.
                    current: int = conn.execute(
                        sa.select(accounts.c.credits_posted).where(accounts.c.id == account_id)
                    ).scalar_one()
                    conn.execute(
                        sa.update(accounts).where(accounts.c.id == account_id).values(credits_posted=current + 1)
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
        total: int = conn.execute(sa.select(accounts.c.credits_posted).where(accounts.c.id == account_id)).scalar_one()
    engine.dispose()
    assert total == WRITER_THREADS * INCREMENTS_PER_WRITER


def test_sqlite_engine_settings(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert not is_postgresql(conn)
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            busy_timeout_ms = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            assert busy_timeout_ms is not None and busy_timeout_ms > 0
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
        with pytest.raises(DatabaseUnavailable), translate_errors(), engine.connect():
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


@pytest.mark.parametrize(
    ("statement", "parameters"),
    [("SELECT 1", {}), ("SELECT CAST(:value AS integer)", {"value": 1})],
    ids=["simple query", "prepared statement"],
)
def test_a_connection_dropped_mid_transaction_is_unavailable(
    postgres_url: str, statement: str, parameters: dict[str, int]
) -> None:
    # GIVEN an engine watched for metrics, as every function's is, in a transaction that has
    # run the statement once (so a parametrised one is prepared on that session)
    engine = create_engine(postgres_url, pool_size=1)
    watch_engine(engine)
    admin = create_engine(postgres_url, pool_size=1)
    query = sa.text(statement)
    try:
        with pytest.raises(DatabaseUnavailable), translate_errors(), engine.begin() as conn:
            assert conn.execute(query, parameters).scalar_one() == 1
            pid: int = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            # WHEN the server ends the session (a restart, a fail-over, an operator)
            with admin.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            conn.execute(query, parameters)
        # THEN the caller hears "unavailable" (a 503), and the pool serves a new session
        with engine.connect() as conn:
            assert conn.execute(query, parameters).scalar_one() == 1
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


def test_a_transaction_rolled_back_to_break_a_deadlock_is_unavailable(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=2)
    first_key, second_key = (uuid.uuid4().int >> 65 for _ in range(2))
    answers: list[str] = []
    both_hold_one = threading.Barrier(2, timeout=10)

    def take(mine: int, theirs: int) -> None:
        try:
            with translate_errors(), engine.begin() as conn:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": mine})
                both_hold_one.wait()
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": theirs})
            answers.append("done")
        except DatabaseUnavailable:
            answers.append("unavailable")

    try:
        # GIVEN two transactions, each holding what the other one waits for
        threads = [
            threading.Thread(target=take, args=(first_key, second_key)),
            threading.Thread(target=take, args=(second_key, first_key)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        # WHEN PostgreSQL breaks the deadlock by rolling one back
        # THEN that one hears "unavailable" (a 503, or a redelivery), and the other goes through
        assert sorted(answers) == ["done", "unavailable"]
    finally:
        engine.dispose()


def test_as_utc_reads_naive_times_as_utc() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert as_utc(naive) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    paris = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc(paris) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert as_utc(paris).tzinfo is UTC


def test_an_exhausted_pool_is_unavailable(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a pool of one connection that gives up on a checkout quickly
    monkeypatch.setattr(database, "POSTGRES_POOL_OVERFLOW_MAX", 0)
    monkeypatch.setattr(database, "POSTGRES_POOL_TIMEOUT_SECONDS", 0.1)
    engine = create_engine(postgres_url, pool_size=1)
    try:
        # WHEN a second connection is wanted while the only one is in use (entered left to right)
        # THEN the caller hears "unavailable", not a pool internals error
        with engine.connect(), pytest.raises(DatabaseUnavailable), translate_errors(), engine.connect():
            pass
    finally:
        engine.dispose()


# --- PostgreSQL: every statement a named prepared statement --------------------------------------


def _prepared_on_server(conn: sa.Connection) -> Sequence[str]:
    # Without parameters this runs as a simple query, so it prepares nothing itself.
    return conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()


def _backend_pid(conn: sa.Connection) -> int:
    return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def test_a_statement_is_prepared_once_per_session_and_survives_a_rollback(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=1)
    try:
        with engine.connect() as conn:
            # GIVEN a statement run once in a transaction that rolls back
            query = sa.text("SELECT CAST(:value AS integer) + 1")
            assert conn.execute(query, {"value": 1}).scalar_one() == 2
            conn.rollback()
            # WHEN it runs again, with other values, in the next transactions
            assert conn.execute(query, {"value": 41}).scalar_one() == 42
            conn.commit()
            assert conn.execute(query, {"value": 2}).scalar_one() == 3
            # THEN the session prepared it once, and only it
            assert len(_prepared_on_server(conn)) == 1
            conn.rollback()
        # AND another session prepares its own
        with engine.connect() as first, engine.connect() as second:
            assert first.execute(sa.text("SELECT CAST(:x AS text)"), {"x": "a"}).scalar_one() == "a"
            assert second.execute(sa.text("SELECT CAST(:x AS text)"), {"x": "b"}).scalar_one() == "b"
            assert _backend_pid(first) != _backend_pid(second)
            assert len(_prepared_on_server(second)) == 1
    finally:
        engine.dispose()


def test_the_prepared_statements_of_a_session_are_bounded(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN sessions that keep at most three statements prepared
    monkeypatch.setattr(database, "PREPARED_STATEMENTS_MAX", 3)
    engine = create_engine(postgres_url, pool_size=1)
    try:
        with engine.connect() as conn:
            # WHEN an IN list of every length from 1 to 6 is queried (one text per length)
            for length in range(1, 7):
                values = list(range(length))
                query = (
                    sa.select(sa.func.count())
                    .select_from(sa.values(sa.column("n", sa.Integer), name="v").data([(n,) for n in values]))
                    .where(sa.column("n").in_(values))
                )
                assert conn.execute(query).scalar_one() == length
            # THEN the least recently used ones were closed on the server
            assert len(_prepared_on_server(conn)) == 3
            # AND the first one still runs (prepared again)
            query = sa.select(sa.literal(1)).where(sa.literal(5).in_([5]))
            assert conn.execute(query).scalar_one() == 1
            assert len(_prepared_on_server(conn)) == 3
            conn.rollback()
    finally:
        engine.dispose()


def test_after_an_error_the_transaction_refuses_statements_until_it_rolls_back(
    migrated_postgres_url: str,
) -> None:
    engine = create_engine(migrated_postgres_url, pool_size=1)
    account_id = f"system:USD:{uuid.uuid4().hex}"
    row = {"id": account_id, "currency": "USD", "kind": "funding", "created_at": datetime.now(UTC)}
    try:
        with engine.connect() as conn:
            conn.execute(sa.insert(accounts), row)
            # WHEN the same row is inserted again in the transaction
            # THEN it is an IntegrityError, as it always was (not "unavailable")
            with pytest.raises(sa_exc.IntegrityError), translate_errors():
                conn.execute(sa.insert(accounts), row)
            # AND the next statement of that transaction is refused by the server
            with pytest.raises(sa_exc.DBAPIError) as refused, translate_errors():
                conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id))
            assert database.sqlstate(refused.value) == "25P02"
            conn.rollback()
            # AND after the rollback the same statements run, prepared already
            conn.execute(sa.insert(accounts), row)
            found = conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id))
            assert found.scalar_one() == account_id
            conn.rollback()
    finally:
        engine.dispose()


def test_many_parameter_sets_run_in_one_round_trip(migrated_postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(migrated_postgres_url, pool_size=1)
    prefix = f"system:EUR:{uuid.uuid4().hex}"
    rows = [
        {"id": f"{prefix}:{n}", "currency": "EUR", "kind": "funding", "created_at": datetime.now(UTC)} for n in range(3)
    ]
    round_trips = [0]
    flush = pg8000_core._flush

    def counted_flush(sock: object) -> None:
        round_trips[0] += 1
        flush(sock)

    try:
        with engine.connect() as conn:
            conn.execute(sa.insert(accounts), rows[:1])  # prepared
            conn.rollback()
            monkeypatch.setattr(pg8000_core, "_flush", counted_flush)
            # WHEN three rows are inserted with one executemany (BEGIN with them)
            inserted = conn.execute(sa.insert(accounts), rows)
            # THEN that is one round trip, and every row is there
            assert round_trips[0] == 1
            assert inserted.rowcount == 3
            stored = conn.execute(sa.select(sa.func.count()).where(accounts.c.id.like(f"{prefix}:%")))
            assert stored.scalar_one() == 3
            conn.rollback()
    finally:
        engine.dispose()


def test_a_pooled_connection_the_server_ended_is_replaced_on_checkout(postgres_url: str) -> None:
    # GIVEN a pooled connection, just used, whose session the server ends while it sits idle
    engine = create_engine(postgres_url, pool_size=1)
    admin = create_engine(postgres_url, pool_size=1)
    try:
        with engine.connect() as conn:
            ended = _backend_pid(conn)
        with admin.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": ended})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with admin.connect() as other:
                if not other.execute(
                    sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": ended}
                ).first():
                    break
            time.sleep(0.05)
        # WHEN the next request checks a connection out, within a second
        # THEN it is served by a new session, without an error
        with engine.connect() as conn:
            assert _backend_pid(conn) != ended
    finally:
        engine.dispose()
        admin.dispose()


def test_a_connection_idle_for_a_while_is_pinged_before_use(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "POSTGRES_PING_AFTER_IDLE_SECONDS", 0.05)
    engine = create_engine(postgres_url, pool_size=1)
    pings: list[str] = []

    @sa.event.listens_for(engine, "connect")
    def count_pings(dbapi_connection: Any, _record: Any) -> None:
        execute_simple = dbapi_connection.execute_simple

        def counted(statement: str) -> Any:
            if statement == "":
                pings.append(statement)
            return execute_simple(statement)

        dbapi_connection.execute_simple = counted

    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        # WHEN the connection is checked out again at once, then after being idle
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert pings == []
        time.sleep(0.1)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        # THEN only the idle one was pinged
        assert pings == [""]
    finally:
        engine.dispose()
