"""Benchmark: ledger transfers per second on PostgreSQL against pgbench TPC-B, in one run.

Three measurements on the same server, one after the other, with the same number of clients:

1. `pgbench` TPC-B (its default script: BEGIN, three UPDATEs, a SELECT, an INSERT, END) in a
   throwaway database initialised with `pgbench -i`, scale = clients so that clients do not
   queue on one branch row; it runs before the first ledger run and after every ledger run, and
   each ledger figure is compared with the mean of the two pgbench runs around it;
2. single transfers: each client process checks out one connection and loops
   `with conn.begin(): LedgerStore.create_transfer(...)`: a transaction of one transfer;
3. batches: the same loop with `LedgerStore.create_transfers(...)` of `--batch-size` transfers
   (SQS delivers messages in tens), one transaction per batch.

Steps 2 and 3 run twice: in an explicit transaction (BEGIN, the call, COMMIT: three round trips,
as a service that also writes its outbox in the same transaction calls the ledger), and in
autocommit, where the ledger function call is the transaction (one round trip).

Each client moves money between accounts of its own and every `HOT_SHARE`-th transfer pays one
shared merchant account, so the figures include contention on one hot row. The merchant's account
is opened `hot`, as the platform's own accounts are (the ledger locks it last, and in a batch only
at the end); `--cold-merchant` opens it as any wallet, to compare. After each ledger run
the invariants are checked: every currency balances, no floor is broken, every account's history
ends at its balances, and the transfers stored are exactly the ones counted.

    .venv/bin/python bench/ledger_transfers.py [--seconds 30] [--clients 8] [--batch-size 10]
                                               [--cold-merchant]

PAYSTREAM_BENCH_POSTGRES (default: the local server) says where PostgreSQL is; the benchmark
creates and drops databases of its own there. `pgbench` is looked up on PATH, then in
`pg_config --bindir`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from throwaway import bench_server, throwaway_databases, url_of

from shared.adapters.database import create_engine, migrate
from shared.adapters.ledger_store import (
    WALLET_ACCOUNT_KIND,
    LedgerStore,
    wallet_account_id,
)
from shared.adapters.tables import transfers as transfers_table
from shared.domain.ledger import Account, AccountFlags, Transfer, TransferOutcome

SECONDS_DEFAULT = 30.0
CLIENTS_DEFAULT = 8
BATCH_SIZE_DEFAULT = 10
# pgbench worker threads: one per core of the machine the figures were taken on.
PGBENCH_THREADS = 2
# Every client starts with this much money and moves one minor unit per transfer: it can never
# run dry within a run (a billion transfers per client is far beyond any rate here).
OPENING_BALANCE_MINOR = 1_000_000_000
# One transfer in this many pays the shared merchant instead of the client's own payee.
HOT_SHARE = 10
WARM_UP_SECONDS = 2.0
START_TIMEOUT_SECONDS = 120
STORE = LedgerStore()
NOW = datetime(2026, 1, 1, tzinfo=UTC)
MERCHANT_USER = "merchant"


def _pgbench_executable() -> str:
    found = shutil.which("pgbench")
    if found:
        return found
    bindir = subprocess.run(["pg_config", "--bindir"], check=True, capture_output=True, text=True).stdout.strip()
    candidate = Path(bindir) / "pgbench"
    if not candidate.exists():
        raise SystemExit("pgbench not found on PATH nor in `pg_config --bindir`")
    return str(candidate)


def _pgbench(server: sa.URL, *arguments: str, database: str) -> str:
    connection = [
        "-h", server.host or "127.0.0.1",
        "-p", str(server.port or 5432),
        "-U", server.username or "postgres",
    ]  # fmt: skip
    environment = dict(os.environ, PGPASSWORD=server.password or "")
    return subprocess.run(
        [_pgbench_executable(), *arguments, *connection, database],
        check=True, capture_output=True, text=True, env=environment,
    ).stdout  # fmt: skip


def _pgbench_tps(server: sa.URL, database: str, clients: int, seconds: float) -> float:
    output = _pgbench(
        server,
        "-c", str(clients), "-j", str(min(clients, PGBENCH_THREADS)), "-T", str(int(seconds)),
        database=database,
    )  # fmt: skip
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
    if found is None:
        raise RuntimeError(f"no tps in pgbench's output:\n{output}")
    return float(found.group(1))


def _worker(
    url: str,
    kind: str,
    autocommit: bool,
    index: int,
    batch_size: int,
    seconds: float,
    start: Any,
    results: Any,
) -> None:
    engine = create_engine(url, pool_size=1)
    payer = wallet_account_id(f"payer-{index}", "USD")
    payee = wallet_account_id(f"payee-{index}", "USD")
    merchant = wallet_account_id(MERCHANT_USER, "USD")
    prefix = f"{kind}-{index}-{secrets.token_hex(4)}"
    # Transfer ids keep counting across the warm-up, so that no measured transfer is a retry.
    sequence = 0
    created = 0

    def next_transfer() -> Transfer:
        nonlocal sequence
        sequence += 1
        credit = merchant if sequence % HOT_SHARE == 0 else payee
        return Transfer(f"{prefix}:{sequence}", payer, credit, 1, "USD")

    try:
        with engine.connect() as conn:
            if autocommit:
                # The function call is the whole transaction: one round trip, committed as
                # durably as any other (synchronous_commit stays on).
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")

            def one_round() -> int:
                with conn.begin():
                    if kind == "single":
                        outcomes = [STORE.create_transfer(conn, next_transfer(), NOW)]
                    else:
                        batch = [next_transfer() for _ in range(batch_size)]
                        outcomes = STORE.create_transfers(conn, batch, NOW)
                if any(outcome is not TransferOutcome.OK for outcome in outcomes):
                    raise RuntimeError(f"{kind}: {[outcome.value for outcome in outcomes]}")
                return len(outcomes)

            warm_up_end = time.perf_counter() + WARM_UP_SECONDS
            while time.perf_counter() < warm_up_end:
                created += one_round()
            start.wait(START_TIMEOUT_SECONDS)
            measured = 0
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                measured += one_round()
            created += measured
        results.put((measured, created, None))
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        results.put((0, created, f"{type(error).__name__}: {error}"))
    finally:
        engine.dispose()


def _transfers_per_second(
    url: str, kind: str, autocommit: bool, clients: int, batch_size: int, seconds: float
) -> tuple[float, int]:
    """The measured rate, and how many transfers the run created in all (warm-up included)."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(clients)
    results = context.Queue()
    workers = [
        context.Process(
            target=_worker,
            args=(url, kind, autocommit, index, batch_size, seconds, start, results),
        )
        for index in range(clients)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=START_TIMEOUT_SECONDS + WARM_UP_SECONDS + seconds * 2) for _ in workers]
    for worker in workers:
        worker.join(timeout=START_TIMEOUT_SECONDS)
    errors = [error for *_, error in reports if error]
    if errors:
        raise RuntimeError(f"{kind} workers failed: {errors}")
    return sum(measured for measured, _, _ in reports) / seconds, sum(created for _, created, _ in reports)


