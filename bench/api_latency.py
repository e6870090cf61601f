"""API latency under load: 200 concurrent clients in a closed loop against the services mode.

Each client is one signed-up, funded user who, in turn and without pause, reads its balance
(`GET /v1/wallets`), reads its history (`GET /v1/transactions?limit=10`), sends a one-cent
payment to another client (`POST /v1/payments`, accepted with 202) and refreshes its token
(`POST /v1/oauth/token`, refresh_token grant). The clients run in `PROCESSES` processes (one
Python process cannot keep 200 clients busy by itself) over kept-alive connections through the
gateway, for `--seconds`; p50 and p99 are per operation. Baseline, measured in the same run
with the same clients: `GET /healthz` through the same gateway.

    .venv/bin/python bench/api_latency.py [--clients 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from platform_run import percentile, running_platform
from sustained_payments import BENCH_ENVIRONMENT, OPENING_BALANCE_MINOR

from tests.e2e.client import sign_up

CLIENTS_DEFAULT = 200
SECONDS_DEFAULT = 30
PROCESSES = 4
HTTP_TIMEOUT_SECONDS = 60
TARGETS_MS_P99 = {"balance": 30, "accept": 50}


def _client_loop(url: str, users: list[dict], seconds: float, operations: tuple[str, ...], results) -> None:
    """One process: a thread per user, each looping over `operations` until time is up."""
    import threading

    parts = urlsplit(url)
    host = parts.hostname
    assert host is not None, url
    deadline = time.monotonic() + seconds
    samples: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    lock = threading.Lock()

    def run(index: int) -> None:
        user = users[index]
        payee = users[(index + 1) % len(users)]["id"]
        connection = http.client.HTTPConnection(host, parts.port, timeout=HTTP_TIMEOUT_SECONDS)
        step = 0
        while time.monotonic() < deadline:
            name = operations[step % len(operations)]
            step += 1
            method, path, body, headers, expected = _request(name, user, payee)
            began = time.perf_counter()
            try:
                connection.request(method, path, body, headers)
                answer = connection.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                with lock:
                    failures[name] += 1
                continue
            elapsed_ms = (time.perf_counter() - began) * 1000
            if answer.status != expected:
                with lock:
                    failures[name] += 1
                continue
            if name == "refresh":
                tokens = json.loads(data)
                user["access_token"], user["refresh_token"] = tokens["access_token"], tokens["refresh_token"]
            with lock:
                samples[name].append(elapsed_ms)
        connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(users))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((dict(samples), dict(failures)))


def _request(name: str, user: dict, payee: str) -> tuple[str, str, bytes | None, dict[str, str], int]:
    auth = {"Authorization": f"Bearer {user['access_token']}"}
    if name == "balance":
        return "GET", "/v1/wallets", None, auth, 200
    if name == "history":
        return "GET", "/v1/transactions?limit=10", None, auth, 200
    if name == "accept":
        body = json.dumps({"to": payee, "amount": 1, "currency": "USD", "note": ""}).encode()
        return (
            "POST",
            "/v1/payments",
            body,
            {**auth, "Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
            202,
        )
    if name == "refresh":
        body = urlencode({"grant_type": "refresh_token", "refresh_token": user["refresh_token"]}).encode()
        return "POST", "/v1/oauth/token", body, {"Content-Type": "application/x-www-form-urlencoded"}, 200
    if name == "healthz":
        return "GET", "/healthz", None, {}, 200
    raise ValueError(name)


def closed_loop(url: str, users: list[dict], seconds: float, operations: tuple[str, ...]) -> dict:
    results: multiprocessing.Queue[tuple[dict[str, list[float]], dict[str, int]]] = multiprocessing.Queue()
    shares = [users[i::PROCESSES] for i in range(PROCESSES)]
    processes = [
        multiprocessing.Process(target=_client_loop, args=(url, share, seconds, operations, results))
        for share in shares
        if share
    ]
    for process in processes:
        process.start()
    samples: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    for _ in processes:
        got, failed = results.get()
        for name, values in got.items():
            samples[name] += values
        for name, count in failed.items():
            failures[name] += count
    for process in processes:
        process.join()
    return {
        name: {
            "requests_per_second": len(values) / seconds,
            "p50_ms": percentile(values, 0.50),
            "p99_ms": percentile(values, 0.99),
            "failed": failures.get(name, 0),
        }
        for name, values in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=CLIENTS_DEFAULT)
    parser.add_argument("--seconds", type=float, default=SECONDS_DEFAULT)
    args = parser.parse_args()
    with running_platform("services", extra_env=BENCH_ENVIRONMENT) as platform:
        users = []
        for index in range(args.clients):
            user = sign_up(platform.url, f"api{index}")
            user.top_up(user.add_card(), OPENING_BALANCE_MINOR)
            users.append({"id": user.id, "access_token": user.access_token, "refresh_token": user.refresh_token})
        baseline = closed_loop(platform.url, users, args.seconds / 2, ("healthz",))["healthz"]
        print(
            f"baseline GET /healthz, {args.clients} clients: {baseline['requests_per_second']:.0f} req/s, "
            f"p50 {baseline['p50_ms']:.0f} ms, p99 {baseline['p99_ms']:.0f} ms",
            flush=True,
        )
        figures = closed_loop(platform.url, users, args.seconds, ("balance", "history", "accept", "refresh"))
    for name, f in figures.items():
        target = TARGETS_MS_P99.get(name)
        print(
            f"{name:8} {f['requests_per_second']:7.1f} req/s  p50 {f['p50_ms']:6.0f} ms  p99 {f['p99_ms']:6.0f} ms"
            f"  failed {f['failed']}" + (f"  (target p99 ≤ {target} ms)" if target else "")
        )
    total = sum(f["requests_per_second"] for f in figures.values())
    print(f"all operations: {total:.0f} req/s, {total / baseline['requests_per_second']:.2f}× the baseline's rate")


if __name__ == "__main__":
    main()
