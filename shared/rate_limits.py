"""Rate limits per route class, kept in Redis through the `limits` library.

Every route of the versioned API declares a rate class (schemas.routing.RateClass); the router
(shared.http.Router) draws one request from the class's budget of the caller before the route
runs: per user for authenticated classes, per client address for the others. The budgets live
in Redis (fakeredis in the embedded mode, with Lua, so the same `limits` storage runs there),
so one budget holds across every process and replica of every function.

The limits are settings (`PAYSTREAM_RATE_LIMIT_<CLASS>`, in the `limits` notation: `20/minute`).
Their defaults are the local modes', where every client is 127.0.0.1 and the load and
end-to-end tests sign up hundreds of users from it: generous per address. Kubernetes carries
PRODUCTION_RATE_LIMITS (the base ConfigMap, and the NGINX Ingress's own limits derived from
them). docs/security.md's table is `limits_table()`, checked by a test.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import redis
from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from schemas.routing import RateClass

__all__ = [
    "HARNESS_RATE_LIMIT",
    "KEY_PREFIX",
    "LOCAL_RATE_LIMITS",
    "PRODUCTION_RATE_LIMITS",
    "Quota",
    "RateLimits",
    "harness_environment",
    "limits_table",
    "parse_rate_limit",
    "setting_of",
]

logger = logging.getLogger("paystream.rate_limits")

# Every key the limiter writes starts with this, apart from the platform's other Redis keys.
KEY_PREFIX = "paystream:rate"

# The settings' defaults: the local modes', generous per address (module docstring).
LOCAL_RATE_LIMITS: Mapping[RateClass, str] = {
    RateClass.MONEY: "120/minute",
    RateClass.WRITE: "600/minute",
    RateClass.READ: "3000/minute",
    RateClass.PUBLIC: "3000/minute",
    RateClass.CREDENTIAL: "600/minute",
}
# What a cluster serving the public runs with (knative/base's ConfigMap). A person sends a few
# payments a minute; a client polling a payment's status reads a few times a second at most;
# nobody signs up or signs in more than a few times a minute from one address.
PRODUCTION_RATE_LIMITS: Mapping[RateClass, str] = {
    RateClass.MONEY: "20/minute",
    RateClass.WRITE: "60/minute",
    RateClass.READ: "300/minute",
    RateClass.PUBLIC: "60/minute",
    RateClass.CREDENTIAL: "10/minute",
}
# What a harness that hammers the API sets for every class (bench/, tests/e2e, the chaos
# tests): far above what it sends, so that it measures the platform rather than its limits.
HARNESS_RATE_LIMIT = "1000000/minute"

_WHOSE = {True: "the user", False: "the client address"}
_WHAT = {
    RateClass.MONEY: "POSTs that move money: payments, paying a request, top-ups, conversions, withdrawals, refunds",
    RateClass.WRITE: "every other authenticated change (funding sources, KYC, sessions, requests, admin actions)",
    RateClass.READ: "authenticated reads",
    RateClass.PUBLIC: "unauthenticated routes that take no credential",
    RateClass.CREDENTIAL: "sign-up, the token grants, token revocation",
}


def setting_of(rate_class: RateClass) -> str:
    """The environment variable that sets a class's limit."""
    return f"PAYSTREAM_RATE_LIMIT_{rate_class.name}"


def parse_rate_limit(text: str) -> RateLimitItem:
    """One limit in the `limits` notation (`20/minute`, `5 per second`); ValueError otherwise."""
    if ";" in text or "," in text:
        raise ValueError("must be one limit, such as 20/minute")
    item = parse(text)  # raises ValueError on anything else
    if item.amount < 1:
        raise ValueError("must allow at least one request")
    return item


def harness_environment() -> dict[str, str]:
    """The settings a load or end-to-end harness runs the platform with: every class at
    HARNESS_RATE_LIMIT. Production and the defaults are untouched; only such a harness sets it."""
    return {setting_of(rate_class): HARNESS_RATE_LIMIT for rate_class in RateClass}


def _window_words(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return f"{item.multiples} {unit}s" if item.multiples > 1 else unit


def limits_table() -> str:
    """docs/security.md's table of limits, from the declarations above."""
    lines = [
        "| class | routes | counted per | limit, local default | limit, Kubernetes | window |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for rate_class in RateClass:
        local = parse_rate_limit(LOCAL_RATE_LIMITS[rate_class])
        production = parse_rate_limit(PRODUCTION_RATE_LIMITS[rate_class])
        if (local.GRANULARITY, local.multiples) != (production.GRANULARITY, production.multiples):
            raise ValueError(f"{rate_class}: the local and production limits count over different windows")
        lines.append(
            f"| `{rate_class.name}` | {_WHAT[rate_class]} | {_WHOSE[rate_class.per_user]} "
            f"| {local.amount} | {production.amount} | {_window_words(local)} |"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Quota:
    """One request drawn from a budget: whether it was allowed, and what remains."""

    rate_class: RateClass
    limit: int
    window_seconds: int
    remaining: int
    # Seconds until the budget has room again (a whole number, at least 1 when refused).
    reset_seconds: int
    allowed: bool

    def headers(self) -> list[tuple[str, str]]:
        """The RateLimit header fields (IETF draft-ietf-httpapi-ratelimit-headers), and the
        policy that produced them (`20;w=60`: 20 requests per 60 seconds)."""
        return [
            ("RateLimit-Limit", str(self.limit)),
            ("RateLimit-Remaining", str(self.remaining)),
            ("RateLimit-Reset", str(self.reset_seconds)),
            ("RateLimit-Policy", f"{self.limit};w={self.window_seconds}"),
        ]


class RateLimits:
    """The budgets of every rate class, in the Redis behind `cache` (a sliding window counter:
    two keys per budget, one Lua call to draw from it and one to read it)."""

    def __init__(self, cache: redis.Redis, limits_by_class: Mapping[RateClass, str]) -> None:
        # The platform's own client's pool (its time-outs, or fakeredis's in-process server):
        # `limits` only adds its scripts.
        storage = RedisStorage("redis://", connection_pool=cache.connection_pool, key_prefix=KEY_PREFIX)
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._items = {rate_class: parse_rate_limit(limits_by_class[rate_class]) for rate_class in RateClass}

    def item(self, rate_class: RateClass) -> RateLimitItem:
        """The class's limit."""
        return self._items[rate_class]

    def hit(self, rate_class: RateClass, key: str) -> Quota | None:
        """Draw one request of `key` (a user id or a client address) from the class's budget.

        None when Redis cannot be reached: the request goes on unlimited (logged), since a cache
        outage should not stop payments; readiness reports the cache as unavailable."""
        item = self._items[rate_class]
        try:
            allowed = self._limiter.hit(item, rate_class.value, key)
            stats = self._limiter.get_window_stats(item, rate_class.value, key)
        except redis.RedisError as error:
            logger.warning("rate limits unavailable, %s not counted: %s", rate_class.value, error)
            return None
        reset_seconds = max(0, math.ceil(stats.reset_time - time.time()))
        if not allowed:
            reset_seconds = max(1, reset_seconds)
        return Quota(
            rate_class=rate_class,
            limit=item.amount,
            window_seconds=item.get_expiry(),
            remaining=stats.remaining,
            reset_seconds=reset_seconds,
            allowed=allowed,
        )