def _prepare(url: str, clients: int, *, merchant_hot: bool) -> int:
    """Migrate, open the accounts, fund every payer; return how many transfers that took."""
    migrate(url)
    engine = create_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            funding = STORE.ensure_system_accounts(conn, "USD", NOW)["funding"]
            merchant = Account(
                wallet_account_id(MERCHANT_USER, "USD"),
                "USD",
                AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
            )
            STORE.create_account(
                conn, merchant, kind=WALLET_ACCOUNT_KIND, user_id=MERCHANT_USER, now=NOW, hot=merchant_hot
            )
            openings = []
            for index in range(clients):
                payer = STORE.ensure_wallet(conn, f"payer-{index}", "USD", NOW)
                STORE.ensure_wallet(conn, f"payee-{index}", "USD", NOW)
                openings.append(Transfer(f"open-{index}", funding.id, payer.id, OPENING_BALANCE_MINOR, "USD"))
            if set(STORE.create_transfers(conn, openings, NOW)) != {TransferOutcome.OK}:
                raise RuntimeError("could not fund the benchmark's payers")
        return len(openings)
    finally:
        engine.dispose()


def _verify(url: str, transfers_expected: int) -> None:
    """Raise unless the ledger's invariants hold and it holds exactly the transfers counted."""
    engine = create_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            STORE.check_invariants(conn)
            stored = conn.execute(sa.select(sa.func.count()).select_from(transfers_table))
            count = stored.scalar_one()
        if count != transfers_expected:
            raise RuntimeError(f"{count} transfers stored, {transfers_expected} counted")
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS_DEFAULT)
    parser.add_argument("--clients", type=int, default=CLIENTS_DEFAULT)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE_DEFAULT)
    parser.add_argument(
        "--cold-merchant",
        action="store_true",
        help="open the merchant's account without `hot`: locked in id order with the others",
    )
    arguments = parser.parse_args()

    server = bench_server()
    with throwaway_databases(server, "paystream_bench", "pgbench") as (ledger_database, pgbench_database):
        url = url_of(server, ledger_database)
        stored = _prepare(url, arguments.clients, merchant_hot=not arguments.cold_merchant)
        _pgbench(server, "-i", "-q", "-s", str(arguments.clients), database=pgbench_database)
        runs = [
            (kind, batch_size, autocommit)
            for kind, batch_size in (("single", 1), ("batch", arguments.batch_size))
            for autocommit in (False, True)
        ]
        # pgbench runs before the first ledger run and after each one: every ledger figure is
        # compared with the mean of the baselines just before and just after it, so that load
        # from elsewhere that comes and goes during the run weighs on both sides alike.
        tps_before = _pgbench_tps(server, pgbench_database, arguments.clients, arguments.seconds)
        print(f"pgbench TPC-B, {arguments.clients} clients: {tps_before:,.0f} tps", flush=True)
        for kind, batch_size, autocommit in runs:
            rate, created = _transfers_per_second(
                url, kind, autocommit, arguments.clients, batch_size, arguments.seconds
            )
            stored += created
            _verify(url, stored)
            tps_after = _pgbench_tps(server, pgbench_database, arguments.clients, arguments.seconds)
            tps_mean = (tps_before + tps_after) / 2
            label = "single transfers" if kind == "single" else f"batches of {batch_size}"
            shape = "autocommit" if autocommit else "BEGIN … COMMIT"
            print(
                f"{label} ({shape}), {arguments.clients} clients: {rate:,.0f} transfers/s "
                f"({rate / batch_size:,.0f} transactions/s); invariants hold\n"
                f"pgbench TPC-B, {arguments.clients} clients: {tps_after:,.0f} tps; "
                f"the ledger run against the mean of the pgbench runs around it "
                f"({tps_mean:,.0f} tps): {rate / tps_mean:.2f}x",
                flush=True,
            )
            tps_before = tps_after


if __name__ == "__main__":
    main()
