"""What each function step of a payment costs, one function at a time, with the saga's traffic.

In one process, against a throwaway PostgreSQL database and the AWS APIs mocked in-process
(moto), it signs up and funds `--users` users, then drives `--payments` payments step by step
through each function's real functions-framework binding: `payments` (POST /v1/payments, with
an Idempotency-Key, as clients send it), then `score-fraud`, `debit-wallet`, `settle` and
`notify`, each fed binary-mode CloudEvents built from the events the previous step stored.
Only a step's own calls are inside its timed region; the events are read and encoded before.

Per step it reports, per call:

- client CPU-ms (time.process_time over the calls: this process, every thread) and wall ms;
- PostgreSQL CPU-ms: user + system time of the database's server backends (/proc/<pid>/stat);
- statements and round trips, counted over `--counted` further payments driven the same way
  outside the timed passes: statements as the server runs them (simple queries, BEGIN and
  COMMIT included, and extended-protocol executions), round trips as pg8000's flushes of its
  socket (each one waits for an answer).

What is left out, and what is in:

- The background publisher (`shared/adapters/background_publisher.py`) is replaced by one that
  sends nothing: its PutEvents and outbox deletes are not counted in any step. Each step's
  outbox rows stay in the table.
- `notify`'s SNS publishes go to moto in this process, so its CPU figure includes moto's side of
  them; the share of `Notifier.publish` (boto3 and moto) is printed beside it.
- The velocity count of `score-fraud` goes to the Redis server at `--redis` (its client side is
  in the figure).

Baselines, measured in the same run: a transaction of one `SELECT 1` through the same engine,
and a redelivered `payment.requested` posted to `score-fraud` (the binding, the envelope and
the claim that finds it already handled).

    .venv/bin/python bench/function_costs.py [--payments 500] [--users 50] [--counted 20]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import pg8000.core
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from throwaway import bench_server, throwaway_databases, url_of

from tests.fixtures.mail import verify_email_over_http

PAYMENTS_DEFAULT = 500
USERS_DEFAULT = 50
COUNTED_DEFAULT = 20
BASELINE_CALLS = 500
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
OPENING_BALANCE_MINOR = 1_000_000
PAYMENT_AMOUNT_MINOR = 250
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")

# Each CloudEvent step and the event type it consumes from the step before it.
EVENT_STEPS = (
    ("score-fraud", "payment.requested"),
    ("debit-wallet", "payment.approved"),
    ("settle", "payment.debited"),
    ("notify", "payment.completed"),
)
STEPS = ("payments", *(step for step, _ in EVENT_STEPS))


@dataclass
class Cost:
    calls: int
    cpu_s: float
    wall_s: float
    postgres_s: float

    def per_call_ms(self) -> tuple[float, float, float]:
        cpu_ms, wall_ms, postgres_ms = (
            value * 1000 / self.calls for value in (self.cpu_s, self.wall_s, self.postgres_s)
        )
        return cpu_ms, wall_ms, postgres_ms


class _SilentPublisher:
    """Stands in for the background publisher: accepts committed event ids, sends nothing."""

    def submit(self, event_ids) -> None:
        pass


class PostgresBackends:
    """CPU time of the server processes serving one database (every session but our own)."""

    def __init__(self, url: str) -> None:
        self._engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def seconds(self) -> dict[int, float]:
        pids: Sequence[int] = (
            self._conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            .scalars()
            .all()
        )
        used = {}
        for pid in pids:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_SECOND
        return used

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()


def measure(backends: PostgresBackends, calls: list[Callable[[], None]]) -> Cost:
    before = backends.seconds()
    cpu, wall = time.process_time(), time.perf_counter()
    for call in calls:
        call()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = backends.seconds()
    postgres = sum(used - before.get(pid, 0.0) for pid, used in after.items())
    return Cost(len(calls), cpu, wall, postgres)


@contextlib.contextmanager
def counting() -> Iterator[dict[str, int]]:
    """Statements the server runs and round trips to it, on every pg8000 connection, while inside.

    A statement is a simple query (BEGIN, COMMIT and ROLLBACK included) or an extended-protocol
    Execute; a round trip is a flush of pg8000's socket, each of which waits for an answer.
    """
    counts = {"statements": 0, "round_trips": 0}
    connection_class = pg8000.core.CoreConnection
    real = {name: getattr(connection_class, name) for name in ("send_QUERY", "send_EXECUTE")}
    real_flush = pg8000.core._flush

    def counted(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            counts["statements"] += 1
            return method(*args, **kwargs)

        return call

    def flush(sock: Any) -> None:
        counts["round_trips"] += 1
        real_flush(sock)

    for name, method in real.items():
        setattr(connection_class, name, counted(method))
    pg8000.core._flush = flush
    try:
        yield counts
    finally:
        pg8000.core._flush = real_flush
        for name, method in real.items():
            setattr(connection_class, name, method)


class Saga:
    """The functions' bindings and the users who pay each other."""

    def __init__(self, users: int) -> None:
        from shared.functions import load_app

        self.clients = {name: load_app(name).test_client() for name in ("users", "accounts", "wallets", *STEPS)}
        self.users = [self._funded_user(index) for index in range(users)]

    def _funded_user(self, index: int) -> dict[str, Any]:
        email = f"bench-{index}-{uuid.uuid4().hex[:8]}@example.com"
        password = f"pw-{uuid.uuid4().hex}"
        signed_up = self.clients["users"].post(
            "/v1/users",
            json={"email": email, "password": password, "full_name": f"Bench User {index}", "country": "US"},
        )
        assert signed_up.status_code == 201, signed_up.get_data(as_text=True)
        token = self.clients["users"].post(
            "/v1/oauth/token", data={"grant_type": "password", "username": email, "password": password}
        )
        assert token.status_code == 200, token.get_data(as_text=True)
        auth = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
        # Verified as a user would, with the e-mailed code: unverified, they would send 100 USD at most.
        verify_email_over_http(self.clients["users"], os.environ["PAYSTREAM_MAIL_OUTBOX_FILE"], email, auth)
        card = self.clients["accounts"].post(
            "/v1/funding-sources",
            headers=auth,
            json={"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
        )
        assert card.status_code == 201, card.get_data(as_text=True)
        topped = self.clients["wallets"].post(
            "/v1/topups",
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
            json={"funding_source_id": card.get_json()["id"], "amount": OPENING_BALANCE_MINOR, "currency": "USD"},
        )
        assert topped.status_code in (200, 201, 202), topped.get_data(as_text=True)
        return {"id": signed_up.get_json()["id"], "auth": auth}

    def payment_calls(self, count: int, offset: int) -> list[Callable[[], None]]:
        def pay(index: int) -> Callable[[], None]:
            payer = self.users[index % len(self.users)]
            payee = self.users[(index + 1) % len(self.users)]
            body = {"to": payee["id"], "amount": PAYMENT_AMOUNT_MINOR, "currency": "USD", "note": f"bench {index}"}
            headers = {**payer["auth"], "Idempotency-Key": str(uuid.uuid4())}

            def call() -> None:
                answer = self.clients["payments"].post("/v1/payments", json=body, headers=headers)
                assert answer.status_code == 202, answer.get_data(as_text=True)

            return call

        return [pay(offset + index) for index in range(count)]

    def event_calls(
        self, engine: sa.Engine, step: str, event_type: str, payment_ids: list[str]
    ) -> list[Callable[[], None]]:
        from shared.adapters.outbox import cloud_event_of
        from shared.adapters.tables import events
        from shared.runner.deliverer import to_binary_http

        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(events).where(events.c.type == event_type, events.c.subject.in_(payment_ids))
            ).all()
        order = {payment_id: index for index, payment_id in enumerate(payment_ids)}
        rows = sorted(rows, key=lambda row: order[row.subject])
        if len(rows) != len(payment_ids):
            raise RuntimeError(f"{len(payment_ids)} payments but {len(rows)} {event_type} events")
        client = self.clients[step]

        def deliver(headers: dict[str, str], body: bytes) -> Callable[[], None]:
            def call() -> None:
                answer = client.post("/", headers=headers, data=body)
                assert answer.status_code < 300, (step, answer.status_code, answer.get_data(as_text=True))

            return call

        return [deliver(*to_binary_http(cloud_event_of(row))) for row in rows]


def new_payment_ids(engine: sa.Engine, known: set[str]) -> list[str]:
    from shared.adapters.tables import payments

    with engine.connect() as conn:
        rows: Sequence[str] = (
            conn.execute(sa.select(payments.c.id).order_by(payments.c.created_at, payments.c.id)).scalars().all()
        )
    fresh = [payment_id for payment_id in rows if payment_id not in known]
    known.update(fresh)
    return fresh


def run_saga(
    saga: Saga,
    engine: sa.Engine,
    backends: PostgresBackends,
    count: int,
    offset: int,
    known: set[str],
    notify_seconds: list[float],
) -> dict[str, Cost]:
    costs = {"payments": measure(backends, saga.payment_calls(count, offset))}
    payment_ids = new_payment_ids(engine, known)
    for step, event_type in EVENT_STEPS:
        calls = saga.event_calls(engine, step, event_type, payment_ids)
        notify_seconds[0] = 0.0
        costs[step] = measure(backends, calls)
        if step == "notify":
            costs["notify: Notifier.publish"] = Cost(len(calls), notify_seconds[0], 0.0, 0.0)
    return costs


def count_saga(saga: Saga, engine: sa.Engine, count: int, offset: int, known: set[str]) -> dict[str, dict[str, float]]:
    counted: dict[str, dict[str, float]] = {}
    with counting() as counts:
        for call in saga.payment_calls(count, offset):
            call()
        counted["payments"] = {key: value / count for key, value in counts.items()}
    payment_ids = new_payment_ids(engine, known)
    for step, event_type in EVENT_STEPS:
        calls = saga.event_calls(engine, step, event_type, payment_ids)
        with counting() as counts:
            for call in calls:
                call()
        counted[step] = {key: value / len(calls) for key, value in counts.items()}
    return counted


