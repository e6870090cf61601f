"""Sustained load: payments offered at a steady rate, every one followed to a final state.

This is throughput as the PRD means it ("payment processing < 2 s"), not a burst's acceptance
rate: for each offered rate (open loop: a payment is sent at its scheduled time whether or not
earlier ones were answered), held for `--seconds`, it reports

- the rate actually offered and the payments accepted (202),
- accept → final latency, p50 and p99, from each payment's own timestamps (`created_at` when it
  was accepted, `updated_at` when it reached completed, failed or declined),
- the CPU each process spent per payment over the level (/proc, user + system): the supervisor
  (gateway and deliverer), each function, LocalStack, moto (DynamoDB), PostgreSQL's backends of
  the platform's database, and this load generator,
- the AWS requests per payment by operation (`paystream.aws.requests`, the platform's own
  metric, received on a UDP socket standing in for the Datadog agent), the events per payment
  on the bus and the SQS messages they become (one per consuming route, shared.topology).

Rates rise until p99 passes 2 s or a payment is not final within `FINAL_WAIT_SECONDS` of the
level's end; the highest rate within the bound is the sustained rate. Before the levels it
measures one payment at a time (the saga's latency when nothing queues) and the idle burn (CPU
per second with no traffic, after the platform has settled).

    .venv/bin/python bench/sustained_payments.py [--modes services embedded] [--rates 5 10 20]
        [--seconds 60] [--users 60]

Fraud velocity limits are raised for the run (PAYSTREAM_FRAUD_VELOCITY_*): a few dozen users
paying thousands of times an hour would rightly be held for review, and a held payment is not
final. The load stays on this machine's loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import endpoint_ceiling
from platform_run import RunningPlatform, aws_requests, cpu_seconds, percentile, running_platform

from shared.adapters.database import create_engine
from shared.adapters.tables import events, payments
from shared.topology import consumers_of
from tests.e2e.client import FINAL_STATUSES, log_in, sign_up

RATES_DEFAULT = (5, 10, 15, 20, 25, 30, 40)
LEVEL_SECONDS_DEFAULT = 60
USERS_DEFAULT = 60
ONE_AT_A_TIME_PAYMENTS = 30
IDLE_SECONDS = 20
# The platform settles (relay, sweeper, first pings) before the idle burn is read.
SETTLE_SECONDS = 15
LATENCY_BOUND_MS = 2_000
# After a level's last payment, how long its payments have to become final.
FINAL_WAIT_SECONDS = 60
OPENING_BALANCE_MINOR = 1_000_000
SENDER_THREADS = 64
# The platform is at rest when all its processes together keep less than this busy.
QUIET_CORES = 0.1
QUIESCE_SECONDS_MAX = 120
HTTP_TIMEOUT_SECONDS = 30
_POLL_SECONDS = 0.5
BENCH_ENVIRONMENT = {
    "PAYSTREAM_FRAUD_VELOCITY_REVIEW_ABOVE": "1000000",
    "PAYSTREAM_FRAUD_VELOCITY_DECLINE_ABOVE": "1000000",
}


@dataclass(frozen=True)
class Sent:
    payment_id: str | None
    status: int
    late_ms: float
    accept_ms: float


class Sender:
    """Sends payments through the gateway over kept-alive connections, one per thread."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None, url
        self._host, self._port = parts.hostname, parts.port
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=HTTP_TIMEOUT_SECONDS)
            self._local.connection = connection
        return connection

    def pay(self, token: str, payee: str, amount: int, scheduled: float) -> Sent:
        began = time.monotonic()
        body = json.dumps({"to": payee, "amount": amount, "currency": "USD", "note": "bench"})
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        for attempt in range(2):
            connection = self._connection()
            try:
                connection.request("POST", "/v1/payments", body, headers)
                answer = connection.getresponse()
                data = answer.read()
                break
            except (http.client.HTTPException, OSError):
                connection.close()
                self._local.connection = None
                if attempt:
                    return Sent(None, 599, (began - scheduled) * 1000, (time.monotonic() - began) * 1000)
        accept_ms = (time.monotonic() - began) * 1000
        payment_id = json.loads(data)["id"] if answer.status == 202 else None
        return Sent(payment_id, answer.status, (began - scheduled) * 1000, accept_ms)


def offer(sender: Sender, users: list, rate: float, seconds: float, seed: int) -> list[Sent]:
    """Open loop: payment i is sent at start + i / rate, whatever happened to the others."""
    chooser = random.Random(seed)
    count = int(rate * seconds)
    plan = [(chooser.sample(users, 2), chooser.randint(1, 100)) for _ in range(count)]
    with ThreadPoolExecutor(SENDER_THREADS) as pool:
        start = time.monotonic() + 0.5
        futures = []
        for index, ((payer, payee), amount) in enumerate(plan):
            scheduled = start + index / rate
            pause = scheduled - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            futures.append(pool.submit(sender.pay, payer.access_token, payee.id, amount, scheduled))
        return [future.result() for future in futures]


