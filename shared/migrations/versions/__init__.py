"""Migration scripts, applied in order by Alembic (it skips this file)."""

__all__: list[str] = []
