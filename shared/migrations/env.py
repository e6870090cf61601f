"""Alembic environment: runs migrations on the connection that migrate() hands over.

There is no alembic.ini and no URL here on purpose: shared.adapters.database.migrate() builds the
configuration in code, opens the connection (holding PostgreSQL's migration lock) and passes it in
``config.attributes["connection"]``. Offline (SQL script) mode is not supported.
"""

from __future__ import annotations

from alembic import context

from shared.adapters.tables import metadata

__all__: list[str] = []


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through shared.adapters.database.migrate()")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite supports transactional DDL once the sqlite3 module stops managing transactions
        # (database.create_engine does that), so an interrupted upgrade leaves nothing half done.
        transactional_ddl=True,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; use migrate() on a live database")
run_migrations_online()
