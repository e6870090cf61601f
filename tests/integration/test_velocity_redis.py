"""The payer's velocity counter against the machine's Redis."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis

from shared.services.velocity import count_payments_in_window

pytestmark = pytest.mark.integration

WINDOW_SECONDS = 3600


@pytest.fixture
def cache() -> redis.Redis:
    client = redis.Redis.from_url(
        os.environ.get("PAYSTREAM_TEST_REDIS", "redis://127.0.0.1:6379/0"), socket_connect_timeout=2
    )
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis is unreachable ({error}); start it or set PAYSTREAM_TEST_REDIS", pytrace=False)
    return client


def test_a_redelivered_payment_is_not_counted_twice(cache):
    payer, now = f"usr_{uuid.uuid4().hex}", datetime.now(UTC)
    first = count_payments_in_window(cache, payer_id=payer, payment_id="pay_1", now=now, window_seconds=WINDOW_SECONDS)
    again = count_payments_in_window(cache, payer_id=payer, payment_id="pay_1", now=now, window_seconds=WINDOW_SECONDS)
    second = count_payments_in_window(cache, payer_id=payer, payment_id="pay_2", now=now, window_seconds=WINDOW_SECONDS)
    assert (first, again, second) == (1, 1, 2)


def test_payments_older_than_the_window_no_longer_count(cache):
    payer, now = f"usr_{uuid.uuid4().hex}", datetime.now(UTC)
    count_payments_in_window(
        cache,
        payer_id=payer,
        payment_id="pay_old",
        now=now - timedelta(seconds=WINDOW_SECONDS + 1),
        window_seconds=WINDOW_SECONDS,
    )
    assert (
        count_payments_in_window(cache, payer_id=payer, payment_id="pay_new", now=now, window_seconds=WINDOW_SECONDS)
        == 1
    )
    assert 0 < cache.ttl(f"paystream:velocity:{payer}") <= WINDOW_SECONDS
