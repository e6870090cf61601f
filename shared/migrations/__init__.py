"""Alembic migrations of the relational schema; run them with shared.adapters.database.migrate()."""

__all__: list[str] = []
