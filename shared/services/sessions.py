"""Sessions: a session is one refresh-token family, started by a sign-in.

A session keeps the device (User-Agent) and address of its sign-in and last refresh, for its
owner to recognise it. Ending one revokes every refresh token of its family and refuses its
access tokens at once: they carry the session's id (`sid`), and every function that
authenticates a caller checks it against the user's *token state*.

The token state of a user is their token version (`users.token_version`, carried in every
access token as `ver`) and the sessions they ended lately (within the longest an access token
lives). Every authenticated request reads it through a short cache in Redis (the platform's
client; fakeredis when embedded), shared by every replica; a change deletes the cached copy
once committed (`forget`), so that every replica sees it at the next request. The cache's
lifetime bounds only a copy that missed the deletion.

Ending every session (a password change, a password reset, an erasure) revokes every family,
ends every session and bumps the token version: every access token issued before is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from shared.adapters.tables import refresh_tokens, sessions, users
from shared.http import ApiError, Principal, verify_access_token
from shared.signing import ACCESS_TOKEN_SECONDS_MAX, CLOCK_LEEWAY_SECONDS

__all__ = [
    "SESSIONS_LISTED_MAX",
    "Client",
    "TokenState",
    "check_token",
    "end_every_session",
    "end_session",
    "end_session_of_refresh_token",
    "forget",
    "list_sessions",
    "revoke",
    "session_of",
    "start_session",
    "token_state",
    "token_state_uncached",
    "touch_session",
]

# A user rarely has more than a few devices; the list shows the most recently used this many.
SESSIONS_LISTED_MAX = 100
USER_AGENT_LENGTH_MAX = 300
IP_ADDRESS_LENGTH_MAX = 45
# An ended session's access tokens may live this long after it ended: so long it stays refusable.
_ENDED_REFUSABLE = timedelta(seconds=ACCESS_TOKEN_SECONDS_MAX + CLOCK_LEEWAY_SECONDS)
_CACHE_KEY = "paystream:token-state:{user_id}"


@dataclass(frozen=True)
class Client:
    """Where a sign-in or a refresh came from: the device's User-Agent and the client's address."""

    user_agent: str = ""
    ip_address: str = ""


@dataclass(frozen=True)
class TokenState:
    """What an access token of the user is checked against: the user's token version and the
    sessions ended within the longest an access token lives."""

    version: int
    ended_session_ids: frozenset[str]


def start_session(conn: Connection, *, session_id: str, user_id: str, client: Client, now: datetime) -> None:
    """Record a new session (a sign-in), with the device and address it came from."""
    conn.execute(
        sessions.insert().values(
            id=session_id,
            user_id=user_id,
            user_agent=client.user_agent[:USER_AGENT_LENGTH_MAX],
            ip_address=client.ip_address[:IP_ADDRESS_LENGTH_MAX],
            created_at=now,
            last_used_at=now,
        )
    )


def touch_session(conn: Connection, session_id: str, *, client: Client, now: datetime) -> None:
    """Note a refresh of the session: its last use, device and address are now these."""
    conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id)
        .values(
            last_used_at=now,
            user_agent=client.user_agent[:USER_AGENT_LENGTH_MAX],
            ip_address=client.ip_address[:IP_ADDRESS_LENGTH_MAX],
        )
    )


def end_session(conn: Connection, session_id: str, *, now: datetime) -> str | None:
    """End one session: revoke its refresh tokens and refuse its access tokens. The user whose
    session it was (None for an unknown one); the caller commits, then calls `forget`."""
    user_id = conn.execute(sa.select(sessions.c.user_id).where(sessions.c.id == session_id)).scalar()
    conn.execute(
        refresh_tokens.update()
        .where(refresh_tokens.c.family_id == session_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    conn.execute(
        sessions.update().where(sessions.c.id == session_id, sessions.c.ended_at.is_(None)).values(ended_at=now)
    )
    return user_id


def end_session_of_refresh_token(conn: Connection, digest: str, *, now: datetime) -> str | None:
    """End the session of the refresh token with this digest (any token of the family, spent
    or not); the user whose session it was, or None when no such token is known."""
    family_id = conn.execute(
        sa.select(refresh_tokens.c.family_id).where(refresh_tokens.c.token_hash == digest)
    ).scalar()
    return None if family_id is None else end_session(conn, family_id, now=now)


def session_of(conn: Connection, user_id: str, session_id: str) -> Any:
    """The user's session with this id (ended or not), or None (unknown, or someone else's)."""
    return conn.execute(sa.select(sessions).where(sessions.c.id == session_id, sessions.c.user_id == user_id)).first()


def revoke(
    conn: Connection,
    token: str,
    token_type_hint: str | None,
    *,
    verification_keys: dict[str, tuple[Any, str]],
    now: datetime,
) -> str | None:
    """Revoke a token (RFC 7009): a refresh token ends its session (every token of its family),
    a valid access token ends the session it names. The user whose session ended, or None when
    the token is unknown, invalid or expired: that is not an error, the token is no use either way.
    The hint only says which kind to look for first."""
    kinds = ["refresh_token", "access_token"]
    if token_type_hint == "access_token":  # noqa: S105 - RFC 7009's name of a kind, not a secret
        kinds.reverse()
    for kind in kinds:
        if kind == "refresh_token":
            user_id = end_session_of_refresh_token(conn, hashlib.sha256(token.encode()).hexdigest(), now=now)
            if user_id is not None:
                return user_id
            continue
        try:
            principal = verify_access_token(token, verification_keys, now_epoch_seconds=int(now.timestamp()))
        except ApiError:
            continue
        if session_of(conn, principal.user_id, principal.session_id) is not None:
            return end_session(conn, principal.session_id, now=now)
    return None


def end_every_session(conn: Connection, user_id: str, *, now: datetime) -> int:
    """End every session of the user: revoke every refresh token, end every session and bump
    the token version, so that every access token issued before is refused. The number of
    refresh tokens revoked.

    What a password change, a password reset and an erasure share. The caller commits, then
    calls `forget(cache, user_id)` so that every replica refuses the old tokens at once (else
    within `token_state_cache_seconds`)."""
    result = conn.execute(
        refresh_tokens.update()
        .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    conn.execute(
        sessions.update().where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None)).values(ended_at=now)
    )
    conn.execute(users.update().where(users.c.id == user_id).values(token_version=users.c.token_version + 1))
    return result.rowcount


def list_sessions(conn: Connection, user_id: str, *, now: datetime) -> tuple[Sequence[Any], bool]:
    """The user's sessions that can still be used (not ended, a refresh token alive), most
    recently used first: up to SESSIONS_LISTED_MAX of them, and whether there are more."""
    alive = (
        sa.select(refresh_tokens.c.family_id)
        .where(
            refresh_tokens.c.user_id == user_id,
            refresh_tokens.c.revoked_at.is_(None),
            refresh_tokens.c.spent_at.is_(None),
            refresh_tokens.c.expires_at > now,
        )
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None), sessions.c.id.in_(alive))
        .order_by(sessions.c.last_used_at.desc(), sessions.c.id.desc())
        .limit(SESSIONS_LISTED_MAX + 1)
    ).all()
    return rows[:SESSIONS_LISTED_MAX], len(rows) > SESSIONS_LISTED_MAX


def token_state_uncached(reader: Engine, user_id: str, *, now: datetime) -> TokenState | None:
    """The user's token state read from the database (when the cache is unavailable)."""
    with reader.connect() as conn:
        return _read_token_state(conn, user_id, now=now)


