"""Abuse limits: the rate classes' budgets (per user, per client address, one budget across
processes), their 429 and headers, and the sign-in backoff, which locks a guesser out before
any password is verified and still lets the account's owner in."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from werkzeug.test import Client

from schemas.routing import RateClass
from shared.bootstrap import Platform, platform, reset_platform
from shared.functions import load_app
from shared.rate_limits import PRODUCTION_RATE_LIMITS, parse_rate_limit, setting_of
from shared.runner.gateway import Gateway, InProcessBackends
from shared.runner.local import _start_function, free_port
from shared.services import identity
from tests.security.sessions_support import PASSWORD, sign_in, sign_up

REDIS_URL = os.environ.get("PAYSTREAM_TEST_REDIS", "redis://127.0.0.1:6379/0")
PROCESS_START_SECONDS_MAX = 60


@pytest.fixture
def settings_of(runtime, monkeypatch):
    """Rebuild the platform (a fresh in-process cache, the same database) with these settings."""

    def rebuild(**environment: str) -> Platform:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        reset_platform()
        return platform()

    return rebuild


def _from(address: str) -> dict[str, str]:
    """What the gateway in front of every function says of a request from `address`."""
    return {"X-Real-IP": address}


def _password_grant(users, email: str, password: str, address: str):
    return users.post(
        "/v1/oauth/token",
        data={"grant_type": "password", "username": email, "password": password},
        headers=_from(address),
    )


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """Records every password verification (each one an Argon2 hash)."""
    checks: list[str] = []
    verify = identity._password_matches

    def counted(user, password: str) -> bool:
        checks.append(password)
        return verify(user, password)

    monkeypatch.setattr(identity, "_password_matches", counted)
    return checks


def test_brute_force_of_the_password_grant_meets_429_and_the_right_password_waits_too(
    client_of, settings_of, password_checks
):
    # GIVEN an account, and the default backoff: 5 free failures per account and address
    settings_of(PAYSTREAM_SIGN_IN_FAILURES_FREE="5", PAYSTREAM_SIGN_IN_LOCKOUT_SECONDS_FIRST="30")
    users = client_of("users")
    sign_up(users, "victim@example.com")
    guesser = "198.51.100.7"
    # WHEN one address guesses: five wrong passwords are 401s
    for attempt in range(5):
        answer = _password_grant(users, "victim@example.com", f"wrong guess {attempt}", guesser)
        assert answer.status_code == 401
        assert answer.get_json()["error"]["code"] == "invalid_credentials"
    # THEN the next guess is a 429 in the error shape, with when to retry
    locked = _password_grant(users, "victim@example.com", "wrong guess 6", guesser)
    assert locked.status_code == 429
    assert locked.get_json()["error"] == {
        "type": "rate_limit_error",
        "code": "sign_in_locked",
        "message": locked.get_json()["error"]["message"],
        "param": None,
    }
    assert 1 <= int(locked.headers["Retry-After"]) <= 30
    # AND the right password from that address is refused the same way while the lock lasts
    assert _password_grant(users, "victim@example.com", PASSWORD, guesser).status_code == 429
    # AND no password was verified once the lock began: the guesses cost no Argon2 hash
    assert len(password_checks) == 5


def test_the_owner_signs_in_from_a_known_address_while_others_guess_from_many(client_of, settings_of):
    # GIVEN an account whose owner signed in from their usual address once, and a backoff
    # that locks the account after 3 failures from anywhere
    settings_of(PAYSTREAM_SIGN_IN_ACCOUNT_FAILURES_FREE="3")
    users = client_of("users")
    sign_up(users, "owner@example.com")
    home = "192.0.2.10"
    first = _password_grant(users, "owner@example.com", PASSWORD, home)
    assert first.status_code == 200
    # WHEN guessers at three other addresses fail once each
    for guesser in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        assert _password_grant(users, "owner@example.com", "not it at all", guesser).status_code == 401
    # THEN a sign-in from an address the account has never signed in from waits, right password or not
    stranger = _password_grant(users, "owner@example.com", PASSWORD, "203.0.113.99")
    assert stranger.status_code == 429 and stranger.get_json()["error"]["code"] == "sign_in_locked"
    # AND the owner, from their usual address, signs in
    assert _password_grant(users, "owner@example.com", PASSWORD, home).status_code == 200
    # AND a refresh token goes on working wherever it is used
    refreshed = users.post(
        "/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first.get_json()["refresh_token"]},
        headers=_from("203.0.113.99"),
    )
    assert refreshed.status_code == 200


def test_a_failed_and_a_locked_out_sign_in_are_security_events_with_user_and_address(client_of, settings_of, caplog):
    settings_of(PAYSTREAM_SIGN_IN_FAILURES_FREE="1")
    users = client_of("users")
    user_id = sign_up(users, "logged@example.com")
    # WHEN a wrong password is tried twice from one address
    with caplog.at_level("WARNING", logger="paystream.security"):
        assert _password_grant(users, "logged@example.com", "nope nope nope", "198.51.100.20").status_code == 401
        assert _password_grant(users, "logged@example.com", "nope nope nope", "198.51.100.20").status_code == 429
    # THEN each is a security event naming the user, the address and the outcome
    events = [record for record in caplog.records if getattr(record, "security_event", None)]
    assert [(event.security_event, event.outcome) for event in events] == [
        ("login_failed", "wrong_password"),
        ("rate_limited", "locked_out"),
    ]
    assert {event.user_id for event in events} == {user_id}
    assert {event.client_ip for event in events} == {"198.51.100.20"}


def test_a_spent_budget_is_a_429_in_the_error_shape_with_the_ratelimit_headers(client_of, settings_of):
    # GIVEN reads limited to 3 a minute per user
    settings_of(**{setting_of(RateClass.READ): "3/minute"})
    users = client_of("users")
    sign_up(users, "reader@example.com")
    session = sign_in(users, "reader@example.com")  # its check of the caller is the first read
    # WHEN the user reads on
    answers = [users.get("/v1/users/me", headers=session.auth) for _ in range(3)]
    # THEN every answer tells the limit and what remains of it
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert [answer.headers["RateLimit-Remaining"] for answer in answers] == ["1", "0", "0"]
    assert {answer.headers["RateLimit-Limit"] for answer in answers} == {"3"}
    assert {answer.headers["RateLimit-Policy"] for answer in answers} == {"3;w=60"}
    # AND the one over the limit is a 429 rate_limit_error with Retry-After
    refused = answers[-1]
    assert refused.get_json()["error"]["type"] == "rate_limit_error"
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert 0 <= int(refused.headers["RateLimit-Reset"]) <= 60
    # AND the probes and the public keys are not limited
    assert all(users.get("/healthz").status_code == 200 for _ in range(5))
    assert all(users.get("/.well-known/jwks.json").status_code == 200 for _ in range(5))


def test_the_documented_429_is_the_one_served(client_of):
    document = client_of("users").get("/openapi.json").get_json()
    too_many = document["components"]["responses"]["TooManyRequests"]
    assert too_many["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(too_many["headers"])
    me = document["paths"]["/v1/users/me"]["get"]
    assert "429" in me["responses"] and me["x-paystream-rate-class"] == "read"
    assert "429" not in document["paths"]["/.well-known/jwks.json"]["get"]["responses"]


def test_authenticated_routes_count_per_user_and_public_ones_per_address(client_of, settings_of):
    # GIVEN two users at one address, reads limited to 2 and credential routes to 2 a minute
    settings_of(**{setting_of(RateClass.READ): "2/minute", setting_of(RateClass.CREDENTIAL): "4/minute"})
    users, wallets = client_of("users"), client_of("wallets")
    address = "198.51.100.30"
    sign_up_answers = [
        users.post(
            "/v1/users",
            json={"email": f"{name}@example.com", "password": PASSWORD, "full_name": name, "country": "US"},
            headers=_from(address),
        )
        for name in ("ann", "bob")
    ]
    assert [answer.status_code for answer in sign_up_answers] == [201, 201]
    ann = _password_grant(users, "ann@example.com", PASSWORD, address).get_json()
    bob = _password_grant(users, "bob@example.com", PASSWORD, address).get_json()
    # WHEN ann spends her read budget
    ann_auth = {"Authorization": f"Bearer {ann['access_token']}", **_from(address)}
    assert [wallets.get("/v1/wallets", headers=ann_auth).status_code for _ in range(3)] == [200, 200, 429]
    # THEN bob, at the same address, still reads
    bob_auth = {"Authorization": f"Bearer {bob['access_token']}", **_from(address)}
    assert wallets.get("/v1/wallets", headers=bob_auth).status_code == 200
    # AND the address has spent its credential budget (two sign-ups, two sign-ins), another has not
    assert users.post("/v1/oauth/revoke", data={"token": "x"}, headers=_from(address)).status_code == 429
    assert users.post("/v1/oauth/revoke", data={"token": "x"}, headers=_from("198.51.100.31")).status_code == 200


def test_unauthenticated_sign_up_is_the_strictest_budget(client_of, settings_of):
    # GIVEN the limits a cluster runs with
    production = {rate_class: parse_rate_limit(limit) for rate_class, limit in PRODUCTION_RATE_LIMITS.items()}
    per_minute = {rate_class: item.amount * 60 / item.get_expiry() for rate_class, item in production.items()}
    assert min(per_minute, key=per_minute.__getitem__) is RateClass.CREDENTIAL
    settings_of(**{setting_of(rate_class): limit for rate_class, limit in PRODUCTION_RATE_LIMITS.items()})
    users = client_of("users")
    allowed = production[RateClass.CREDENTIAL].amount

    def sign_up_from(address: str, number: int) -> int:
        body = {"email": f"spam{number}@example.com", "password": PASSWORD, "full_name": "Spam", "country": "US"}
        return users.post("/v1/users", json=body, headers=_from(address)).status_code

    # WHEN one address signs up more accounts than that in a minute
    statuses = [sign_up_from("203.0.113.50", number) for number in range(allowed + 1)]
    # THEN the one past the budget is refused before anything is created, and another address is not
    assert statuses == [201] * allowed + [429]
    assert sign_up_from("203.0.113.51", allowed + 1) == 201


def _wait_until_up(url: str, process) -> None:
    deadline = time.monotonic() + PROCESS_START_SECONDS_MAX
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the function process at {url} exited with {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the function process at {url} did not answer")


@pytest.fixture
def two_users_processes(runtime, tmp_path: Path) -> Iterator[list[str]]:
    """Two `users` processes, as two replicas are, on the shared Redis, with 4 credential
    requests a minute per address."""
    environment = {
        **os.environ,
        "PAYSTREAM_REDIS_URL": REDIS_URL,
        setting_of(RateClass.CREDENTIAL): "4/minute",
        "PAYSTREAM_LOG_LEVEL": "WARNING",
        "DD_TRACE_ENABLED": "false",
    }
    ports = [free_port(), free_port()]
    processes = [_start_function("users", port, environment) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            _wait_until_up(url, process)
        yield urls
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=10)


def test_one_budget_holds_across_two_processes(two_users_processes):
    # GIVEN an address of its own (so that no other run on this Redis shares its budget)
    address = f"2001:db8:{random.getrandbits(16):x}:{random.getrandbits(16):x}::{random.getrandbits(16):x}"
    first, second = two_users_processes
    # WHEN it revokes tokens through one process and the other in turn
    answers = [
        requests.post(f"{url}/v1/oauth/revoke", data={"token": "unknown"}, headers=_from(address), timeout=10)
        for url in (first, second, first, second, first, second)
    ]
    # THEN the two processes drew on one budget of 4
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 429, 429]
    assert [answer.headers["RateLimit-Remaining"] for answer in answers[:4]] == ["3", "2", "1", "0"]


def test_behind_the_gateway_a_client_cannot_choose_the_address_it_is_counted_by(runtime, settings_of):
    # GIVEN the local gateway in front of `users`, and one credential request a minute per address
    settings_of(**{setting_of(RateClass.CREDENTIAL): "1/minute"})
    gateway = Client(Gateway(InProcessBackends({"users": load_app("users")})))
    peer = {"REMOTE_ADDR": "198.51.100.77"}
    # WHEN one client sends two requests, each claiming another address
    answers = [
        gateway.post("/v1/oauth/revoke", data={"token": "x"}, headers={"X-Real-IP": claimed}, environ_base=peer)
        for claimed in ("192.0.2.1", "192.0.2.2")
    ]
    # THEN both are counted by the address it connects from
    assert [answer.status_code for answer in answers] == [200, 429]
