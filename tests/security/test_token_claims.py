"""What an access token must be to be accepted: signed by a published key, for this API, short
lived, of a user who exists and of a session that has not ended."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

import jwt
import sqlalchemy as sa

from shared.adapters.tables import users as users_table
from shared.ids import new_id
from shared.signing import signing_key_at
from tests.fixtures.keys import signed_access_token
from tests.security.sessions_support import sign_in, sign_up


def _forged(runtime, user_id: str, *, headers: dict | None = None, key=None, algorithm: str | None = None, **claims):
    """A token signed with the platform's own current key (or `key`), with these claims."""
    now = int(time.time())
    signing = signing_key_at(runtime.signing_keys.current(), now=now)
    body = {
        "iss": "paystream",
        "aud": "paystream-api",
        "sub": user_id,
        "sid": new_id("fam"),
        "ver": 0,
        "roles": [],
        "iat": now,
        "exp": now + 600,
        "jti": new_id("at"),
        **claims,
    }
    body = {name: value for name, value in body.items() if value is not None}
    return jwt.encode(
        body,
        signing.key if key is None else key,
        algorithm=algorithm or signing.algorithm,
        headers={"kid": signing.kid, **(headers or {})},
    )


def _status(client, path: str, token: str) -> int:
    return client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_token_with_a_far_exp_is_refused_whatever_its_signature(client_of, runtime):
    # GIVEN a user, and a token signed with the real key whose exp is ten years ahead
    users = client_of("users")
    sign_up(users, "ada@example.com")
    user_id = sign_in(users, "ada@example.com").user_id
    now = int(time.time())
    far = _forged(runtime, user_id, exp=now + 10 * 365 * 24 * 3600)
    # THEN it is a 401, and so is one that lives sixteen minutes
    assert _status(users, "/v1/users/me", far) == 401
    assert _status(users, "/v1/users/me", _forged(runtime, user_id, exp=now + 16 * 60)) == 401
    # AND one issued in the future
    assert _status(users, "/v1/users/me", _forged(runtime, user_id, iat=now + 3600, exp=now + 3900)) == 401
    # WHILE the same token with a fifteen-minute life is accepted
    assert _status(users, "/v1/users/me", _forged(runtime, user_id, exp=now + 15 * 60)) == 200


def test_a_token_without_an_audience_or_for_another_is_refused(client_of, runtime):
    users = client_of("users")
    sign_up(users, "ben@example.com")
    user_id = sign_in(users, "ben@example.com").user_id
    assert _status(users, "/v1/users/me", _forged(runtime, user_id, aud=None)) == 401
    assert _status(users, "/v1/users/me", _forged(runtime, user_id, aud="another-api")) == 401
    for claim in ("iss", "jti", "iat", "exp", "sub", "sid"):
        assert _status(users, "/v1/users/me", _forged(runtime, user_id, **{claim: None})) == 401, claim


def test_a_token_signed_with_anything_but_a_published_key_is_refused(client_of, runtime):
    users = client_of("users")
    sign_up(users, "cy@example.com")
    user_id = sign_in(users, "cy@example.com").user_id
    # The old shared secret, an unknown kid and an unsigned token are all refused.
    hs256 = _forged(runtime, user_id, key=secrets.token_urlsafe(48), algorithm="HS256")
    assert _status(users, "/v1/users/me", hs256) == 401
    assert _status(users, "/v1/users/me", _forged(runtime, user_id, headers={"kid": "key_unknown"})) == 401
    unsigned = jwt.encode({"sub": user_id}, "", algorithm="none")
    assert _status(users, "/v1/users/me", unsigned) == 401


def test_a_token_for_a_user_who_does_not_exist_is_a_401_on_reads_and_writes(client_of, runtime):
    # GIVEN a well-signed token for a user id that was never signed up
    token = signed_access_token(runtime, new_id("usr"))
    headers = {"Authorization": f"Bearer {token}"}
    # THEN reads are 401
    for name, path in (("users", "/v1/users/me"), ("wallets", "/v1/wallets"), ("transactions", "/v1/transactions")):
        answer = client_of(name).get(path, headers=headers)
        assert answer.status_code == 401, (path, answer.get_data(as_text=True))
        assert answer.get_json()["error"]["type"] == "authentication_error"
    # AND writes are 401, not 500
    paid = client_of("payments").post(
        "/v1/payments",
        json={"to": "someone@example.com", "amount": 100, "currency": "USD", "note": ""},
        headers={**headers, "Idempotency-Key": "missing-user-1"},
    )
    assert paid.status_code == 401, paid.get_data(as_text=True)
    linked = client_of("accounts").post(
        "/v1/funding-sources",
        json={"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        headers=headers,
    )
    assert linked.status_code == 401


def test_a_token_of_an_older_token_version_is_refused(client_of, runtime):
    # GIVEN a signed-in user whose token version is bumped behind the cache's back
    users = client_of("users")
    sign_up(users, "dee@example.com")
    session = sign_in(users, "dee@example.com")
    assert _status(users, "/v1/users/me", session.access_token) == 200
    with runtime.engine.begin() as conn:
        conn.execute(sa.update(users_table).where(users_table.c.id == session.user_id).values(token_version=7))
    runtime.redis.flushall()
    # THEN the token is refused
    assert _status(users, "/v1/users/me", session.access_token) == 401


def test_a_frozen_user_keeps_signing_in_and_reading(client_of, runtime):
    users, wallets = client_of("users"), client_of("wallets")
    user_id = sign_up(users, "eve@example.com")
    with runtime.engine.begin() as conn:
        conn.execute(
            sa.update(users_table)
            .where(users_table.c.id == user_id)
            .values(frozen_at=datetime.now(UTC), frozen_reason="under review")
        )
    session = sign_in(users, "eve@example.com")
    assert wallets.get("/v1/wallets", headers=session.auth).status_code == 200
    assert _status(users, "/v1/users/me", session.access_token) == 200