def baselines(saga: Saga, engine: sa.Engine, backends: PostgresBackends, known: set[str]) -> dict[str, Cost]:
    def select_one() -> None:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT 1"))

    redelivered = saga.event_calls(engine, "score-fraud", "payment.requested", sorted(known)[:1]) * BASELINE_CALLS
    return {
        "SELECT 1 transaction": measure(backends, [select_one] * BASELINE_CALLS),
        "redelivered event (score-fraud)": measure(backends, redelivered),
    }


def configure_environment(database_url: str, redis_url: str) -> None:
    from shared.rate_limits import harness_environment
    from shared.runner.local import EMBEDDED_AWS_ENVIRONMENT, ensure_mail_outbox, ensure_signing_keys

    for name in ("PAYSTREAM_SIGNING_KEYS_FILE", "PAYSTREAM_VERIFICATION_KEYS_FILE", "PAYSTREAM_MAIL_OUTBOX_FILE"):
        os.environ.pop(name, None)
    # The token keys, made as the local runners make them: every function in this process; and
    # the mail outbox, where the bench's users read their verification codes.
    home = Path(tempfile.mkdtemp(prefix="paystream-bench-keys-"))
    ensure_signing_keys(home)
    ensure_mail_outbox(home)

    os.environ.update(
        {
            "PAYSTREAM_DATABASE_URL": database_url,
            "PAYSTREAM_REDIS_URL": redis_url,
            "PAYSTREAM_SECRET_KEY": secrets.token_urlsafe(48),
            "PAYSTREAM_LOG_LEVEL": os.environ.get("PAYSTREAM_LOG_LEVEL", "INFO"),
            # A few dozen users paying hundreds of times would rightly be rate limited too.
            **harness_environment(),
            # A few dozen users paying each other hundreds of times would rightly be held.
            "PAYSTREAM_FRAUD_VELOCITY_REVIEW_ABOVE": "1000000",
            "PAYSTREAM_FRAUD_VELOCITY_DECLINE_ABOVE": "1000000",
            # The longest an access token may live: the bench's requests fit in it.
            "PAYSTREAM_ACCESS_TOKEN_TTL_SECONDS": "900",
            **EMBEDDED_AWS_ENVIRONMENT,
        }
    )
    os.environ.pop("PAYSTREAM_AWS_ENDPOINT_URL", None)


