"""Benchmark: what checking an access token costs per request, with the token state cache warm
and cold, against verifying the signature alone, measured in the same run.

Every authenticated request verifies the token's Ed25519 signature and claims, then reads the
user's token state (token version and recently ended sessions) through a short Redis cache,
from PostgreSQL when the cache has no copy. The bench runs exactly what a function runs
(shared.entrypoint's caller check: `authenticate`, `sessions.token_state`, `check_token`) on the
services mode's stores, one thread, for each of:

- signature: `authenticate` alone (what a request cost before the token state existed);
- warm: signature + the cached token state (one Redis GET);
- cold: signature + no cached copy (one Redis GET, two PostgreSQL reads, one Redis SET), which
  is what the first request of a user pays, and every request after a change clears the cache.

    .venv/bin/python bench/token_state.py [--users 200] [--requests 3000]

Needs PostgreSQL (127.0.0.1:5432) and Redis (:6379); it uses its own database,
`paystream_bench_tokens`, and deletes the cache keys it wrote.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flask
import redis

from shared.adapters.database import create_engine, migrate
from shared.adapters.tables import users
from shared.http import authenticate, issue_access_token
from shared.ids import new_id
from shared.runner.local import _ensure_database
from shared.services import sessions
from shared.signing import (
    KeyFile,
    signing_key_at,
    signing_ring_of,
    verification_keys_of,
    write_key_files,
)

DATABASE_URL = "postgresql+pg8000://postgres@127.0.0.1:5432/paystream_bench_tokens"
REDIS_URL = "redis://127.0.0.1:6379/0"
# Longer than the platform's 5 s, so that the warm case measures hits alone (a loaded machine
# takes longer than 5 s for one case); the cold case deletes the copy before each request.
CACHE_SECONDS = 120


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()

    _ensure_database(DATABASE_URL)
    engine = create_engine(DATABASE_URL, pool_size=2)
    migrate(engine)
    cache = redis.Redis.from_url(REDIS_URL)
    keys_dir = Path(tempfile.mkdtemp(prefix="paystream-bench-keys-"))
    now = datetime.now(UTC)
    epoch = int(now.timestamp())
    write_key_files(keys_dir / "signing.json", keys_dir / "verification.json", now=epoch)
    ring = KeyFile(str(keys_dir / "signing.json"), "signing", signing_ring_of).current()
    verification = KeyFile(str(keys_dir / "verification.json"), "verification", verification_keys_of)
    signing_key = signing_key_at(ring, now=epoch)

    user_ids = [new_id("usr") for _ in range(args.users)]
    with engine.begin() as conn:
        conn.execute(
            users.insert(),
            [
                {
                    "id": user_id,
                    "password_hash": "-",
                    "country": "US",
                    "created_at": now,
                }
                for user_id in user_ids
            ],
        )
    requests: list[flask.Request] = [
        flask.Request.from_values(  # type: ignore[misc]
            headers={
                "Authorization": "Bearer "
                + issue_access_token(
                    user_id=user_id,
                    session_id=new_id("fam"),
                    token_version=0,
                    signing_key=signing_key,
                    now_epoch_seconds=epoch,
                    ttl_seconds=900,
                )
            }
        )
        for user_id in user_ids
    ]

    def check(request: flask.Request, *, state: bool, cold: bool) -> float:
        started = time.perf_counter()
        principal = authenticate(request, verification.current(), now_epoch_seconds=int(time.time()))
        if state:
            if cold:
                sessions.forget(cache, principal.user_id)
            found = sessions.token_state(
                cache, engine, principal.user_id, now=datetime.now(UTC), cache_seconds=CACHE_SECONDS
            )
            sessions.check_token(principal, found)
        return time.perf_counter() - started

    # Warm the connection pool, the Redis connection and the interpreter.
    for request in requests:
        check(request, state=True, cold=False)
    results = {}
    for label, state, cold in (("signature", False, False), ("warm", True, False), ("cold", True, True)):
        for request in requests:  # every user's copy fresh before the case starts
            check(request, state=True, cold=False)
        samples = [check(requests[i % len(requests)], state=state, cold=cold) for i in range(args.requests)]
        results[label] = samples
    # What one Redis round trip costs in the same run: the floor of the warm case's addition.
    round_trips = []
    for _ in range(args.requests):
        started = time.perf_counter()
        cache.get("paystream:bench:absent")
        round_trips.append(time.perf_counter() - started)
    print(f"users {args.users}, requests {args.requests} per case, cache {CACHE_SECONDS} s, PostgreSQL + Redis local")
    print(f"{'case':<10} {'mean µs':>9} {'p50 µs':>9} {'p99 µs':>9} {'added µs (mean)':>16}")
    baseline = statistics.fmean(results["signature"])
    for label, samples in results.items():
        mean = statistics.fmean(samples)
        print(
            f"{label:<10} {mean * 1e6:>9.0f} {_percentile(samples, 0.5) * 1e6:>9.0f} "
            f"{_percentile(samples, 0.99) * 1e6:>9.0f} {(mean - baseline) * 1e6:>16.0f}"
        )
    print(
        f"{'redis GET':<10} {statistics.fmean(round_trips) * 1e6:>9.0f} {_percentile(round_trips, 0.5) * 1e6:>9.0f} "
        f"{_percentile(round_trips, 0.99) * 1e6:>9.0f}   (one round trip alone, same run)"
    )
    for user_id in user_ids:
        sessions.forget(cache, user_id)
    with engine.begin() as conn:
        conn.execute(users.delete().where(users.c.id.in_(user_ids)))
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
