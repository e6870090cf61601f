"""Micro-benchmark: ledger transfers per second on PostgreSQL, in 1 and 4 processes.

Each transfer is what a service does: check out a connection, open a transaction, call
LedgerStore.create_transfer (one statement: the PL/pgSQL function) and commit. The baseline,
measured in the same run through the same engine settings and the same transaction shape, is
`SELECT 1` in place of the transfer: the ratio says what share of a bare round-trip transaction's
rate a transfer keeps. Each process moves money between accounts of its own, so the figures
measure the client and the server, not contention on one hot row.

    .venv/bin/python bench/ledger_transfers.py [--seconds 5] [--processes 1 4]

PAYSTREAM_BENCH_POSTGRES (default: the local server) says where PostgreSQL is; the benchmark
works in a database of its own, created and dropped here.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pg8000.dbapi
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.adapters.database import create_engine, migrate  # noqa: E402
from shared.adapters.ledger_store import LedgerStore, wallet_account_id  # noqa: E402
from shared.domain.ledger import Transfer, TransferOutcome  # noqa: E402

SERVER_ENV = "PAYSTREAM_BENCH_POSTGRES"
SERVER_DEFAULT = "postgresql+pg8000://postgres@127.0.0.1:5432/test"
SECONDS_DEFAULT = 5.0
PROCESS_COUNTS_DEFAULT = (1, 4)
# Every process starts with this much money and moves one minor unit per transfer: it can
# never run dry within a run (a million transfers per process is far beyond any rate here).
OPENING_BALANCE_MINOR = 1_000_000_000
WARM_UP_OPERATIONS = 50
START_TIMEOUT_SECONDS = 120
STORE = LedgerStore()
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _admin_connection(server: sa.URL) -> pg8000.dbapi.Connection:
    connection = pg8000.dbapi.connect(
        user=server.username or "postgres",
        password=server.password,
        host=server.host or "127.0.0.1",
        port=server.port or 5432,
        database=server.database or "postgres",
    )
    connection.autocommit = True
    return connection


def _worker(url: str, kind: str, index: int, seconds: float, start: Any, results: Any) -> None:
    engine = create_engine(url, pool_size=1)
    payer = wallet_account_id(f"payer-{index}", "USD")
    payee = wallet_account_id(f"payee-{index}", "USD")
    prefix = f"{kind}-{index}-{secrets.token_hex(4)}"
    select_one = sa.text("SELECT 1")
    count = 0
    # Transfer ids keep counting across the warm-up, so that no measured transfer is a retry.
    sequence = 0

    def one_operation() -> None:
        nonlocal count, sequence
        sequence += 1
        with engine.begin() as conn:
            if kind == "transfer":
                transfer = Transfer(f"{prefix}:{sequence}", payer, payee, 1, "USD")
                outcome = STORE.create_transfer(conn, transfer, NOW)
                if outcome is not TransferOutcome.OK:
                    raise RuntimeError(f"transfer {transfer.id}: {outcome.value}")
            else:
                conn.execute(select_one).scalar_one()
        count += 1

    try:
        for _ in range(WARM_UP_OPERATIONS):
            one_operation()
        start.wait(START_TIMEOUT_SECONDS)
        count = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            one_operation()
        results.put((count, None))
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        results.put((0, f"{type(error).__name__}: {error}"))
    finally:
        engine.dispose()


def _rate_per_second(url: str, kind: str, processes: int, seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(url, kind, index, seconds, start, results))
        for index in range(processes)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=START_TIMEOUT_SECONDS + seconds * 2) for _ in workers]
    for worker in workers:
        worker.join(timeout=START_TIMEOUT_SECONDS)
    errors = [error for _, error in reports if error]
    if errors:
        raise RuntimeError(f"{kind} workers failed: {errors}")
    return sum(count for count, _ in reports) / seconds


def _prepare(url: str, processes_max: int) -> None:
    migrate(url)
    engine = create_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            funding = STORE.ensure_system_accounts(conn, "USD", NOW)["funding"]
            for index in range(processes_max):
                payer = STORE.ensure_wallet(conn, f"payer-{index}", "USD", NOW)
                STORE.ensure_wallet(conn, f"payee-{index}", "USD", NOW)
                opening = Transfer(
                    f"open-{index}", funding.id, payer.id, OPENING_BALANCE_MINOR, "USD"
                )
                if STORE.create_transfer(conn, opening, NOW) is not TransferOutcome.OK:
                    raise RuntimeError("could not fund the benchmark's payers")
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS_DEFAULT)
    parser.add_argument("--processes", type=int, nargs="+", default=list(PROCESS_COUNTS_DEFAULT))
    arguments = parser.parse_args()

    server = sa.make_url(os.environ.get(SERVER_ENV, SERVER_DEFAULT))
    database = f"paystream_bench_{secrets.token_hex(6)}"
    admin = _admin_connection(server)
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    admin.close()
    url = server.set(database=database).render_as_string(hide_password=False)
    try:
        _prepare(url, max(arguments.processes))
        print(
            f"{'processes':>9} {'SELECT 1 tx/s':>14} {'transfers/s':>12} {'ratio':>6}", flush=True
        )
        for processes in arguments.processes:
            baseline = _rate_per_second(url, "select", processes, arguments.seconds)
            transfers = _rate_per_second(url, "transfer", processes, arguments.seconds)
            print(
                f"{processes:>9} {baseline:>14.0f} {transfers:>12.0f} {transfers / baseline:>6.2f}",
                flush=True,
            )
    finally:
        admin = _admin_connection(server)
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
