"""Sessions: a session is one refresh-token family, started by a sign-in.

Ending every session of a user is what a password change, a password reset and an erasure
share: no refresh token of theirs can be used again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from shared.adapters.tables import refresh_tokens

__all__ = ["end_every_session"]


def end_every_session(conn: Connection, user_id: str, *, now: datetime) -> int:
    """Revoke every refresh token of the user that is not revoked yet; the number revoked."""
    result = conn.execute(
        refresh_tokens.update()
        .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount
