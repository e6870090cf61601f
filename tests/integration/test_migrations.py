"""The migrations build exactly the schema of shared/adapters/tables.py, on both databases.

Each test starts from an empty database, runs migrate(), reflects what was built and compares it
with the metadata, table by table: columns (type family, length, nullability, whether a server
default exists), primary keys, unique constraints, foreign keys, check constraints and indexes.
Alembic's own autogenerate comparison must find nothing to do either.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.adapters.database import create_engine, is_postgresql, migrate
from shared.adapters.ledger_store import LedgerStore
from shared.adapters.tables import metadata
from shared.domain.ledger import Transfer, TransferOutcome
from tests.fixtures.migrations import upgrade_to

pytestmark = pytest.mark.integration

ALEMBIC_VERSION_TABLE = "alembic_version"
# Enough concurrent migrate() calls to make a race likely without exhausting the shared server.
CONCURRENT_MIGRATIONS = 4
CONCURRENT_MIGRATIONS_TIMEOUT_SECONDS = 120


def _type_family(column_type: sa.types.TypeEngine[Any]) -> tuple[str, int | None]:
    """Reduce a type to what both databases preserve: its family and, for strings, its length."""
    if isinstance(column_type, sa.TypeDecorator):
        # The database only ever sees the underlying type.
        column_type = column_type.impl_instance
    if isinstance(column_type, sa.String):
        return ("string", column_type.length)
    if isinstance(column_type, sa.BigInteger):
        return ("bigint", None)
    if isinstance(column_type, sa.Integer):
        return ("integer", None)
    if isinstance(column_type, sa.DateTime):
        return ("datetime", None)
    if isinstance(column_type, sa.Date):
        return ("date", None)
    if isinstance(column_type, sa.JSON):
        return ("json", None)
    if isinstance(column_type, sa.Boolean):
        return ("boolean", None)
    raise TypeError(f"no comparison rule for column type {column_type!r}")


def _schema_of_metadata() -> dict[str, dict[str, Any]]:
    schema: dict[str, dict[str, Any]] = {}
    for table in metadata.sorted_tables:
        schema[table.name] = {
            "columns": {
                column.name: (
                    _type_family(column.type),
                    column.nullable,
                    column.server_default is not None,
                )
                for column in table.columns
            },
            "primary_key": (table.primary_key.name, tuple(c.name for c in table.primary_key)),
            "unique": {
                (constraint.name, tuple(c.name for c in constraint.columns))
                for constraint in table.constraints
                if isinstance(constraint, sa.UniqueConstraint)
            },
            "foreign_keys": {
                (
                    constraint.name,
                    tuple(constraint.column_keys),
                    constraint.referred_table.name,
                    tuple(element.column.name for element in constraint.elements),
                )
                for constraint in table.foreign_key_constraints
            },
            "checks": {
                constraint.name for constraint in table.constraints if isinstance(constraint, sa.CheckConstraint)
            },
            "indexes": {
                (index.name, tuple(c.name for c in index.columns), bool(index.unique)) for index in table.indexes
            },
        }
    return schema


def _schema_of_database(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    inspector = sa.inspect(engine)
    schema: dict[str, dict[str, Any]] = {}
    for table_name in inspector.get_table_names():
        if table_name == ALEMBIC_VERSION_TABLE:
            continue
        primary_key = inspector.get_pk_constraint(table_name)
        schema[table_name] = {
            "columns": {
                column["name"]: (
                    _type_family(column["type"]),
                    column["nullable"],
                    column["default"] is not None,
                )
                for column in inspector.get_columns(table_name)
            },
            "primary_key": (primary_key["name"], tuple(primary_key["constrained_columns"])),
            "unique": {
                (constraint["name"], tuple(constraint["column_names"]))
                for constraint in inspector.get_unique_constraints(table_name)
            },
            "foreign_keys": {
                (
                    constraint["name"],
                    tuple(constraint["constrained_columns"]),
                    constraint["referred_table"],
                    tuple(constraint["referred_columns"]),
                )
                for constraint in inspector.get_foreign_keys(table_name)
            },
            "checks": {constraint["name"] for constraint in inspector.get_check_constraints(table_name)},
            "indexes": {
                (index["name"], tuple(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(table_name)
                # PostgreSQL also lists the indexes that back unique constraints.
                if "duplicates_constraint" not in index
            },
        }
    return schema


def _autogenerate_differences(engine: sa.Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def _assert_schema_matches_tables(engine: sa.Engine) -> None:
    expected = _schema_of_metadata()
    actual = _schema_of_database(engine)
    assert sorted(actual) == sorted(expected)
    for table_name, expected_table in expected.items():
        for aspect, expected_value in expected_table.items():
            assert actual[table_name][aspect] == expected_value, (table_name, aspect)
    assert _autogenerate_differences(engine) == []


def _migrated_state(engine: sa.Engine) -> tuple[Any, ...]:
    with engine.connect() as connection:
        versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    return (tuple(versions), _schema_of_database(engine))


def _transfer_function_exists(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        count: int = connection.execute(
            sa.text("SELECT count(*) FROM pg_proc WHERE proname = 'paystream_create_transfer'")
        ).scalar_one()
    return count == 1


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("empty_postgres_url")


def test_migrations_build_exactly_the_tables_of_the_metadata(empty_db_url: str) -> None:
    # GIVEN an empty database
    engine = create_engine(empty_db_url, pool_size=1)
    try:
        assert sa.inspect(engine).get_table_names() == []
        # WHEN it is migrated
        migrate(engine)
        # THEN its schema is the metadata's, and PostgreSQL has the transfer function
        _assert_schema_matches_tables(engine)
        if is_postgresql(engine):
            assert _transfer_function_exists(engine)
    finally:
        engine.dispose()


def test_migrating_twice_changes_nothing(empty_db_url: str) -> None:
    # GIVEN a migrated database holding a row
    engine = create_engine(empty_db_url, pool_size=1)
    try:
        migrate(empty_db_url)
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO processed_events (consumer, event_id, processed_at) "
                    "VALUES ('test', 'evt_1', CURRENT_TIMESTAMP)"
                )
            )
        state_before = _migrated_state(engine)
        # WHEN it is migrated again
        migrate(empty_db_url)
        # THEN the version, the schema and the data are untouched
        assert _migrated_state(engine) == state_before
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT count(*) FROM processed_events")).scalar()
        assert rows == 1
    finally:
        engine.dispose()


def test_concurrent_migrations_on_postgresql_serialize(empty_postgres_url: str) -> None:
    # GIVEN several processes' worth of callers starting on an empty database at once
    errors: list[BaseException] = []
    start = threading.Barrier(CONCURRENT_MIGRATIONS)

    def run_migration() -> None:
        try:
            start.wait(timeout=CONCURRENT_MIGRATIONS_TIMEOUT_SECONDS)
            migrate(empty_postgres_url)
        except BaseException as error:  # noqa: BLE001 - collected and reported below
            errors.append(error)

    threads = [threading.Thread(target=run_migration) for _ in range(CONCURRENT_MIGRATIONS)]
    # WHEN they all migrate
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=CONCURRENT_MIGRATIONS_TIMEOUT_SECONDS)
    # THEN none fails and the schema is built once, completely
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    engine = create_engine(empty_postgres_url, pool_size=1)
    try:
        _assert_schema_matches_tables(engine)
    finally:
        engine.dispose()


def test_balances_from_before_the_history_get_an_opening_entry(empty_db_url: str) -> None:
    # GIVEN a ledger at revision 0001 whose accounts already hold money
    engine = create_engine(empty_db_url, pool_size=1)
    store = LedgerStore()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        upgrade_to(engine, "0001")
        with engine.begin() as connection:
            for account_id, kind in (("system:USD:funding", "funding"), ("wallet:u:USD", "wallet")):
                connection.execute(
                    sa.text(
                        "INSERT INTO accounts (id, currency, flags, user_id, kind, debits_pending,"
                        " debits_posted, credits_pending, credits_posted, created_at)"
                        " VALUES (:id, 'USD', 0, NULL, :kind, 0, 0, 0, 0, :now)"
                    ),
                    {"id": account_id, "kind": kind, "now": now.replace(tzinfo=None)},
                )
            connection.execute(sa.text("UPDATE accounts SET debits_posted = 700 WHERE id = 'system:USD:funding'"))
            connection.execute(sa.text("UPDATE accounts SET credits_posted = 700 WHERE id = 'wallet:u:USD'"))
        # WHEN the history migration runs
        migrate(engine)
        # THEN each account's history opens at its balances, and the ledger carries on from there
        with engine.begin() as connection:
            opening = store.account_history(connection, "wallet:u:USD", limit=10)
            assert [(entry.sequence, entry.cause.value, entry.credits_posted) for entry in opening] == [
                (1, "opening", 700)
            ]
            store.check_invariants(connection)
            moved = Transfer("t1", "wallet:u:USD", "system:USD:funding", 200, "USD")
            assert store.create_transfer(connection, moved, now) is TransferOutcome.OK
            newest = store.account_history(connection, "wallet:u:USD", limit=10)
            assert [entry.sequence for entry in newest] == [2, 1]
            assert newest[0].debits_posted == 200
            store.check_invariants(connection)
    finally:
        engine.dispose()
