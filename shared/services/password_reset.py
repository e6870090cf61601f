"""Password reset by an e-mailed one-time link.

`request_reset` answers alike whether or not the address belongs to an account: it records one
row either way (the address as its keyed blind index, shared.privacy, never in clear), so both
take the same work, and
the e-mail is sent off the request's path by the caller. For a known address the row also holds
the SHA-256 digest of a random token (256 bits) that the e-mailed link carries; the token
expires after `password_reset_ttl_seconds` and works once. At most RESETS_PER_HOUR_MAX requests
an hour for one address send an e-mail, whoever asks: a flood of requests cannot flood a mailbox.

`confirm_reset` sets the new password (the password policy applies), spends the token and every
other outstanding one of the user, verifies the address (the link proved it), and ends every
session: the caller commits, then forgets the cached token state (shared.services.sessions).
The second factor stays on: a reset gives back the password, not the phone.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.database import as_utc
from shared.adapters.tables import password_resets, users
from shared.http import ApiError
from shared.ids import new_id
from shared.privacy import BlindIndex, PersonalDataVault
from shared.services import identity, sessions
from shared.services.people import people

__all__ = [
    "RESETS_PER_HOUR_MAX",
    "ResetRequested",
    "confirm_reset",
    "request_reset",
    "reset_email",
]

RESET_TOKEN_BYTES = 32
RESETS_PER_HOUR_MAX = 5


@dataclass(frozen=True)
class ResetRequested:
    """A reset to e-mail: to whom, and the token the link carries."""

    email: str
    token: str


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_reset(
    conn: Connection,
    email: str,
    *,
    email_index: BlindIndex,
    privacy: PersonalDataVault,
    now: datetime,
    ttl_seconds: int,
) -> ResetRequested | None:
    """Record a reset request for `email`; what to e-mail (to the address as the account holds
    it, opened with its owner's key), or None when the address is unknown or has had
    RESETS_PER_HOUR_MAX requests in the last hour."""
    digest = email_index.email(email)
    recent = conn.execute(
        sa.select(sa.func.count())
        .select_from(password_resets)
        .where(password_resets.c.email_digest == digest, password_resets.c.created_at > now - timedelta(hours=1))
    ).scalar_one()
    user = identity.find_user(conn, email, email_index=email_index) if "@" in email else None
    person = people(conn, [user.id], privacy=privacy).get(user.id) if user is not None else None
    reset = (
        ResetRequested(email=person.email, token=secrets.token_urlsafe(RESET_TOKEN_BYTES))
        if user is not None and person is not None and person.email is not None and recent < RESETS_PER_HOUR_MAX
        else None
    )
    conn.execute(
        password_resets.insert().values(
            id=new_id("pwr"),
            email_digest=digest,
            user_id=user.id if user is not None and reset is not None else None,
            token_hash=_token_digest(reset.token) if reset is not None else None,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    return reset


def reset_email(token: str, *, web_origin: str, ttl_seconds: int) -> tuple[str, str]:
    """The subject and text of a reset e-mail."""
    link = f"{web_origin}/reset-password?token={token}"
    return (
        "Reset your Paystream password",
        f"Someone asked to reset the password of your Paystream account. To choose a new one, open "
        f"{link} within {ttl_seconds // 60} minutes (or send the token {token} with your new "
        "password to POST /v1/users/password-reset/confirm). The link works once. If it was not "
        "you, ignore this e-mail: your password stays as it is.",
    )


def _invalid_token() -> ApiError:
    return ApiError.invalid(
        "invalid_reset_token", "the reset link is not valid, has expired or was used: ask for a new one", "token"
    )


def confirm_reset(conn: Connection, token: str, new_password: str, *, privacy: PersonalDataVault, now: datetime) -> Any:
    """Set the password of the token's user and end every session; the user row before the
    change. A 400 `invalid_reset_token` for an unknown, spent or expired token, a 400
    `weak_password` for a password the policy refuses (the token then still works)."""
    row = conn.execute(sa.select(password_resets).where(password_resets.c.token_hash == _token_digest(token))).first()
    if row is None or row.user_id is None or row.used_at is not None or as_utc(row.expires_at) <= now:
        raise _invalid_token()
    user = identity.get_user(conn, row.user_id)
    if user.closed_at is not None:  # erased since the link was sent
        raise _invalid_token()
    identity.require_acceptable_password_of(conn, user.id, new_password, privacy=privacy, param="new_password")
    spent = conn.execute(
        password_resets.update()
        .where(password_resets.c.user_id == user.id, password_resets.c.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount < 1:  # a concurrent confirmation spent it first
        raise _invalid_token()
    identity.set_password(conn, user.id, new_password)
    if user.email_verified_at is None:
        conn.execute(users.update().where(users.c.id == user.id).values(email_verified_at=now))
    sessions.end_every_session(conn, user.id, now=now)
    return user
