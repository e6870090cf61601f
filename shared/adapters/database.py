"""Engines, migrations and error translation for the two databases Paystream runs on.

PostgreSQL (through pg8000) is the production database; a SQLite file is the zero-set-up
embedded default. Both are reached through SQLAlchemy Core and configured here, once, so that
every adapter sees the same transaction semantics:

- PostgreSQL runs at READ COMMITTED with explicit pool bounds and a statement timeout; the ledger
  takes row locks where it needs them.
- SQLite runs in WAL mode and every transaction starts with ``BEGIN IMMEDIATE``: a writer takes the
  database's write lock when it begins, instead of upgrading a read lock later (which fails at
  once with "database is locked" when two writers race). Concurrent writers therefore queue on
  the busy timeout and SQLite transactions are serializable.
"""

from __future__ import annotations

import contextlib
import select
import sqlite3
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pg8000.converters as pg8000_converters
import pg8000.core as pg8000_core
import pg8000.dbapi
import pg8000.legacy as pg8000_legacy
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

__all__ = [
    "DatabaseUnavailable",
    "MIGRATIONS_DIRECTORY",
    "POSTGRES_PING_AFTER_IDLE_SECONDS",
    "POSTGRES_STATEMENT_TIMEOUT_MS",
    "PREPARED_STATEMENTS_MAX",
    "SQLITE_BUSY_TIMEOUT_MS",
    "as_utc",
    "create_engine",
    "execute_prepared",
    "is_postgresql",
    "migrate",
    "read_only",
    "ssl_context_for",
    "sqlstate",
    "translate_errors",
]

READ_ONLY_OPTION = "paystream_read_only"
_HOLDS_WRITE_LOCK = "paystream_holds_write_lock"

# A writer waits this long for SQLite's write lock before giving up with "database is locked".
# Long enough to queue behind a burst of ledger writes, short enough to surface a stuck writer.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# No single statement of ours should run longer than this; a statement that does is cancelled by
# the server and surfaces as DatabaseUnavailable rather than holding locks and connections.
POSTGRES_STATEMENT_TIMEOUT_MS = 15_000
# pg8000 applies its socket timeout to every read, so it must outlast the statement timeout:
# the server cancels a slow statement first, and only a silent network makes the socket give up.
POSTGRES_SOCKET_TIMEOUT_SECONDS = POSTGRES_STATEMENT_TIMEOUT_MS // 1000 + 15
# Connections beyond pool_size that a burst may open, and how long a checkout waits for one.
POSTGRES_POOL_OVERFLOW_MAX = 5
POSTGRES_POOL_TIMEOUT_SECONDS = 10
# Recycle connections before typical server or proxy idle limits close them under us.
POSTGRES_POOL_RECYCLE_SECONDS = 1_800

# How long migrate() may wait for a concurrent migration and run its own statements.
MIGRATION_STATEMENT_TIMEOUT_MS = 600_000

# The key of the session-level advisory lock that serializes concurrent migrate() calls.
# Any fixed 64-bit number works; this one spells "paystrea" in ASCII.
MIGRATION_ADVISORY_LOCK_KEY = 0x7061797374726561

MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent.parent / "migrations"

# SQLSTATE classes and codes that mean "the database cannot serve us right now", as opposed to
# "this statement is wrong": connection exceptions (08), insufficient resources such as too many
# connections (53), operator intervention such as shutdown or a cancelled statement (57), a
# transaction the server rolled back to break a deadlock or a serialization conflict (40), and a
# lock that could not be taken in time (55P03).
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})
_UNAVAILABLE_SQLSTATES = frozenset({"55P03"})
# SQLite result codes (and their extended forms, which share the prefix) that mean the file is
# busy, locked by another process, unreadable or full.
_SQLITE_UNAVAILABLE_ERRORS = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_FULL",
    "SQLITE_PROTOCOL",
)


class DatabaseUnavailable(Exception):
    """The database cannot be reached or cannot serve the request now; retrying later may work.

    HTTP entrypoints answer 503; CloudEvent handlers let it propagate so that the message is
    redelivered.
    """


def read_only(engine: sa.Engine) -> sa.Engine:
    """The same engine for transactions that only read: on SQLite they begin with a plain BEGIN
    and take no write lock, so reads never queue behind writes. A write through it fails."""
    return engine.execution_options(**{READ_ONLY_OPTION: True})


