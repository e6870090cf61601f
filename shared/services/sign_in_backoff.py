"""Sign-in backoff: failed password sign-ins lock out, stepwise, per account and address.

The password grant asks `check` before it verifies a password, so a locked-out guesser costs
one Redis round trip and never an Argon2 hash. Each failure is counted three ways (see
shared.domain.sign_in): for the account from this address, for this address, and for the
account; a count past its free failures starts a lock that doubles with each further failure.
A successful sign-in clears its pair's count and remembers the address as known to the account,
which the account-wide lock spares: the owner signs in from their usual address while someone
elsewhere guesses. A valid refresh token is never subject to it.

Counts and locks live in Redis (fakeredis when embedded), so every replica sees them. When
Redis cannot be reached the backoff is skipped (logged): the rate limit of the token route
still bounds the attempts of one address, and sign-in keeps working.
"""

from __future__ import annotations

import hashlib
import logging

import redis

from shared.domain.sign_in import BackoffPolicy, LockScope, SignInLocks, lock_in_force, lockout_seconds

__all__ = [
    "FAILURE_MEMORY_SECONDS",
    "KNOWN_ADDRESS_SECONDS",
    "PRODUCTION_ADDRESS_FAILURES_FREE",
    "SignInBackoff",
]

logger = logging.getLogger("paystream.sign_in")

# A failure is forgotten a day after the last one of its count: a slow guesser keeps its count.
FAILURE_MEMORY_SECONDS = 24 * 3600
# An address stays known to an account for 90 days after its last successful sign-in there.
KNOWN_ADDRESS_SECONDS = 90 * 24 * 3600
# Failures free per address in a cluster (knative/base's ConfigMap). The local default is
# higher: every client there is 127.0.0.1, the end-to-end tests' deliberate failures included.
PRODUCTION_ADDRESS_FAILURES_FREE = 20
_PREFIX = "paystream:sign-in"


def _account_key(account: str) -> str:
    """An account's name in Redis: a digest of what the caller names it by (the password grant
    passes the address's blind index), never the address."""
    return hashlib.sha256(account.encode()).hexdigest()[:32]


class SignInBackoff:
    """The sign-in backoff's counts and locks, in Redis."""

    def __init__(self, cache: redis.Redis, policy: BackoffPolicy) -> None:
        self._cache = cache
        self.policy = policy

    def _keys(self, account: str, address: str) -> dict[LockScope, str]:
        account_key = _account_key(account)
        return {
            LockScope.PAIR: f"{account_key}:{address}",
            LockScope.ADDRESS: address,
            LockScope.ACCOUNT: account_key,
        }

    def check(self, account: str, address: str) -> tuple[LockScope, int] | None:
        """The lock that refuses a sign-in to `account` (the blind index of an e-mail address,
        known or not) from `address` now, with the seconds left on it; None: go on and check the
        password."""
        keys = self._keys(account, address)
        try:
            pipe = self._cache.pipeline(transaction=False)
            for scope in LockScope:
                pipe.pttl(f"{_PREFIX}:lock:{scope.value}:{keys[scope]}")
            pipe.sismember(f"{_PREFIX}:known:{keys[LockScope.ACCOUNT]}", address)
            *milliseconds, known = pipe.execute()
        except redis.RedisError as error:
            logger.warning("sign-in backoff unavailable, not checked: %s", error)
            return None
        left = {scope: max(0, -(-int(ms) // 1000)) for scope, ms in zip(LockScope, milliseconds, strict=True)}
        return lock_in_force(
            SignInLocks(
                pair_seconds=left[LockScope.PAIR],
                address_seconds=left[LockScope.ADDRESS],
                account_seconds=left[LockScope.ACCOUNT],
                address_known=bool(known),
            )
        )

    def failed(self, account: str, address: str) -> tuple[LockScope, int] | None:
        """Count a failed sign-in; the longest lock it started, if any."""
        keys = self._keys(account, address)
        try:
            pipe = self._cache.pipeline(transaction=False)
            for scope in LockScope:
                pipe.incr(f"{_PREFIX}:failures:{scope.value}:{keys[scope]}")
                pipe.expire(f"{_PREFIX}:failures:{scope.value}:{keys[scope]}", FAILURE_MEMORY_SECONDS)
            counts = pipe.execute()[0::2]
            started: tuple[LockScope, int] | None = None
            pipe = self._cache.pipeline(transaction=False)
            for scope, failures in zip(LockScope, counts, strict=True):
                seconds = lockout_seconds(int(failures), scope, self.policy)
                if seconds > 0:
                    pipe.set(f"{_PREFIX}:lock:{scope.value}:{keys[scope]}", 1, ex=seconds)
                    if started is None or seconds > started[1]:
                        started = (scope, seconds)
            pipe.execute()
        except redis.RedisError as error:
            logger.warning("sign-in backoff unavailable, failure not counted: %s", error)
            return None
        return started

    def succeeded(self, account: str, address: str) -> None:
        """A successful sign-in: the pair starts afresh, and the address is known to the account."""
        keys = self._keys(account, address)
        known = f"{_PREFIX}:known:{keys[LockScope.ACCOUNT]}"
        try:
            pipe = self._cache.pipeline(transaction=False)
            pipe.delete(f"{_PREFIX}:failures:{LockScope.PAIR.value}:{keys[LockScope.PAIR]}")
            pipe.sadd(known, address)
            pipe.expire(known, KNOWN_ADDRESS_SECONDS)
            pipe.execute()
        except redis.RedisError as error:
            logger.warning("sign-in backoff unavailable, success not recorded: %s", error)