def print_table(costs: dict[str, Cost], counted: dict[str, dict[str, float]]) -> None:
    print(f"{'step':34} {'client CPU-ms':>13} {'wall ms':>8} {'PG CPU-ms':>9} {'statements':>10} {'round trips':>11}")
    for name, cost in costs.items():
        cpu, wall, postgres = cost.per_call_ms()
        counts = counted.get(name)
        statements = f"{counts['statements']:.1f}" if counts else ""
        round_trips = f"{counts['round_trips']:.1f}" if counts else ""
        wall_text = f"{wall:.2f}" if cost.wall_s else ""
        postgres_text = f"{postgres:.2f}" if cost.wall_s else ""
        print(f"{name:34} {cpu:13.2f} {wall_text:>8} {postgres_text:>9} {statements:>10} {round_trips:>11}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=PAYMENTS_DEFAULT)
    parser.add_argument("--users", type=int, default=USERS_DEFAULT)
    parser.add_argument("--counted", type=int, default=COUNTED_DEFAULT)
    parser.add_argument("--redis", default=REDIS_DEFAULT)
    args = parser.parse_args()

    server = bench_server()
    with throwaway_databases(server, "paystream_costs") as (database,):
        configure_environment(url_of(server, database), args.redis)
        from moto import mock_aws

        from shared import bootstrap
        from shared.adapters.background_publisher import BackgroundPublisher
        from shared.adapters.database import migrate
        from shared.provision import provision
        from shared.runner import moto_endpoint

        moto_endpoint.install()
        with mock_aws():
            bootstrap.reset_platform()
            runtime = bootstrap.platform()
            migrate(runtime.engine)
            provision(endpoint_url=None, region=runtime.settings.aws_region)
            # The publisher is someone else's work and sends after commit: left out of every step.
            bootstrap._platform = replace(runtime, outbox_publisher=cast(BackgroundPublisher, _SilentPublisher()))
            runtime = bootstrap.platform()
            notify_seconds = [0.0]
            publish = runtime.notifier.publish

            def timed_publish(*a: Any, **k: Any) -> Any:
                started = time.thread_time()
                try:
                    return publish(*a, **k)
                finally:
                    notify_seconds[0] += time.thread_time() - started

            runtime.notifier.publish = timed_publish  # type: ignore[method-assign]

            saga = Saga(args.users)
            backends = PostgresBackends(url_of(server, database))
            known = set(new_payment_ids(runtime.engine, set()))
            # A short warm-up: first compilations, first prepared statements, pools filled.
            run_saga(saga, runtime.engine, backends, 20, 0, known, notify_seconds)
            costs = run_saga(saga, runtime.engine, backends, args.payments, 20, known, notify_seconds)
            counted = count_saga(saga, runtime.engine, args.counted, 20 + args.payments, known)
            base = baselines(saga, runtime.engine, backends, known)
            backends.close()
            bootstrap.reset_platform()

    print(
        f"{args.payments} payments, {args.users} users; per call (statements and round trips over "
        f"{args.counted} more payments); background publisher excluded"
    )
    print_table({**costs, **base}, counted)
    total_cpu = sum(costs[step].per_call_ms()[0] for step in STEPS)
    total_postgres = sum(costs[step].per_call_ms()[2] for step in STEPS)
    select_cpu, _, select_postgres = base["SELECT 1 transaction"].per_call_ms()
    print(f"\nper payment, the five steps: client {total_cpu:.2f} CPU-ms, PostgreSQL {total_postgres:.2f} CPU-ms")
    print(
        f"ratio to a SELECT 1 transaction: client {total_cpu / select_cpu:.1f}x, "
        f"PostgreSQL {total_postgres / max(select_postgres, 1e-9):.1f}x"
    )


if __name__ == "__main__":
    main()
