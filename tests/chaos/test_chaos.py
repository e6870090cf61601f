"""Payments keep their books right while functions die, connections drop, the AWS endpoint goes
away and events arrive twice and out of order (tests/chaos/harness.py).

PAYSTREAM_CHAOS_SECONDS of traffic, PAYSTREAM_CHAOS_USERS users, PAYSTREAM_CHAOS_WORKERS
concurrent clients offering PAYSTREAM_CHAOS_RATE payments a second together,
PAYSTREAM_CHAOS_SEED for the random choices. The short form runs with the suite (`make test`,
CI) on the defaults below: 10 s, 4 users, 2 clients, 3 a second. `make chaos` runs the long
form with the Makefile's CHAOS_* values: 300 s, 12 users, 4 clients, 3 a second.
Most of the short form's time is starting the services mode (a process per function).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import ChaosRun, EndpointSwitch
from tests.e2e.conftest import _base_env, _free_port_range, _start, _stop
from tests.throwaway import LocalStackServer, MotoServer

CHAOS_SECONDS = float(os.environ.get("PAYSTREAM_CHAOS_SECONDS", "10"))
CHAOS_USERS = int(os.environ.get("PAYSTREAM_CHAOS_USERS", "4"))
CHAOS_WORKERS = int(os.environ.get("PAYSTREAM_CHAOS_WORKERS", "2"))
CHAOS_RATE = float(os.environ.get("PAYSTREAM_CHAOS_RATE", "3"))
CHAOS_SEED = int(os.environ.get("PAYSTREAM_CHAOS_SEED", str(secrets.randbelow(10**6))))
# Every payment must be final, and every event audited, this long after the traffic stops.
SETTLE_SECONDS_MAX = 240 + 2 * CHAOS_SECONDS
# The relay publishes what an outage left in the outbox once it is this old (30 s by default:
# shorter here so that a short run need not wait for it, longer than the publisher's lag).
RELAY_AGE_SECONDS = 15
# Starting the services mode, signing up and funding the users, checking the books.
RUN_OVERHEAD_SECONDS_MAX = 600
FUNCTION_COUNT_MAX = 32

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.e2e,
    pytest.mark.timeout(RUN_OVERHEAD_SECONDS_MAX + 3 * CHAOS_SECONDS + 240),
]


@pytest.fixture
def chaos_platform(tmp_path: Path, empty_postgres_url: str) -> Iterator[ChaosRun]:
    # The services mode's endpoints, as it runs them: LocalStack, and moto for DynamoDB; each
    # behind a switch that an AWS outage turns off.
    localstack = LocalStackServer(tmp_path / "localstack")
    localstack.start()
    moto = MotoServer(tmp_path / "moto_server.log")
    moto.start()
    switches = (EndpointSwitch(localstack.port), EndpointSwitch(moto.port))
    for switch in switches:
        switch.up()
    base_port = _free_port_range(FUNCTION_COUNT_MAX)
    env = _base_env()
    env.update(
        {
            "PAYSTREAM_DATABASE_URL": empty_postgres_url,
            "PAYSTREAM_REDIS_URL": os.environ.get("PAYSTREAM_TEST_REDIS", "redis://127.0.0.1:6379/0"),
            "PAYSTREAM_AWS_ENDPOINT_URL": switches[0].url,
            "PAYSTREAM_DYNAMODB_ENDPOINT_URL": switches[1].url,
            "PAYSTREAM_OUTBOX_RELAY_AGE_SECONDS": str(RELAY_AGE_SECONDS),
            # Random payments between a few users are fast by design: keep fraud review out of it,
            # so that every payment can reach a final state without an operator.
            "PAYSTREAM_FRAUD_VELOCITY_REVIEW_ABOVE": "1000000",
            "PAYSTREAM_FRAUD_VELOCITY_DECLINE_ABOVE": "2000000",
        }
    )
    home = tmp_path / "home"
    home.mkdir()
    url, process = _start(["--services", "--functions-base-port", str(base_port)], env, home)
    run = ChaosRun(
        gateway_url=url,
        database_url=empty_postgres_url,
        aws_url=localstack.url,
        dynamodb_url=moto.url,
        switches=switches,
        home=home,
        functions_base_port=base_port,
        seed=CHAOS_SEED,
    )
    try:
        yield run
    finally:
        _stop(process, home)
        for switch in switches:
            switch.down()
        moto.stop()
        localstack.stop()
        run.engine.dispose()


def test_every_payment_ends_final_and_the_books_balance_through_faults(
    chaos_platform: ChaosRun,
) -> None:
    run = chaos_platform
    # GIVEN funded users
    run.sign_up_and_fund(CHAOS_USERS)

    # WHEN they pay each other at random while faults are injected
    run.run(seconds=CHAOS_SECONDS, workers=CHAOS_WORKERS, payments_per_second=CHAOS_RATE)
    run.wait_until_settled(SETTLE_SECONDS_MAX)

    # THEN every payment is final, the ledger balances and every event was applied once
    problems = run.check()
    report = "\n".join([f"seed {CHAOS_SEED}", *run.figures.lines(), *problems])
    print("\n" + report)
    assert not problems, report
    # AND the run did what it says: payments flowed and every kind of fault happened
    assert run.figures.payments_accepted > 0
    assert all(count > 0 for count in run.figures.faults.values()), report
    assert run.figures.duplicates_delivered > 0, report
