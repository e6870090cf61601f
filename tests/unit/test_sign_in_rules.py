"""The sign-in backoff's rules: when failures start a lockout, how it grows, which lock applies."""

from __future__ import annotations

import pytest

from shared.domain.sign_in import BackoffPolicy, LockScope, SignInLocks, lock_in_force, lockout_seconds

POLICY = BackoffPolicy(
    pair_failures_free=5,
    address_failures_free=20,
    account_failures_free=10,
    lockout_seconds_first=30,
    lockout_seconds_max=900,
)


def test_free_failures_lock_nothing_then_each_failure_doubles_the_lockout_up_to_the_longest():
    assert [lockout_seconds(n, LockScope.PAIR, POLICY) for n in range(1, 12)] == [
        0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900,
    ]  # fmt: skip
    assert lockout_seconds(10**9, LockScope.PAIR, POLICY) == 900


def test_each_scope_has_its_own_free_failures():
    assert lockout_seconds(19, LockScope.ADDRESS, POLICY) == 0
    assert lockout_seconds(20, LockScope.ADDRESS, POLICY) == 30
    assert lockout_seconds(10, LockScope.ACCOUNT, POLICY) == 30


def test_the_longest_lock_in_force_refuses_and_none_lets_the_password_be_checked():
    assert lock_in_force(SignInLocks(0, 0, 0, address_known=False)) is None
    assert lock_in_force(SignInLocks(12, 40, 0, address_known=False)) == (LockScope.ADDRESS, 40)


def test_the_account_lock_spares_an_address_known_to_the_account_but_not_its_own_pair_lock():
    assert lock_in_force(SignInLocks(0, 0, 600, address_known=True)) is None
    assert lock_in_force(SignInLocks(0, 0, 600, address_known=False)) == (LockScope.ACCOUNT, 600)
    assert lock_in_force(SignInLocks(30, 0, 600, address_known=True)) == (LockScope.PAIR, 30)


def test_a_policy_without_free_failures_or_with_lockouts_out_of_order_is_a_bug():
    with pytest.raises(ValueError):
        BackoffPolicy(0, 1, 1, 30, 900)
    with pytest.raises(ValueError):
        BackoffPolicy(1, 1, 1, 900, 30)
