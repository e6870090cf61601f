"""Databases of a benchmark's own on the PostgreSQL server it measures, dropped when it ends.

PAYSTREAM_BENCH_POSTGRES (default: the local server) says which server.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pg8000.dbapi
import sqlalchemy as sa

SERVER_ENV = "PAYSTREAM_BENCH_POSTGRES"
SERVER_DEFAULT = "postgresql+pg8000://postgres@127.0.0.1:5432/test"


def bench_server() -> sa.URL:
    return sa.make_url(os.environ.get(SERVER_ENV, SERVER_DEFAULT))


def admin_connection(server: sa.URL) -> pg8000.dbapi.Connection:
    """An autocommit connection to `server`'s database (CREATE and DROP DATABASE need one)."""
    connection = pg8000.dbapi.connect(
        user=server.username or "postgres",
        password=server.password,
        host=server.host or "127.0.0.1",
        port=server.port or 5432,
        database=server.database or "postgres",
    )
    connection.autocommit = True
    return connection


@contextmanager
def throwaway_databases(server: sa.URL, *prefixes: str) -> Iterator[list[str]]:
    """New databases named `<prefix>_<random>`, one per prefix, dropped (with any session still
    in them) when the block ends."""
    suffix = secrets.token_hex(6)
    names = [f"{prefix}_{suffix}" for prefix in prefixes]
    admin = admin_connection(server)
    try:
        for name in names:
            admin.cursor().execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    try:
        yield names
    finally:
        admin = admin_connection(server)
        try:
            for name in names:
                admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            admin.close()


def url_of(server: sa.URL, database: str) -> str:
    """The SQLAlchemy URL of `database` on `server`, password included."""
    return server.set(database=database).render_as_string(hide_password=False)
