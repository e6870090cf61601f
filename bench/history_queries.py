"""Benchmark: `GET /v1/transactions` latency for a user with 10,000 and with 1,000,000 entries.

The history must not get slower as it grows: every page is an index range scan on
(user_id, created_at, id) that stops after `limit + 1` rows, whatever lies beyond. This measures
it on PostgreSQL through the transactions function's real functions-framework binding (routing,
token check, query, JSON), for the pages a client asks for: the newest page, a page deep in the
past by cursor, a page back towards the newest (`ending_before`), a currency-and-type filter and a
date range. The baseline, measured in the same run through the same binding, is `GET /healthz`.

    .venv/bin/python bench/history_queries.py [--requests 300] [--sizes 10000 1000000]

PAYSTREAM_BENCH_POSTGRES (default: the local server) says where PostgreSQL is; the benchmark
works in a database of its own, created and dropped here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# No trace agent here: ddtrace, imported with the functions, would send to localhost:8126.
os.environ.setdefault("DD_TRACE_ENABLED", "false")

from throwaway import admin_connection, bench_server, throwaway_databases, url_of

from shared.adapters.database import create_engine, migrate
from shared.adapters.tables import users
from shared.http import issue_access_token
from shared.ids import new_id
from shared.signing import signing_key_at, signing_ring_of, write_key_files

REQUESTS_DEFAULT = 300
SIZES_DEFAULT = (10_000, 1_000_000)
PAGE_LIMIT = 100
WARM_UP_REQUESTS = 20
NEWEST = datetime(2026, 11, 1, tzinfo=UTC)

# One row a second back in time from NEWEST; types, currencies and statuses cycle so that every
# filter matches a steady share of any history.
_FILL = sa.text("""
INSERT INTO transactions (id, user_id, type, direction, amount_minor, currency, status,
                          counterparty_id, description, failure_code, created_at, updated_at)
SELECT :prefix || lpad(n::text, 8, '0'), :user_id,
       (ARRAY['payment', 'payment', 'topup'])[1 + mod(n, 3)],
       (ARRAY['debit', 'credit'])[1 + mod(n, 2)],
       100 + mod(n, 9900),
       (ARRAY['USD', 'EUR', 'GBP', 'JPY'])[1 + mod(n, 4)],
       (ARRAY['completed', 'completed', 'completed', 'failed', 'succeeded'])[1 + mod(n, 5)],
       NULL, 'bench', NULL,
       CAST(:newest AS timestamptz) - n * interval '1 second',
       CAST(:newest AS timestamptz) - n * interval '1 second'
