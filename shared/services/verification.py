"""E-mail verification: a new account proves its address with a 6-digit code sent to it.

The code is stored as a keyed digest (HMAC-SHA-256 under a key derived for this purpose, bound
to the user's id: a million codes are otherwise a moment's brute force for whoever reads the
table). It works within `email_verification_code_ttl_seconds` and for
VERIFICATION_ATTEMPTS_MAX wrong tries, then a new one must be asked for; a new one may be asked
for at most once per `email_verification_resend_seconds` (429 otherwise), and replaces the last.

Until the address is verified the account can send only a small amount in all
(shared.services.sending). A password reset, which proves the address too, also verifies it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.aws import Notifier
from shared.adapters.database import as_utc
from shared.adapters.tables import email_verifications, users
from shared.http import ApiError

__all__ = [
    "CODE_KEY_PURPOSE",
    "VERIFICATION_ATTEMPTS_MAX",
    "VerificationOutcome",
    "issue_code",
    "send_code",
    "send_email",
    "verify",
]

CODE_DIGITS = 6
VERIFICATION_ATTEMPTS_MAX = 5
# The purpose of the key (shared.bootstrap._derived_key) the codes' digests are made with.
CODE_KEY_PURPOSE = "email-verification-code"


class VerificationOutcome(enum.StrEnum):
    VERIFIED = "verified"
    WRONG_CODE = "wrong_code"
    NO_CODE = "no_code"  # none sent, expired, or out of tries: ask for a new one


def _digest(derive: Callable[[str], bytes], user_id: str, code: str) -> str:
    return hmac.new(derive(CODE_KEY_PURPOSE), f"{user_id}:{code}".encode(), hashlib.sha256).hexdigest()


def send_email(notifier: Notifier, *, to: str, subject: str, text: str, kind: str) -> None:
    """Publish one e-mail on the e-mail topic (the notifier copies it to the local outbox)."""
    notifier.publish(
        "email", subject, json.dumps({"to": to, "subject": subject, "text": text}), attributes={"kind": kind}
    )


def issue_code(
    conn: Connection,
    user: Any,
    *,
    derive: Callable[[str], bytes],
    now: datetime,
    ttl_seconds: int,
    resend_seconds: int | None,
) -> str:
    """A new code for the user, replacing any earlier one. With `resend_seconds`, a 429 when
    the last code was sent less than that long ago; a 409 when the address is verified."""
    if user.email_verified_at is not None:
        raise ApiError.invalid("email_already_verified", "the e-mail address is verified already", status=409)
    last = conn.execute(
        sa.select(email_verifications.c.sent_at).where(email_verifications.c.user_id == user.id)
    ).scalar()
    if resend_seconds is not None and last is not None and now - as_utc(last) < timedelta(seconds=resend_seconds):
        raise ApiError(
            429,
            "rate_limit_error",
            "verification_code_throttled",
            f"a code was sent less than {resend_seconds} seconds ago: wait for it, or ask again later",
        )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    conn.execute(email_verifications.delete().where(email_verifications.c.user_id == user.id))
    conn.execute(
        email_verifications.insert().values(
            user_id=user.id,
            code_digest=_digest(derive, user.id, code),
            sent_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
            failed_attempts=0,
        )
    )
    return code


def send_code(notifier: Notifier, *, to: str, code: str, ttl_seconds: int) -> None:
    """E-mail a verification code."""
    send_email(
        notifier,
        to=to,
        subject="Your Paystream verification code",
        text=(
            f"Your verification code is {code}. It expires in {ttl_seconds // 60} minutes. "
            "Enter it in Paystream (POST /v1/users/me/email/verify) to verify this address. "
            "If you did not sign up, ignore this e-mail."
        ),
        kind="email.verification_code",
    )


def verify(
    conn: Connection, user: Any, code: str, *, derive: Callable[[str], bytes], now: datetime
) -> VerificationOutcome:
    """Check a code and verify the address when it is right. A wrong code counts a try (the
    caller commits, then answers 400). A 409 when the address is verified already."""
    if user.email_verified_at is not None:
        raise ApiError.invalid("email_already_verified", "the e-mail address is verified already", status=409)
    row = conn.execute(sa.select(email_verifications).where(email_verifications.c.user_id == user.id)).first()
    if row is None or as_utc(row.expires_at) <= now or row.failed_attempts >= VERIFICATION_ATTEMPTS_MAX:
        return VerificationOutcome.NO_CODE
    candidate = "".join(code.split())
    if not hmac.compare_digest(row.code_digest, _digest(derive, user.id, candidate)):
        conn.execute(
            email_verifications.update()
            .where(email_verifications.c.user_id == user.id)
            .values(failed_attempts=email_verifications.c.failed_attempts + 1)
        )
        return VerificationOutcome.WRONG_CODE
    conn.execute(users.update().where(users.c.id == user.id).values(email_verified_at=now))
    conn.execute(email_verifications.delete().where(email_verifications.c.user_id == user.id))
    return VerificationOutcome.VERIFIED