def create_engine(url: str, *, pool_size: int = 10, ssl_context: ssl.SSLContext | None = None) -> sa.Engine:
    """The engine for ``postgresql+pg8000://…`` or ``sqlite:///path``, with Paystream's settings;
    `ssl_context` (see `ssl_context_for`) encrypts PostgreSQL connections."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _create_sqlite_engine(parsed)
    if backend == "postgresql":
        return _create_postgres_engine(parsed, pool_size=pool_size, ssl_context=ssl_context)
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}")


def _create_sqlite_engine(url: sa.URL) -> sa.Engine:
    # No statement's parameters in an error or a log line: they carry personal data.
    engine = sa.create_engine(url, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _configure_sqlite_connection(dbapi_connection: Any, _connection_record: Any) -> None:
        # Take transaction control away from the sqlite3 module: left alone, it emits a
        # deferred BEGIN only before DML, so transactions would start as readers and fail on
        # the lock upgrade. The "begin" listener below emits BEGIN IMMEDIATE instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            # WAL lets readers of the last committed state proceed while a writer holds the lock.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    # Writers of this process queue on a lock of our own before BEGIN IMMEDIATE. SQLite's busy
    # handler would also make them wait, but by sleeping in growing steps (up to 100 ms) and
    # retrying, so under load the lock sits free while the next writer sleeps; a Python lock
    # hands it over at once. Other processes still queue on the busy timeout.
    write_lock = threading.Lock()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            # A reader sees the last committed state (WAL) and takes no write lock.
            connection.exec_driver_sql("BEGIN")
            return
        if not write_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise DatabaseUnavailable("timed out waiting for the SQLite write lock")
        connection.info[_HOLDS_WRITE_LOCK] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(connection)
            raise

    def _release(connection: sa.Connection) -> None:
        if connection.info.pop(_HOLDS_WRITE_LOCK, False):
            write_lock.release()

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)
    return engine


def ssl_context_for(tls: str, ca_file: str | None = None) -> ssl.SSLContext | None:
    """The TLS context for PostgreSQL connections, by mode (as libpq's sslmode names them):
    `disable`: none; `require`: encrypted, the server's certificate not checked; `verify-full`:
    encrypted, the certificate checked against `ca_file` (or the system's CAs) and the host name."""
    if tls == "disable":
        return None
    if tls == "require":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if tls == "verify-full":
        return ssl.create_default_context(cafile=ca_file)
    raise ValueError(f"unknown database TLS mode {tls!r}")


def _create_postgres_engine(url: sa.URL, *, pool_size: int, ssl_context: ssl.SSLContext | None) -> sa.Engine:
    tls = {"ssl_context": ssl_context} if ssl_context is not None else {}
    engine = sa.create_engine(
        url,
        # No statement's parameters in an error or a log line: they carry personal data.
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=POSTGRES_POOL_OVERFLOW_MAX,
        pool_timeout=POSTGRES_POOL_TIMEOUT_SECONDS,
        pool_recycle=POSTGRES_POOL_RECYCLE_SECONDS,
        # The most recently returned connection serves next: a few sessions stay busy, with
        # their statements prepared, and the rest idle; see _check_connection_on_checkout.
        pool_use_lifo=True,
        isolation_level="READ COMMITTED",
        connect_args={
            "timeout": POSTGRES_SOCKET_TIMEOUT_SECONDS,
            # Sent in the startup packet, so it costs no extra round trip per connection.
            "startup_params": {"statement_timeout": str(POSTGRES_STATEMENT_TIMEOUT_MS)},
            "application_name": "paystream",
            **tls,
        },
    )
    event.listen(engine, "do_execute", _execute_one)
    event.listen(engine, "do_executemany", _execute_many)
    engine.dialect.do_commit = _commit_in_one_round_trip  # type: ignore[method-assign]
    engine.dialect.do_rollback = _roll_back_in_one_round_trip  # type: ignore[method-assign]
    event.listen(engine.pool, "checkout", _check_connection_on_checkout)
    event.listen(engine.pool, "checkin", _note_checkin_time)
    return engine


# -- PostgreSQL: every statement a named prepared statement ---------------------------------------
#
# pg8000 runs a parametrised statement as an unnamed one: three round trips (parse, describe, then
# bind and execute), the server parsing and planning it each time, after the SQL text has been
# rewritten from "%s" placeholders to "$1" character by character in Python. It also sends BEGIN as
# a round trip of its own. Here each pooled session prepares a statement the first time it runs
# it (one round trip), and from then on runs it in one (bind, execute, sync), BEGIN included when
# a transaction starts with it. Errors are raised as pg8000's cursor raises them, inside
# SQLAlchemy's execution, so SQLAlchemy wraps them in DBAPIError and invalidates the connection on
# a broken socket exactly as before.

# Where a pooled connection keeps its prepared statements. The pool's per-connection `info` lives
# exactly as long as the server session that holds them.
_PREPARED_STATEMENTS_KEY = "paystream_prepared_statements"
# A session keeps at most this many statements prepared, closing the least recently used one to
# prepare another: an IN list renders one text per length, so the texts are not a fixed set.
# The platform's hot paths use a few dozen.
PREPARED_STATEMENTS_MAX = 256


class _PreparedStatements:
    """The named prepared statements of one pg8000 session, by the SQL text SQLAlchemy sends."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._by_sql: OrderedDict[str, tuple[bytes, Any, Any]] = OrderedDict()

    def get(self, dbapi_connection: Any, sql: str, paramstyle: str) -> tuple[bytes, Any, Any]:
        """(name, columns, input functions) of `sql` on this session, prepared if need be."""
        prepared = self._by_sql.get(sql)
        if prepared is not None:
            self._by_sql.move_to_end(sql)
            return prepared
        if len(self._by_sql) >= self._capacity:
            _, (evicted, _, _) = self._by_sql.popitem(last=False)
            dbapi_connection.close_prepared_statement(evicted)
        # Rewritten once per session, not per execution; the values do not enter the text.
        numbered_sql, _ = pg8000_legacy.convert_paramstyle(paramstyle, sql, ())
        prepared = dbapi_connection.prepare_statement(numbered_sql, ())
        self._by_sql[sql] = prepared
        return prepared


def _prepared_statements(context: Any) -> _PreparedStatements:
    info = context.root_connection.connection.info
    statements = info.get(_PREPARED_STATEMENTS_KEY)
    if statements is None:
        statements = info[_PREPARED_STATEMENTS_KEY] = _PreparedStatements(PREPARED_STATEMENTS_MAX)
    return statements


def _execute_one(cursor: Any, sql: str, parameters: Any, context: Any) -> bool:
    # SQLAlchemy's "do_execute" event: True means the statement has run on `cursor`. A statement
    # without parameters is left to pg8000: it is one simple query already.
    return bool(parameters) and _execute_named(cursor, sql, (parameters,), context)


def _execute_many(cursor: Any, sql: str, parameter_sets: Any, context: Any) -> bool:
    # SQLAlchemy's "do_executemany" event: the statement runs once per parameter set, and every
    # execution leaves in one write (pg8000's cursor would spend three round trips on each).
    return bool(parameter_sets) and _execute_named(cursor, sql, parameter_sets, context)


def _execute_named(cursor: Any, sql: str, parameter_sets: Any, context: Any) -> bool:
    if type(cursor) is not pg8000_legacy.Cursor:
        return False  # a server-side cursor (stream_results) wraps the text in DECLARE
    dbapi_connection = cursor._c
    try:
        prepared = _prepared_statements(context).get(dbapi_connection, sql, cursor.paramstyle)
        result = _bind_and_execute(dbapi_connection, prepared, parameter_sets, sql)
    except pg8000.dbapi.DatabaseError as error:
        raise _as_cursor_error(error) from error
    except AttributeError:
        if dbapi_connection._sock is None:
            raise pg8000.dbapi.InterfaceError("connection is closed") from None
        raise
    # What pg8000's cursor keeps of an execution: SQLAlchemy reads the rows, the description and
    # the row count from it.
    cursor._context = result
    cursor._row_iter = iter(() if result.rows is None else result.rows)
    return True


def _as_cursor_error(error: pg8000.dbapi.DatabaseError) -> pg8000.dbapi.Error:
    # The classes pg8000's cursor raises for a server's error (pg8000/legacy.py), so that
    # SQLAlchemy maps a unique violation to IntegrityError and the rest as it always has.
    fields = error.args[0] if error.args else None
    if not isinstance(fields, dict):
        return pg8000.dbapi.ProgrammingError(fields)
    code = fields.get("C")
    if code == "28000":
        return pg8000.dbapi.InterfaceError(fields)
    if code == "23505":
        return pg8000.dbapi.IntegrityError(fields)
    return pg8000.dbapi.ProgrammingError(fields)


def _bind_and_execute(dbapi_connection: Any, prepared: tuple[bytes, Any, Any], parameter_sets: Any, sql: str) -> Any:
    """Run a prepared statement once per parameter set in one round trip; its pg8000 Context.

    Pipelined: BEGIN (a simple query) when no transaction is open, then each execution's Bind
    and Execute, then one Sync leave in one write, and the answers are read in order. The server
    runs them one after the other, as it would have in as many round trips; after an error it
    skips the rest up to the Sync, and the error is raised once the connection is back at
    ReadyForQuery."""
    name, columns, input_functions = prepared
    # Every value is converted before the first message is written: a value pg8000 cannot send
    # must fail with nothing half-sent.
    values_sets = [
        pg8000_converters.make_params(dbapi_connection.py_types, parameters) for parameters in parameter_sets
    ]
    context = pg8000_core.Context(columns=columns, input_funcs=input_functions, statement=sql)
    begins = not dbapi_connection._in_transaction and not dbapi_connection.autocommit
    if begins:
        dbapi_connection.send_QUERY("begin transaction")
    for values in values_sets:
        dbapi_connection.send_BIND(name, values)
        dbapi_connection.send_EXECUTE()
    pg8000_core._write(dbapi_connection._sock, pg8000_core.SYNC_MSG)
    pg8000_core._flush(dbapi_connection._sock)
    if begins:
        try:
            dbapi_connection.handle_messages(pg8000_core.Context("begin transaction"))
        except pg8000.dbapi.Error:
            # Read the statement's answer as well, so that the session stays in step, then report.
            with contextlib.suppress(pg8000.dbapi.Error):
                dbapi_connection.handle_messages(context)
            raise
    dbapi_connection.handle_messages(context)
    return context


def execute_prepared(conn: sa.Connection, sql: str, values: tuple[Any, ...]) -> Sequence[sa.Row[Any]]:
    """Run `sql` (PostgreSQL placeholders $1, $2, …) with `values`; its rows.

    Like every statement on PostgreSQL it runs as a named prepared statement, in one round trip;
    this is the way to write one by hand (the ledger's function calls), in the connection's
    transaction (begun if none is open), its errors raised as SQLAlchemy's DBAPIError."""
    if not is_postgresql(conn):
        raise ValueError("execute_prepared() is for PostgreSQL connections")
    return conn.exec_driver_sql(sql, values).all()


def _commit_in_one_round_trip(dbapi_connection: Any) -> None:
    # pg8000's commit() sends COMMIT as an unnamed statement: three round trips where the simple
    # query protocol needs one, and sends it even when no transaction is open (nothing executed
    # yet, or autocommit). The transaction ends the same way, durably.
    if dbapi_connection._in_transaction:
        dbapi_connection.execute_simple("commit")


def _roll_back_in_one_round_trip(dbapi_connection: Any) -> None:
    # The same for ROLLBACK, which ends every transaction that only read (the pool's reset).
    if dbapi_connection._in_transaction:
        dbapi_connection.execute_simple("rollback")


# -- PostgreSQL: a connection the server has dropped is never handed out -------------------------

# A connection idle in the pool for longer than this is pinged (one round trip) before use: the
# network or a proxy may have dropped it silently. One used more recently is only checked for
# what a server that closes a session always leaves on its socket, which costs no round trip.
POSTGRES_PING_AFTER_IDLE_SECONDS = 1.0
_CHECKED_IN_AT_KEY = "paystream_checked_in_at"


def _note_checkin_time(_dbapi_connection: Any, connection_record: Any) -> None:
    if connection_record is not None:
        connection_record.info[_CHECKED_IN_AT_KEY] = time.monotonic()


def _check_connection_on_checkout(dbapi_connection: Any, connection_record: Any, _connection_proxy: Any) -> None:
    # A DisconnectionError makes the pool replace this connection with a new one (and raise if
    # it cannot connect), as SQLAlchemy documents for pessimistic disconnect handling.
    if _closed_by_server(dbapi_connection):
        raise sa_exc.DisconnectionError("the server closed this connection")
    checked_in_at = connection_record.info.get(_CHECKED_IN_AT_KEY)
    if checked_in_at is None or time.monotonic() - checked_in_at <= POSTGRES_PING_AFTER_IDLE_SECONDS:
        return
    try:
        # The empty query: one round trip, nothing for the server to parse or plan.
        dbapi_connection.execute_simple("")
    except pg8000.dbapi.Error as error:
        raise sa_exc.DisconnectionError(f"the connection did not answer a ping: {error}") from error


def _closed_by_server(dbapi_connection: Any) -> bool:
    # Between transactions the server sends nothing unasked, except when it ends the session
    # (terminated, shutting down, restarted): then an error message and the end of the stream are
    # waiting on the socket. Anything readable now means the session is over, or at least out of
    # step; a new connection is the safe answer either way.
    sock = dbapi_connection._usock
    if sock is None:
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def is_postgresql(engine_or_connection: sa.Engine | sa.Connection) -> bool:
    """True when the engine or connection talks to PostgreSQL (False for SQLite)."""
    return engine_or_connection.dialect.name == "postgresql"


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; SQLite hands back naive datetimes, stored as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def migrate(engine_or_url: sa.Engine | str) -> None:
    """Upgrade the database to the newest migration; idempotent and safe to run concurrently.

    On PostgreSQL a session-level advisory lock serializes concurrent callers (several function
    processes starting at once): the second waits, then finds the schema current and does nothing.
    On SQLite the migration runs in one BEGIN IMMEDIATE transaction, which serializes it as well.
    """
    if isinstance(engine_or_url, str):
        engine = create_engine(engine_or_url, pool_size=1)
        owns_engine = True
    else:
        engine = engine_or_url
        owns_engine = False
    try:
        with engine.connect() as connection:
            if is_postgresql(connection):
                _upgrade_holding_advisory_lock(connection)
            else:
                _upgrade_sqlite(connection)
    finally:
        if owns_engine:
            engine.dispose()


def _upgrade_holding_advisory_lock(connection: sa.Connection) -> None:
    lock_parameters = {"key": MIGRATION_ADVISORY_LOCK_KEY}
    # Waiting for another process's migration, and building the schema, may both outlast the
    # statement timeout meant for requests; RESET below restores the connection's own value.
    connection.exec_driver_sql(f"SET statement_timeout = {MIGRATION_STATEMENT_TIMEOUT_MS}")
    connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), lock_parameters)
    # A session-level lock outlives this commit; committing leaves the connection outside any
    # transaction so that Alembic runs the whole upgrade in one transaction of its own.
    connection.commit()
    try:
        _upgrade(connection)
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), lock_parameters)
        connection.exec_driver_sql("RESET statement_timeout")
        connection.commit()