FROM generate_series(1, :rows) AS n
""")


def _fill(url: str, sizes: list[int]) -> dict[int, str]:
    """One user per size with that many history entries; returns size → user id."""
    engine = create_engine(url)
    owners = {}
    try:
        migrate(engine)
        with engine.begin() as conn:
            for size in sizes:
                user_id = f"usr_bench{size}"
                conn.execute(
                    users.insert().values(
                        id=user_id,
                        password_hash="-",
                        country="US",
                        kyc_status="verified",
                        created_at=NEWEST - timedelta(days=400),
                    )
                )
                started = time.perf_counter()
                conn.execute(
                    _FILL, {"prefix": f"txn_{size}_", "user_id": user_id, "rows": size, "newest": NEWEST.isoformat()}
                )
                print(f"  {size:>9,} entries written in {time.perf_counter() - started:.1f} s", flush=True)
                owners[size] = user_id
        vacuum = admin_connection(sa.make_url(url))
        vacuum.cursor().execute("VACUUM ANALYZE transactions")
        vacuum.close()
    finally:
        engine.dispose()
    return owners


def _requests_for(size: int) -> dict[str, dict[str, str]]:
    middle = f"txn_{size}_{size // 2:08d}"
    return {
        "newest page": {},
        "page deep in the past (starting_after)": {"starting_after": f"txn_{size}_{size - 500:08d}"},
        "page towards the newest (ending_before)": {"ending_before": middle},
        "currency and type filter": {"currency": "EUR", "type": "payment"},
        "date range a day long": {
            "from": (NEWEST - timedelta(seconds=size // 2 + 86_400)).isoformat(),
            "to": (NEWEST - timedelta(seconds=size // 2)).isoformat(),
        },
    }


def _latencies_ms(client, path: str, params: dict[str, str], headers: dict[str, str], count: int) -> list[float]:
    for _ in range(WARM_UP_REQUESTS):
        client.get(path, query_string=params, headers=headers)
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path, query_string=params, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} {params}: {response.status_code} {response.get_data(as_text=True)}")
        if path != "/healthz" and len(response.get_json()["data"]) == 0:
            raise RuntimeError(f"GET {path} {params}: an empty page measures nothing")
    return timings


def _p(timings: list[float], percentile: int) -> float:
    return statistics.quantiles(timings, n=100, method="inclusive")[percentile - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=REQUESTS_DEFAULT)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES_DEFAULT))
    args = parser.parse_args()

    server = bench_server()
    with throwaway_databases(server, "paystream_bench") as (database,):
        url = url_of(server, database)
        print(f"filling histories of {', '.join(f'{s:,}' for s in args.sizes)} entries", flush=True)
        owners = _fill(url, sorted(args.sizes))
        keys = Path(tempfile.mkdtemp(prefix="paystream-bench-keys-"))
        write_key_files(keys / "signing-keys.json", keys / "verification-keys.json", now=int(time.time()))
        signing_key = signing_key_at(
            signing_ring_of(json.loads((keys / "signing-keys.json").read_text())), now=int(time.time())
        )
        os.environ.update(
            {
                "PAYSTREAM_DATABASE_URL": url,
                "PAYSTREAM_REDIS_URL": "memory://",
                "PAYSTREAM_SIGNING_KEYS_FILE": str(keys / "signing-keys.json"),
                "PAYSTREAM_VERIFICATION_KEYS_FILE": str(keys / "verification-keys.json"),
                "PAYSTREAM_AWS_ENDPOINT_URL": "http://127.0.0.1:1",
            }
        )
        from shared.functions import load_app

        client = load_app("transactions").test_client()
        baseline = _latencies_ms(client, "/healthz", {}, {}, args.requests)
        print(f"\nbaseline GET /healthz: p50 {_p(baseline, 50):.2f} ms, p99 {_p(baseline, 99):.2f} ms\n")
        p99 = {}
        print(f"{'request':<42}" + "".join(f"{f'{s:,} p50/p99 ms':>24}" for s in sorted(owners)))
        for name in _requests_for(0):
            cells = []
            for size, user_id in sorted(owners.items()):
                token = issue_access_token(
                    user_id=user_id,
                    session_id=new_id("fam"),
                    token_version=0,
                    signing_key=signing_key,
                    now_epoch_seconds=int(time.time()),
                    ttl_seconds=900,
                )
                params = {"limit": str(PAGE_LIMIT), **_requests_for(size)[name]}
                timings = _latencies_ms(
                    client, "/v1/transactions", params, {"Authorization": f"Bearer {token}"}, args.requests
                )
                p99[(name, size)] = _p(timings, 99)
                cells.append(f"{_p(timings, 50):.2f} / {_p(timings, 99):.2f}")
            print(f"{name:<42}" + "".join(f"{cell:>24}" for cell in cells), flush=True)
        smallest, largest = min(owners), max(owners)
        print(f"\np99 ratio {largest:,} / {smallest:,} entries, per request:")
        for name in _requests_for(0):
            ratio = p99[(name, largest)] / p99[(name, smallest)]
            print(f"  {name:<42} {ratio:.2f}x   ({p99[(name, largest)] / _p(baseline, 99):.1f}x the baseline p99)")


if __name__ == "__main__":
    main()
