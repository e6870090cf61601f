"""Benchmark: what one hot account costs the ledger's batches, measured on the server alone.

`pgbench -M simple` calls `paystream_create_transfers` with batches of 10 one-unit transfers
from 8 clients (no Python client in the way), twice on the same server in the same run:

1. the baseline: each client pays accounts of its own, so batches never wait for each other;
2. hot: every batch's last transfer credits one shared merchant account, as every SQS batch of
   a busy merchant's payments would. Its row lock is held until the commit is flushed, so these
   batches pass through it one at a time. The merchant's account is `hot`: a batch locks it at
   its end, for the merchant's own writes and the commit (`--cold-merchant`: in id order with
   the other accounts, before the batch runs).

A warm-up run of the baseline comes first and is not reported. The invariants are checked after
the runs (the ledger sums to zero, floors hold, histories end
at the balances, every transfer pgbench made is stored).

    .venv/bin/python bench/ledger_hot_account.py [--seconds 10] [--clients 8] [--foreign-keys]
                                                 [--cold-merchant]

PAYSTREAM_BENCH_POSTGRES says where PostgreSQL is (bench/throwaway.py).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ledger_transfers import CLIENTS_DEFAULT, MERCHANT_USER, _pgbench, _prepare, _verify
from throwaway import admin_connection, bench_server, throwaway_databases, url_of

BATCH_SIZE = 10
# What migration 0006 dropped (`--foreign-keys` puts them back).
_FOREIGN_KEYS = (
    ("transfers", "debit_account_id"),
    ("transfers", "credit_account_id"),
    ("account_history", "account_id"),
)
SECONDS_DEFAULT = 10

# One batch from the client's payer: to its own payee, or (hot) the last transfer to the merchant.
_SCRIPT = """\\set p :client_id % {clients}
SELECT paystream_create_transfers(
  ARRAY(SELECT gen_random_uuid()::varchar FROM generate_series(1, {size})),
  array_fill(('wallet:payer-' || CAST(:p AS text) || ':USD')::varchar, ARRAY[{size}]),
  array_fill(('wallet:payee-' || CAST(:p AS text) || ':USD')::varchar, ARRAY[{size} - 1])
    || ARRAY[{last_credit}::varchar],
  array_fill(1::bigint, ARRAY[{size}]), array_fill('USD'::varchar, ARRAY[{size}]),
  array_fill(0, ARRAY[{size}]), array_fill(NULL::varchar, ARRAY[{size}]),
  array_fill(0, ARRAY[{size}]), now());
"""


def _batches(server: sa.URL, database: str, script: Path, clients: int, seconds: int) -> tuple[float, int]:
    """Batches per second, and how many batches the run made."""
    output = _pgbench(
        server, "-n", "-M", "simple", "-c", str(clients), "-j", "2", "-T", str(seconds),
        "-f", str(script), database=database,
    )  # fmt: skip
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
    done = re.search(r"number of transactions actually processed: (\d+)", output)
    if tps is None or done is None:
        raise RuntimeError(f"unexpected pgbench output:\n{output}")
    return float(tps.group(1)), int(done.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=SECONDS_DEFAULT)
    parser.add_argument("--clients", type=int, default=CLIENTS_DEFAULT)
    parser.add_argument(
        "--foreign-keys", action="store_true", help="put back the foreign keys migration 0006 dropped, to measure them"
    )
    parser.add_argument(
        "--cold-merchant", action="store_true", help="open the merchant's account without `hot` (migration 0007)"
    )
    arguments = parser.parse_args()
    server = bench_server()
    with throwaway_databases(server, "paystream_bench") as (database,):
        url = url_of(server, database)
        stored = _prepare(url, arguments.clients, merchant_hot=not arguments.cold_merchant)
        if arguments.foreign_keys:
            admin = admin_connection(server.set(database=database))
            for table, column in _FOREIGN_KEYS:
                admin.cursor().execute(f"ALTER TABLE {table} ADD FOREIGN KEY ({column}) REFERENCES accounts (id)")
            admin.close()
        with tempfile.TemporaryDirectory() as folder:
            rates = {}
            for name, last_credit in (
                ("warm-up", "'wallet:payee-' || CAST(:p AS text) || ':USD'"),
                ("own accounts", "'wallet:payee-' || CAST(:p AS text) || ':USD'"),
                ("hot merchant", f"'wallet:{MERCHANT_USER}:USD'"),
            ):
                script = Path(folder) / f"{name.replace(' ', '_')}.sql"
                script.write_text(_SCRIPT.format(clients=arguments.clients, size=BATCH_SIZE, last_credit=last_credit))
                rate, batches = _batches(server, database, script, arguments.clients, arguments.seconds)
                stored += batches * BATCH_SIZE
                if name == "warm-up":
                    # A new database's first seconds are slower (its rows and indexes are
                    # young): measured, then left out.
                    continue
                rates[name] = rate
                print(
                    f"batches of {BATCH_SIZE}, {name}, {arguments.clients} clients: "
                    f"{rate:,.0f} batches/s ({rate * BATCH_SIZE:,.0f} transfers/s), "
                    f"{rate / rates['own accounts']:.2f}x the baseline",
                    flush=True,
                )
        _verify(url, stored)
        print("invariants hold")


if __name__ == "__main__":
    main()