def wait_final(engine: sa.Engine, payment_ids: list[str], seconds: float) -> Sequence[Any]:
    """The payments' rows once all are final, or as they are when `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(payments.c.id, payments.c.status, payments.c.created_at, payments.c.updated_at).where(
                    payments.c.id.in_(payment_ids)
                )
            ).all()
        if all(row.status in FINAL_STATUSES for row in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(_POLL_SECONDS)


def bus_traffic(engine: sa.Engine, payment_ids: list[str]) -> tuple[int, int]:
    """(events, SQS messages) the payments caused: each event goes to every consuming route."""
    with engine.connect() as conn:
        # Each row unpacks as a (type, count) tuple, which SQLAlchemy's typing of an unpacked row
        # does not say (and Result.tuples(), which would, is deprecated).
        types = cast(
            Sequence[tuple[str, int]],
            conn.execute(
                sa.select(events.c.type, sa.func.count())
                .where(events.c.subject.in_(payment_ids))
                .group_by(events.c.type)
            ).all(),
        )
    return sum(n for _, n in types), sum(n * len(consumers_of(t)) for t, n in types)


def level(platform: RunningPlatform, engine: sa.Engine, users: list, rate: float, seconds: float, seed: int) -> dict:
    # Access tokens live 15 minutes at most, and a run lasts longer: fresh ones for each level
    # (signed in before the level's CPU is measured).
    for user in users:
        log_in(user)
    sender = Sender(platform.url)
    cpu_before, bench_before = platform.cpu_seconds(), cpu_seconds()
    metrics_before = platform.statsd.snapshot()
    began = time.monotonic()
    sent = offer(sender, users, rate, seconds, seed)
    sending_seconds = time.monotonic() - began
    ids = [s.payment_id for s in sent if s.payment_id]
    rows = wait_final(engine, ids, FINAL_WAIT_SECONDS)
    # Payments are final before every consumer is done with them (notify, audit): the level's
    # cost is read once the platform is back at rest.
    cpu_after = quiesce(platform)
    bench_after = cpu_seconds()
    metrics_after = platform.statsd.snapshot()
    metrics = {key: value - metrics_before.get(key, 0) for key, value in metrics_after.items()}
    final = [row for row in rows if row.status in FINAL_STATUSES]
    latency_ms = [(row.updated_at - row.created_at).total_seconds() * 1000 for row in final]
    accepted = len(ids)
    per_payment = max(accepted, 1)
    cpu_ms = {role: 1000 * (cpu_after.get(role, 0) - cpu_before.get(role, 0)) / per_payment for role in cpu_after}
    cpu_ms["load generator"] = 1000 * (bench_after - bench_before) / per_payment
    requests_made = {op: n / per_payment for op, n in sorted(aws_requests(metrics).items())}
    bus_events, sqs_messages = bus_traffic(engine, ids)
    return {
        "offered_per_second": rate,
        "sent_per_second": len(sent) / sending_seconds,
        "send_late_ms_p99": percentile([s.late_ms for s in sent], 0.99),
        "accepted": accepted,
        "rejected": Counter(s.status for s in sent if s.status != 202),
        "final": len(final),
        "statuses": Counter(row.status for row in rows),
        "accept_ms_p50": percentile([s.accept_ms for s in sent], 0.50),
        "accept_ms_p99": percentile([s.accept_ms for s in sent], 0.99),
        "final_ms_p50": percentile(latency_ms, 0.50),
        "final_ms_p99": percentile(latency_ms, 0.99),
        "cpu_ms_per_payment": cpu_ms,
        "aws_requests_per_payment": requests_made,
        "bus_events_per_payment": bus_events / per_payment,
        "sqs_messages_per_payment": sqs_messages / per_payment,
    }


def quiesce(platform: RunningPlatform) -> dict[str, float]:
    """Wait until the platform spends less than `QUIET_CORES` for a second; its CPU reading."""
    deadline = time.monotonic() + QUIESCE_SECONDS_MAX
    before = platform.cpu_seconds()
    while True:
        time.sleep(1)
        after = platform.cpu_seconds()
        if sum(after.values()) - sum(before.values()) < QUIET_CORES or time.monotonic() > deadline:
            return after
        before = after


def one_at_a_time(users: list, engine: sa.Engine) -> list[float]:
    latencies = []
    for index in range(ONE_AT_A_TIME_PAYMENTS):
        payer, payee = users[index % len(users)], users[(index + 1) % len(users)]
        answer = payer.pay(payee.id, 1)
        final = payer.wait_final(answer.json()["id"], seconds=FINAL_WAIT_SECONDS)
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(payments.c.created_at, payments.c.updated_at).where(payments.c.id == final["id"])
            ).one()
        latencies.append((row.updated_at - row.created_at).total_seconds() * 1000)
    return latencies


def idle_burn(platform: RunningPlatform, seconds: float) -> dict[str, float]:
    """Cores each role keeps busy with no traffic at all."""
    before = platform.cpu_seconds()
    time.sleep(seconds)
    after = platform.cpu_seconds()
    return {role: (after[role] - before.get(role, 0)) / seconds for role in after}


def run(mode: str, rates: list[float], seconds: float, user_count: int) -> dict:
    with running_platform(mode, extra_env=BENCH_ENVIRONMENT) as platform:
        engine = create_engine(platform.database_url or f"sqlite:///{platform.home / 'paystream.db'}")
        users = [sign_up(platform.url, f"load{i}") for i in range(user_count)]
        for user in users:
            answer = user.top_up(user.add_card(), OPENING_BALANCE_MINOR)
            if answer.status_code != 201:
                raise SystemExit(f"top-up failed: {answer.text}")
        single = one_at_a_time(users, engine)
        time.sleep(SETTLE_SECONDS)
        idle = idle_burn(platform, IDLE_SECONDS)
        levels = []
        for index, rate in enumerate(rates):
            figures = level(platform, engine, users, rate, seconds, seed=index)
            levels.append(figures)
            print_level(mode, figures)
            if figures["final"] < figures["accepted"] or figures["final_ms_p99"] > LATENCY_BOUND_MS:
                break
        engine.dispose()
    within = [
        f for f in levels if f["final"] == f["accepted"] and f["final_ms_p99"] <= LATENCY_BOUND_MS and not f["rejected"]
    ]
    return {
        "one_at_a_time_ms_p50": percentile(single, 0.50),
        "one_at_a_time_ms_max": max(single),
        "idle_cores": idle,
        "levels": levels,
        "sustained_per_second": max((f["offered_per_second"] for f in within), default=0.0),
    }


def print_level(mode: str, f: dict) -> None:
    print(
        f"{mode}: offered {f['offered_per_second']:.0f}/s (sent {f['sent_per_second']:.1f}/s, "
        f"late p99 {f['send_late_ms_p99']:.0f} ms): {f['accepted']} accepted, {f['final']} final "
        f"{dict(f['statuses'])}, rejected {dict(f['rejected'])}",
        flush=True,
    )
    print(
        f"  accept p50/p99 {f['accept_ms_p50']:.0f}/{f['accept_ms_p99']:.0f} ms; "
        f"accept→final p50/p99 {f['final_ms_p50']:.0f}/{f['final_ms_p99']:.0f} ms",
        flush=True,
    )
    cpu = f["cpu_ms_per_payment"]
    total = sum(v for k, v in cpu.items() if k != "load generator")
    print(
        f"  CPU ms per payment: total {total:.1f} (platform) + {cpu['load generator']:.1f} "
        f"(load generator): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])),
        flush=True,
    )
    calls = f["aws_requests_per_payment"]
    print(
        f"  AWS requests per payment: {sum(calls.values()):.2f} ("
        + ", ".join(f"{k} {v:.2f}" for k, v in calls.items())
        + f"); bus events "
        f"{f['bus_events_per_payment']:.2f}, SQS messages {f['sqs_messages_per_payment']:.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["services", "embedded"])
    parser.add_argument("--rates", nargs="+", type=float, default=list(RATES_DEFAULT))
    parser.add_argument("--seconds", type=float, default=LEVEL_SECONDS_DEFAULT)
    parser.add_argument("--users", type=int, default=USERS_DEFAULT)
    parser.add_argument(
        "--no-ceiling",
        action="store_true",
        help="services mode: skip the endpoint's ceiling (bench/endpoint_ceiling.py)",
    )
    args = parser.parse_args()
    for mode in args.modes:
        result = run(mode, args.rates, args.seconds, args.users)
        print(
            f"{mode}: one payment at a time, accept→final p50 {result['one_at_a_time_ms_p50']:.0f} ms "
            f"(max {result['one_at_a_time_ms_max']:.0f})"
        )
        idle = result["idle_cores"]
        print(
            f"{mode}: idle burn {sum(idle.values()):.3f} cores: "
            + ", ".join(f"{k} {v:.3f}" for k, v in sorted(idle.items(), key=lambda kv: -kv[1]))
        )
        print(
            f"{mode}: sustained {result['sustained_per_second']:.0f} payments/s with every payment "
            f"final and p99 ≤ {LATENCY_BOUND_MS} ms",
            flush=True,
        )
        if mode == "services" and not args.no_ceiling:
            # The same traffic against the endpoints alone, in the same run (bench/endpoint_ceiling.py).
            ceiling = endpoint_ceiling.run(args.rates, args.seconds)["ceiling_per_second"]
            print(
                f"{mode}: endpoint ceiling for the same traffic {ceiling:.0f} payments/s; sustained / "
                f"ceiling = {result['sustained_per_second'] / max(ceiling, 1):.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
