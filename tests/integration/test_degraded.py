"""Degraded dependencies, each with its policy (docs/architecture.md, "When a dependency is
down"), against servers the test owns.

- The AWS endpoint is down: requests are still accepted, their events wait in the outbox, and
  the relay publishes every one of them once the endpoint is back.
- PostgreSQL restarts: client requests answer 503 (`api_error`, `Retry-After`), never 500;
  an event delivered meanwhile is answered 500, delivered again, and applied once.

Both servers are stopped on purpose, so both are this test's own: a moto server subprocess and a
PostgreSQL cluster created with initdb in a temporary folder (tests/throwaway.py).
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from shared.adapters.aws import aws_client, cloud_event_from_envelope
from shared.adapters.database import migrate
from shared.adapters.outbox import cloud_event_of
from shared.adapters.tables import events, outbox, processed_events
from shared.bootstrap import Platform, platform, reset_platform
from shared.functions import load_app
from shared.provision import provision
from shared.runner.deliverer import Deliverer, WsgiTransport, ping_cloud_event, to_binary_http
from tests.fixtures.keys import use_personal_data_keys, use_token_keys
from tests.functions.test_http_functions import _sign_up, _token
from tests.integration.test_event_path import drain
from tests.throwaway import MotoServer, ThrowawayPostgres

pytestmark = pytest.mark.integration

PAYMENTS_DURING_OUTAGE = 5
WAIT_SECONDS_MAX = 30
DELIVERY_PASSES_MAX = 20
_POLL_INTERVAL_SECONDS = 0.1
SCORE_RESULTS = ("payment.approved", "payment.held", "payment.declined")


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(_POLL_INTERVAL_SECONDS)
    raise AssertionError(f"timed out waiting until {what}")


def use_platform(monkeypatch: pytest.MonkeyPatch, database_url: str, aws_endpoint: str) -> Platform:
    monkeypatch.setenv("PAYSTREAM_DATABASE_URL", database_url)
    monkeypatch.setenv("PAYSTREAM_REDIS_URL", "memory://")
    monkeypatch.setenv("PAYSTREAM_AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("PAYSTREAM_SECRET_KEY", secrets.token_urlsafe(48))
    use_token_keys(monkeypatch, Path(tempfile.mkdtemp(prefix="paystream-keys-")))
    use_personal_data_keys(monkeypatch, Path(tempfile.mkdtemp(prefix="paystream-keys-")))
    reset_platform()
    runtime = platform()
    migrate(runtime.engine)
    return runtime


def outbox_rows(runtime: Platform) -> Sequence[Any]:
    with runtime.engine.connect() as conn:
        return conn.execute(sa.select(outbox)).all()


def pay(payments: Any, auth: dict[str, str], payee_id: str, key: str) -> Any:
    return payments.post(
        "/v1/payments",
        headers={**auth, "Idempotency-Key": key},
        json={"to": payee_id, "amount": 100, "currency": "GBP", "note": key},
    )


@pytest.fixture
def own_moto(tmp_path: Path) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path / "moto_server.log")
    server.start()
    provision(endpoint_url=server.url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    # Not pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    server = ThrowawayPostgres(Path(tempfile.mkdtemp(prefix="paystream-pg-")))
    server.initialise()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(autouse=True)
def _fresh_platform_afterwards() -> Iterator[None]:
    yield
    reset_platform()


def test_while_the_aws_endpoint_is_down_payments_are_accepted_and_their_events_wait_in_the_outbox(
    own_moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two users, signed up while everything was up
    runtime = use_platform(monkeypatch, f"sqlite:///{tmp_path / 'paystream.db'}", own_moto.url)
    users, payments = load_app("users").test_client(), load_app("payments").test_client()
    _sign_up(users, "ann@example.com")
    bob = _sign_up(users, "bob@example.com")
    auth = _token(users, "ann@example.com")
    wait_until(lambda: not outbox_rows(runtime), "the sign-up events are published")

    # WHEN the AWS endpoint stops and payments are made
    own_moto.stop()
    answers = [pay(payments, auth, bob["id"], f"outage-{n}") for n in range(PAYMENTS_DURING_OUTAGE)]

    # THEN every payment is accepted
    assert [answer.status_code for answer in answers] == [202] * PAYMENTS_DURING_OUTAGE
    # AND the background publisher tried, failed, and left every event in the outbox
    wait_until(
        lambda: len(outbox_rows(runtime)) == PAYMENTS_DURING_OUTAGE
        and all(row.attempts >= 1 for row in outbox_rows(runtime)),
        "the publisher has failed on every event",
    )
    waiting = {row.event_id for row in outbox_rows(runtime)}

    # WHEN the endpoint is back (empty: moto keeps nothing) and the relay runs
    own_moto.start()
    topology = provision(endpoint_url=own_moto.url)
    monkeypatch.setenv("PAYSTREAM_OUTBOX_RELAY_AGE_SECONDS", "0")
    reset_platform()
    headers, body = to_binary_http(ping_cloud_event("relay-outbox"))
    relayed = load_app("relay-outbox").test_client().post("/", headers=headers, data=body)

    # THEN the outbox is empty and every event reached its consumers exactly once
    assert relayed.status_code == 200, relayed.get_data(as_text=True)
    assert outbox_rows(runtime) == []
    for consumer in ("score-fraud", "audit"):
        delivered = [
            cloud_event_from_envelope(m["Body"])["id"]
            for m in drain(aws_client("sqs", endpoint_url=own_moto.url), topology.queue_url(consumer))
        ]
        assert sorted(delivered) == sorted(waiting), consumer


def test_while_postgresql_restarts_requests_answer_503_and_events_are_applied_once_after(
    own_postgres: ThrowawayPostgres, fresh_moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a payment requested and published while the database was up
    topology = provision(endpoint_url=fresh_moto)
    runtime = use_platform(monkeypatch, own_postgres.create_database("paystream"), fresh_moto)
    users, payments = load_app("users").test_client(), load_app("payments").test_client()
    _sign_up(users, "cy@example.com")
    dee = _sign_up(users, "dee@example.com")
    auth = _token(users, "cy@example.com")
    payment = pay(payments, auth, dee["id"], "before").get_json()
    wait_until(lambda: not outbox_rows(runtime), "the payment's event is published")
    deliverer = Deliverer(
        aws_client("sqs", endpoint_url=fresh_moto),
        topology,
        WsgiTransport({"score-fraud": load_app("score-fraud")}),
        consumers=["score-fraud"],
        wait_seconds=0,
        retry_backoff_base_seconds=0,
    )

    # WHEN PostgreSQL stops
    own_postgres.stop()

    # THEN client requests answer 503 in the error contract, with Retry-After, never 500
    for answer in (
        pay(payments, auth, dee["id"], "during"),
        payments.get(f"/v1/payments/{payment['id']}", headers=auth),
        users.post(
            "/v1/users",
            json={
                "email": "eve@example.com",
                "full_name": "Eve",
                "password": "a long enough password",
                "country": "GB",
            },
        ),
    ):
        assert answer.status_code == 503, answer.get_data(as_text=True)
        assert answer.get_json()["error"]["type"] == "api_error"
        assert answer.get_json()["error"]["code"] == "service_unavailable"
        assert int(answer.headers["Retry-After"]) > 0
    # AND the event delivered meanwhile is answered 5xx and stays on the queue for a retry
    during = deliverer.run_once("score-fraud")
    assert (during.received, during.retried, during.delivered) == (1, 1, 0)

    # WHEN PostgreSQL is back
    own_postgres.start()

    # THEN the event is delivered again and applied
    for _ in range(DELIVERY_PASSES_MAX):
        if deliverer.stats().delivered:
            break
        deliverer.run_once("score-fraud")
    assert deliverer.stats().delivered == 1

    # WHEN the same event is delivered once more (a duplicate from the bus)
    with runtime.engine.connect() as conn:
        requested = conn.execute(
            sa.select(events).where(events.c.subject == payment["id"], events.c.type == "payment.requested")
        ).one()
    runtime.publisher.publish([cloud_event_of(requested)])
    for _ in range(DELIVERY_PASSES_MAX):
        if deliverer.stats().delivered == 2:
            break
        deliverer.run_once("score-fraud")

    # THEN it was handled once: one claim, one fraud decision
    assert deliverer.stats().delivered == 2
    with runtime.engine.connect() as conn:
        claims = conn.execute(
            sa.select(sa.func.count()).where(
                processed_events.c.consumer == "score-fraud",
                processed_events.c.event_id == requested.id,
            )
        ).scalar_one()
        decisions = conn.execute(
            sa.select(sa.func.count()).where(events.c.subject == payment["id"], events.c.type.in_(SCORE_RESULTS))
        ).scalar_one()
    assert (claims, decisions) == (1, 1)
    # AND client requests are served again
    assert pay(payments, auth, dee["id"], "after").status_code == 202