def _upgrade_sqlite(connection: sa.Connection) -> None:
    """Upgrade with foreign keys off, SQLite's own procedure for schema changes: a migration
    that rebuilds a referenced table (batch mode copies it) would otherwise fail on its rows'
    children. The references are checked once the upgrade is done, and the switch is set back."""
    raw = connection.connection.dbapi_connection
    if raw is None:
        raise RuntimeError("the migration's connection has no DBAPI connection")
    # Outside any transaction (the driver's own transaction control is off): inside one, SQLite
    # ignores the switch.
    raw.execute("PRAGMA foreign_keys = OFF")
    try:
        _upgrade(connection)
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        connection.commit()
        if broken:
            raise RuntimeError(f"the migration left {len(broken)} rows whose references are broken: {broken[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys = ON")


def _upgrade(connection: sa.Connection) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    # env.py runs on this connection instead of opening its own from a URL.
    config.attributes["connection"] = connection
    alembic_command.upgrade(config, "head")
    connection.commit()


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn connection-level database failures into :class:`DatabaseUnavailable`.

    Lost or refused connections, an exhausted pool, a busy or unreadable SQLite file, a server
    shutting down or short of connections, a statement cancelled by its timeout: these become
    DatabaseUnavailable. Every other error (a bug, a constraint violation) propagates unchanged.
    """
    try:
        yield
    except sa_exc.TimeoutError as error:
        # QueuePool raises this when no connection frees up within pool_timeout.
        raise DatabaseUnavailable("no database connection became free in time") from error
    except sa_exc.DBAPIError as error:
        if _means_unavailable(error):
            raise DatabaseUnavailable(f"database unavailable: {error.orig}") from error
        raise


def _means_unavailable(error: sa_exc.DBAPIError) -> bool:
    if error.connection_invalidated:
        return True
    if isinstance(error.orig, sqlite3.Error):
        # sqlite3 raises OperationalError for a busy file and for a misspelt column alike, so
        # only the result code tells them apart.
        name = getattr(error.orig, "sqlite_errorname", "") or ""
        return name.startswith(_SQLITE_UNAVAILABLE_ERRORS)
    # pg8000 raises InterfaceError for a refused or broken socket, never for a wrong statement.
    if isinstance(error, (sa_exc.InterfaceError, sa_exc.OperationalError)):
        return True
    code = sqlstate(error)
    if code is None:
        return False
    return code[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or code in _UNAVAILABLE_SQLSTATES


def sqlstate(error: sa_exc.DBAPIError) -> str | None:
    """The SQLSTATE code PostgreSQL sent with this error, or None (SQLite has none)."""
    # pg8000 carries the server's error fields as a dict in args[0]; "C" is the SQLSTATE.
    dbapi_error = error.orig
    if dbapi_error is None or not dbapi_error.args:
        return None
    fields = dbapi_error.args[0]
    if isinstance(fields, dict):
        code = fields.get("C")
        return code if isinstance(code, str) else None
    return None
