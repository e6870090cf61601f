"""Idempotency-Key on PostgreSQL, as Stripe defines it: concurrent requests with one key execute
once, a replay within the retention returns the first response, and the key is pruned after it."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from schemas.api import PaymentRequest
from shared.adapters.database import create_engine
from shared.adapters.tables import events, idempotency_keys, payments
from shared.services.context import EventContext
from shared.services.idempotency import (
    RETENTION_SECONDS,
    purge_expired,
    request_fingerprint,
    run_once,
)
from shared.services.payments import create_payment
from tests.fixtures.users import insert_user

pytestmark = pytest.mark.integration

CONCURRENT_PROCESSES = 8
TIMEOUT_SECONDS = 120
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BODY = {"to": "", "amount": 1_500, "currency": "USD", "note": "once"}


def _two_users(url: str) -> tuple[str, str]:
    run = uuid.uuid4().hex[:8]
    ids = (f"usr_payer{run}", f"usr_payee{run}")
    engine = create_engine(url)
    with engine.begin() as conn:
        for user_id in ids:
            insert_user(conn, user_id, now=NOW)
    engine.dispose()
    return ids


def _pay(engine, payer: str, payee: str, key: str, now: datetime) -> tuple[int, dict]:
    def execute(conn):
        payment, event_ids = create_payment(
            conn,
            payer_id=payer,
            request=PaymentRequest(**{**BODY, "to": payee}),
            context=EventContext(producer="payments", now=now, correlation_id=None),
        )
        return 202, {"id": payment.id}, event_ids

    status, body, _ = run_once(
        engine,
        user_id=payer,
        key=key,
        fingerprint=request_fingerprint("POST", "/v1/payments", BODY),
        now=now,
        execute=execute,
    )
    return status, body


def _pay_in_a_process(url, payer, payee, key, barrier, results) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        barrier.wait(timeout=TIMEOUT_SECONDS)
        results.put(("ok", _pay(engine, payer, payee, key, NOW)))
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        results.put(("error", repr(error)))
    finally:
        engine.dispose()


def _payments_of(url: str, payer: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found: list[str] = list(conn.execute(sa.select(payments.c.id).where(payments.c.payer_id == payer)).scalars())
        requested = conn.execute(
            sa.select(sa.func.count())
            .select_from(events)
            .where(events.c.type == "payment.requested", events.c.subject.in_(found))
        ).scalar_one()
    engine.dispose()
    assert requested == len(found)
    return found


def test_concurrent_requests_with_one_key_execute_once(migrated_postgres_url):
    # GIVEN eight processes about to send the same payment with the same key
    payer, payee = _two_users(migrated_postgres_url)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(CONCURRENT_PROCESSES), context.Queue()
    processes = [
        context.Process(
            target=_pay_in_a_process, args=(migrated_postgres_url, payer, payee, "same-key", barrier, results)
        )
        for _ in range(CONCURRENT_PROCESSES)
    ]
    # WHEN they all send it at once
    for process in processes:
        process.start()
    answers = [results.get(timeout=TIMEOUT_SECONDS) for _ in processes]
    for process in processes:
        process.join(timeout=TIMEOUT_SECONDS)
    # THEN every one got the same answer, and one payment with one event exists
    assert [kind for kind, _ in answers] == ["ok"] * CONCURRENT_PROCESSES, answers
    assert len({str(answer) for _, answer in answers}) == 1
    assert _payments_of(migrated_postgres_url, payer) == [answers[0][1][1]["id"]]


def test_a_key_replays_for_its_retention_and_is_a_new_request_after(migrated_postgres_url):
    payer, payee = _two_users(migrated_postgres_url)
    engine = create_engine(migrated_postgres_url)
    try:
        retention = timedelta(seconds=RETENTION_SECONDS)
        first = _pay(engine, payer, payee, "k", NOW)
        # Within the retention: the first response again, nothing new
        assert _pay(engine, payer, payee, "k", NOW + retention - timedelta(seconds=1)) == first
        assert len(_payments_of(migrated_postgres_url, payer)) == 1
        # After it: the key was pruned (lazily here), so the request runs anew
        later = _pay(engine, payer, payee, "k", NOW + retention)
        assert later[0] == 202 and later[1]["id"] != first[1]["id"]
        assert len(_payments_of(migrated_postgres_url, payer)) == 2
    finally:
        engine.dispose()


def test_the_purge_deletes_only_keys_past_their_retention(migrated_postgres_url):
    payer, payee = _two_users(migrated_postgres_url)
    engine = create_engine(migrated_postgres_url)
    try:
        for age_hours, key in ((30, "old-1"), (25, "old-2"), (23, "young")):
            _pay(engine, payer, payee, key, NOW - timedelta(hours=age_hours))
        with engine.begin() as conn:
            assert purge_expired(conn, now=NOW, limit=1) == 1  # bounded per run, oldest first
            assert purge_expired(conn, now=NOW, limit=10) == 1
            kept: Sequence[str] = (
                conn.execute(sa.select(idempotency_keys.c.key).where(idempotency_keys.c.user_id == payer))
                .scalars()
                .all()
            )
        assert kept == ["young"]
    finally:
        engine.dispose()
