"""The payer's payment velocity, counted in Redis.

A sorted set per payer holds payment ids scored by time. Adding the same payment id again does
not count it twice, so a redelivered event leaves the count as it was.
"""

from __future__ import annotations

from datetime import datetime

import redis

__all__ = ["count_payments_in_window"]

KEY_PREFIX = "paystream:velocity:"


def count_payments_in_window(
    cache: redis.Redis, *, payer_id: str, payment_id: str, now: datetime, window_seconds: int
) -> int:
    """Record the payment and return how many the payer made in the window, this one included.

    A Redis failure propagates: fraud scoring never approves blind, the event is retried.
    """
    key = f"{KEY_PREFIX}{payer_id}"
    now_seconds = now.timestamp()
    pipeline = cache.pipeline(transaction=True)
    pipeline.zadd(key, {payment_id: now_seconds}, nx=True)
    pipeline.zremrangebyscore(key, "-inf", now_seconds - window_seconds)
    pipeline.zcard(key)
    pipeline.expire(key, window_seconds)
    _, _, count, _ = pipeline.execute()
    return int(count)
