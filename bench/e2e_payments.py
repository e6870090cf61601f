"""A burst's acceptance rate through `paystream up`, in the embedded and the services mode.

This measures the front door (how fast payments are accepted, 202) and how long a burst takes
to drain; it is not a throughput figure. Throughput, as the PRD means it, is a steady offered
rate with every payment followed to a final state: bench/sustained_payments.py.

For each mode it starts the platform and funds USERS users; it sends IDLE_PAYMENTS payments one
at a time (the saga's latency when nothing queues), then PAYMENTS payments from CLIENT_THREADS
concurrent clients, and reports: payments accepted per second, p50/p99 accept latency, p50/p99
accept→final latency under that burst. The baseline, measured in the same run against the
same server, is `GET /healthz` through the same gateway with the same concurrency: the ratio
says how much of the HTTP path's capacity a payment costs.

    .venv/bin/python bench/e2e_payments.py [--modes embedded services] [--payments 300]

The services mode needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379; it uses a
database of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.functions import FUNCTIONS
from shared.rate_limits import harness_environment
from shared.runner.local import free_port, mail_outbox_file
from tests.e2e.client import FINAL_STATUSES, MAIL_OUTBOXES, sign_up
from tests.e2e.conftest import _free_port_range

USERS = 20
IDLE_PAYMENTS = 20
CLIENT_THREADS = 16
BASELINE_REQUESTS = 1_000
COMPLETION_SECONDS_MAX = 300
OPENING_BALANCE_MINOR = 1_000_000


def _elapsed_ms(start: str, end: str) -> float:
    parse = lambda value: datetime.fromisoformat(value.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds() * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def start(mode: str, home: Path) -> tuple[str, subprocess.Popen, str | None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSTREAM_")}
    env["PAYSTREAM_SECRET_KEY"] = secrets.token_urlsafe(48)
    env["PAYSTREAM_LOG_LEVEL"] = "WARNING"
    # A benchmark measures the platform, not its rate limits (every client here is 127.0.0.1).
    env.update(harness_environment())
    port = free_port()
    args = [str(Path(sys.executable).with_name("paystream")), "up", "--port", str(port), "--home", str(home)]
    database = None
    if mode == "services":
        database = f"paystream_bench_{secrets.token_hex(4)}"
        env["PAYSTREAM_DATABASE_URL"] = f"postgresql+pg8000://postgres@127.0.0.1:5432/{database}"
        env["PAYSTREAM_REDIS_URL"] = "redis://127.0.0.1:6379/0"
        env["PAYSTREAM_AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
        env["PAYSTREAM_DYNAMODB_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
        args += ["--services", "--functions-base-port", str(_free_port_range(len(FUNCTIONS)))]
    # The platform writes through its own copy of the descriptor; ours closes once it has started.
    with open(home / "platform.log", "wb") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/readyz", timeout=2).status_code == 200:
                # Users signed up for the run verify their addresses from its mail outbox.
                MAIL_OUTBOXES[url] = mail_outbox_file(home)
                return url, process, database
        except requests.RequestException:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"{mode}: the platform did not start; see {home / 'platform.log'}")


def drop_database(name: str) -> None:
    import pg8000.native

    admin = pg8000.native.Connection(user="postgres", host="127.0.0.1", database="postgres")
    admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def baseline_rps(url: str) -> float:
    session = requests.Session()

    def hit(_):
        return session.get(url + "/healthz", timeout=10).status_code

    began = time.perf_counter()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        codes = list(pool.map(hit, range(BASELINE_REQUESTS)))
    elapsed = time.perf_counter() - began
    if any(code != 200 for code in codes):
        raise SystemExit("baseline: /healthz answered other than 200")
    return BASELINE_REQUESTS / elapsed


def run(mode: str, payments: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        url, process, database = start(mode, Path(home))
        try:
            users = [sign_up(url, f"bench{i}") for i in range(USERS)]
            for user in users:
                answer = user.top_up(user.add_card(), OPENING_BALANCE_MINOR)
                if answer.status_code != 201:
                    raise SystemExit(f"top-up failed: {answer.text}")
            # One payment at a time first: the saga's latency when nothing queues.
            idle_ms = []
            for index in range(IDLE_PAYMENTS):
                payer, payee = users[index % USERS], users[(index + 1) % USERS]
                answer = payer.pay(payee.email, 1)
                final = payer.wait_final(answer.json()["id"], seconds=COMPLETION_SECONDS_MAX)
                idle_ms.append(_elapsed_ms(answer.json()["created_at"], final["updated_at"]))
            generator = random.Random(7)
            plan = [(*generator.sample(users, 2), generator.randint(1, 1_000)) for _ in range(payments)]
            baseline = baseline_rps(url)

            def send(step):
                payer, payee, amount = step
                began = time.perf_counter()
                answer = payer.pay(payee.email, amount)
                return payer, answer, began, time.perf_counter()

            began = time.perf_counter()
            with ThreadPoolExecutor(CLIENT_THREADS) as pool:
                sent = list(pool.map(send, plan))
            accept_seconds = time.perf_counter() - began
            if any(answer.status_code != 202 for _, answer, _, _ in sent):
                raise SystemExit(f"{mode}: a payment was not accepted")
            accept_ms = [(done - start_) * 1000 for _, _, start_, done in sent]
            # Completion: poll each payment; its updated_at minus the accept time is the latency.
            completion_ms = []
            deadline = time.monotonic() + COMPLETION_SECONDS_MAX
            for payer, answer, _start, _done in sent:
                payment_id = answer.json()["id"]
                created = answer.json()["created_at"]
                while True:
                    status = payer.call("GET", f"/v1/payments/{payment_id}").json()
                    if status["status"] in FINAL_STATUSES or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                if status["status"] not in FINAL_STATUSES:
                    raise SystemExit(f"{mode}: payment {payment_id} did not finish")
                completion_ms.append(_elapsed_ms(created, status["updated_at"]))
            accepted_per_second = payments / accept_seconds
            return {
                "one_at_a_time_accept_to_final_ms_p50": percentile(idle_ms, 0.50),
                "one_at_a_time_accept_to_final_ms_max": max(idle_ms),
                "baseline_healthz_rps": baseline,
                "burst_accepted_per_second": accepted_per_second,
                "ratio_to_baseline": accepted_per_second / baseline,
                "accept_latency_ms_p50": percentile(accept_ms, 0.50),
                "accept_latency_ms_p99": percentile(accept_ms, 0.99),
                "burst_accept_to_final_ms_p50": percentile(completion_ms, 0.50),
                "burst_accept_to_final_ms_p99": percentile(completion_ms, 0.99),
                "burst_accept_to_final_ms_mean": statistics.fmean(completion_ms),
            }
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            if database:
                drop_database(database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["embedded", "services"])
    parser.add_argument("--payments", type=int, default=300)
    args = parser.parse_args()
    for mode in args.modes:
        figures = run(mode, args.payments)
        print(
            f"{mode}: a burst of {args.payments} payments from {CLIENT_THREADS} client threads, "
            f"{USERS} users (acceptance rate: the front door, not throughput)"
        )
        for name, value in figures.items():
            print(f"  {name:32} {value:10.2f}")


if __name__ == "__main__":
    main()