def _read_token_state(conn: Connection, user_id: str, *, now: datetime) -> TokenState | None:
    version = conn.execute(sa.select(users.c.token_version).where(users.c.id == user_id)).scalar()
    if version is None:
        return None
    ended: Iterable[str] = conn.execute(
        sa.select(sessions.c.id).where(sessions.c.user_id == user_id, sessions.c.ended_at > now - _ENDED_REFUSABLE)
    ).scalars()
    return TokenState(version=version, ended_session_ids=frozenset(ended))


def token_state(
    cache: redis.Redis, reader: Engine, user_id: str, *, now: datetime, cache_seconds: int
) -> TokenState | None:
    """The user's token state (None: no such user), from the cache, else from the database
    (then kept in the cache for `cache_seconds`)."""
    key = _CACHE_KEY.format(user_id=user_id)
    cached = cache.get(key)
    if cached is not None:
        document = json.loads(cached)
        if document is None:
            return None
        return TokenState(version=document["version"], ended_session_ids=frozenset(document["ended"]))
    state = token_state_uncached(reader, user_id, now=now)
    document = None if state is None else {"version": state.version, "ended": sorted(state.ended_session_ids)}
    cache.set(key, json.dumps(document), ex=cache_seconds)
    return state


def check_token(principal: Principal, state: TokenState | None) -> None:
    """Refuse (401) a token of a user who does not exist, of an older token version, or of a
    session that has ended."""
    if state is None:
        raise ApiError.unauthenticated("invalid_token", "the access token's user does not exist")
    if principal.token_version != state.version or principal.session_id in state.ended_session_ids:
        raise ApiError.unauthenticated("session_ended", "the access token's session has ended")


def forget(cache: redis.Redis, user_id: str) -> None:
    """Delete the cached token state of the user: call it once a change to it is committed."""
    cache.delete(_CACHE_KEY.format(user_id=user_id))
