"""The sign-in backoff's rules: how long a run of failed sign-ins locks out, and which lock
applies to an attempt. Pure: the service (shared.services.sign_in_backoff) reads the counts
and locks from Redis and passes them in.

Three counts of failures are kept, each with its own lock:

- the *pair* (one account from one client address): a guesser at one address, the usual case;
- the *address* (any accounts from one address): one address trying many accounts;
- the *account* (from any address): many addresses guessing one account. This lock spares the
  addresses the account has signed in from before, so that a victim can still sign in from
  their usual address while someone elsewhere is guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BackoffPolicy", "LockScope", "SignInLocks", "lock_in_force", "lockout_seconds"]


class LockScope(StrEnum):
    """What a lock is on."""

    PAIR = "account_and_address"
    ADDRESS = "address"
    ACCOUNT = "account"


@dataclass(frozen=True)
class BackoffPolicy:
    """How many failures are free in each scope, and the lockouts after them."""

    pair_failures_free: int
    address_failures_free: int
    account_failures_free: int
    lockout_seconds_first: int
    lockout_seconds_max: int

    def __post_init__(self) -> None:
        if min(self.pair_failures_free, self.address_failures_free, self.account_failures_free) < 1:
            raise ValueError("at least one failure is free in every scope")
        if not 1 <= self.lockout_seconds_first <= self.lockout_seconds_max:
            raise ValueError("the first lockout is at least 1 second and at most the longest")

    def free_in(self, scope: LockScope) -> int:
        """The failures free in `scope` before the first lockout."""
        return {
            LockScope.PAIR: self.pair_failures_free,
            LockScope.ADDRESS: self.address_failures_free,
            LockScope.ACCOUNT: self.account_failures_free,
        }[scope]


# 2**_DOUBLINGS_MAX times the first lockout is far past any longest lockout: the bound keeps the
# power small whatever the count.
_DOUBLINGS_MAX = 32


def lockout_seconds(failures: int, scope: LockScope, policy: BackoffPolicy) -> int:
    """The lockout that the `failures`-th failure in `scope` starts: none while failures are
    free, then the first lockout, doubled by each failure after it, up to the longest."""
    beyond = failures - policy.free_in(scope)
    if beyond < 0:
        return 0
    return min(policy.lockout_seconds_first << min(beyond, _DOUBLINGS_MAX), policy.lockout_seconds_max)


@dataclass(frozen=True)
class SignInLocks:
    """The seconds left on each lock (0: none) before an attempt, and whether the attempt's
    address has signed in to the account before."""

    pair_seconds: int
    address_seconds: int
    account_seconds: int
    address_known: bool


def lock_in_force(locks: SignInLocks) -> tuple[LockScope, int] | None:
    """The lock that refuses an attempt and the seconds left on it, or None: the attempt may
    go on to the password check. The account's lock does not apply to a known address."""
    candidates = [(LockScope.PAIR, locks.pair_seconds), (LockScope.ADDRESS, locks.address_seconds)]
    if not locks.address_known:
        candidates.append((LockScope.ACCOUNT, locks.account_seconds))
    scope, seconds = max(candidates, key=lambda candidate: candidate[1])
    return (scope, seconds) if seconds > 0 else None
