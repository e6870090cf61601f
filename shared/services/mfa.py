"""The optional second factor: TOTP codes (RFC 6238, 6 digits, 30 s steps) and recovery codes.

Enrolment makes a secret and shows it once (with its `otpauth://` URI, for an authenticator app's
QR code); it is stored sealed with AES-256-GCM under a key derived for this purpose from the
platform's secret key, bound to the user's id, and never returned again. The factor is on only
once a first code confirms that the app has the secret; confirming also returns ten recovery
codes, stored as SHA-256 digests, each standing in for a code once.

A code is accepted for the current time step and one step either side (clock drift), and only
for a step later than the last one used: the same code twice, even within its window, is
refused (RFC 6238 section 5.2). The step is claimed with a conditional update, so of two
concurrent requests with one code only one succeeds.

Once on, the password grant needs a code (`mfa_required`, `invalid_otp`: 401), and so does a
payment above a threshold (403, shared.services.sending).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection

from shared.adapters.tables import mfa_recovery_codes, users
from shared.http import ApiError
from shared.privacy import PersonalDataVault
from shared.services.people import people

__all__ = [
    "RECOVERY_CODE_COUNT",
    "SEALING_KEY_PURPOSE",
    "TOTP_ISSUER",
    "TOTP_STEP_SECONDS",
    "Enrolment",
    "SecondFactorKey",
    "check_sign_in",
    "confirm",
    "disable",
    "enrol",
    "is_enabled",
    "verify_second_factor",
]

TOTP_ISSUER = "Paystream"
TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
# Steps accepted either side of the current one: a phone's clock a little off still works.
TOTP_DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
# A recovery code is 10 characters of this alphabet (no 0/o, 1/l/i), about 49 bits, shown as
# two groups of five ("7kq2m-xw9fa"); case, spaces and dashes are ignored when it is typed.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_CODE_LENGTH = 10
# The purpose of the key (shared.bootstrap._derived_key) that seals TOTP secrets.
SEALING_KEY_PURPOSE = "mfa-totp-secret-sealing"
_NONCE_BYTES = 12


@dataclass(frozen=True)
class SecondFactorKey:
    """Seals and opens TOTP secrets with AES-256-GCM, the user's id as associated data (a
    sealed secret copied onto another user does not open). The key is derived on first use."""

    derive: Callable[[str], bytes]

    def _cipher(self) -> AESGCM:
        return AESGCM(self.derive(SEALING_KEY_PURPOSE))

    def seal(self, secret: str, user_id: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._cipher().encrypt(nonce, secret.encode(), user_id.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, user_id: str) -> str:
        raw = base64.urlsafe_b64decode(sealed.encode())
        try:
            return self._cipher().decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], user_id.encode()).decode()
        except InvalidTag:
            # The secret key changed, or the row was tampered with: a broken dependency, not a
            # wrong code (the user would otherwise be told their right code is wrong).
            raise RuntimeError(f"the second-factor secret of {user_id} does not open") from None


@dataclass(frozen=True)
class Enrolment:
    """A new TOTP secret, shown once, and its otpauth:// URI."""

    secret: str
    otpauth_uri: str


def _recovery_digest(code: str) -> str:
    normalised = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


def _new_recovery_code() -> str:
    text = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_CODE_LENGTH))
    return f"{text[:5]}-{text[5:]}"


def _user(conn: Connection, user_id: str) -> Any:
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise ApiError.not_found("user_not_found", "the user does not exist")
    return row


def is_enabled(user: Any) -> bool:
    """Whether the user (a users row) has the second factor on."""
    return user.mfa_enabled_at is not None


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step at which `code` is the secret's TOTP code, within the drift; else None."""
    candidate = "".join(code.split())
    if len(candidate) != TOTP_DIGITS or not candidate.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)
    current = int(now.timestamp()) // TOTP_STEP_SECONDS
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), candidate):
            return step
    return None


def _claim_step(conn: Connection, user_id: str, step: int) -> bool:
    """Record `step` as the last used, if it is later than the last used (replay otherwise)."""
    claimed = conn.execute(
        users.update()
        .where(users.c.id == user_id, sa.or_(users.c.mfa_last_step.is_(None), users.c.mfa_last_step < step))
        .values(mfa_last_step=step)
    )
    return claimed.rowcount == 1


def _use_recovery_code(conn: Connection, user_id: str, code: str, now: datetime) -> bool:
    used = conn.execute(
        mfa_recovery_codes.update()
        .where(
            mfa_recovery_codes.c.code_hash == _recovery_digest(code),
            mfa_recovery_codes.c.user_id == user_id,
            mfa_recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return used.rowcount == 1


def verify_second_factor(conn: Connection, user: Any, code: str, *, key: SecondFactorKey, now: datetime) -> bool:
    """Whether `code` is a current, unused TOTP code of the user or one of their unused recovery
    codes; either is spent by this call (in the caller's transaction)."""
    if user.mfa_secret is None:
        return False
    step = _totp_step(key.open(user.mfa_secret, user.id), code, now)
    if step is not None:
        return _claim_step(conn, user.id, step)
    return _use_recovery_code(conn, user.id, code, now)


def enrol(conn: Connection, user_id: str, *, key: SecondFactorKey, privacy: PersonalDataVault) -> Enrolment:
    """A new secret for the user, not in force until confirmed; enrolling again before that
    replaces it. The URI names the account by its address, opened with the user's personal
    key. A 409 `mfa_already_enabled` when the factor is on."""
    user = _user(conn, user_id)
    person = people(conn, [user_id], privacy=privacy).get(user_id)
    if person is None or person.email is None:
        raise ApiError.not_found("user_not_found", "the user does not exist")
    if is_enabled(user):
        raise ApiError.invalid("mfa_already_enabled", "the second factor is on already: turn it off first", status=409)
    secret = pyotp.random_base32()
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(mfa_secret=key.seal(secret, user_id), mfa_enabled_at=None, mfa_last_step=None)
    )
    uri = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS).provisioning_uri(
        name=person.email, issuer_name=TOTP_ISSUER
    )
    return Enrolment(secret=secret, otpauth_uri=uri)


def confirm(conn: Connection, user_id: str, code: str, *, key: SecondFactorKey, now: datetime) -> list[str]:
    """Turn the factor on with a first code from the enrolled secret; the new recovery codes
    (any earlier ones are dropped). A 409 when there is nothing to confirm, a 400
    `invalid_otp` for a wrong code."""
    user = _user(conn, user_id)
    if is_enabled(user):
        raise ApiError.invalid("mfa_already_enabled", "the second factor is on already", status=409)
    if user.mfa_secret is None:
        raise ApiError.invalid(
            "mfa_not_enrolled", "enrol first (POST /v1/users/me/mfa), then confirm with a code", status=409
        )
    step = _totp_step(key.open(user.mfa_secret, user_id), code, now)
    if step is None or not _claim_step(conn, user_id, step):
        raise ApiError.invalid("invalid_otp", "the code is not valid: use the current code of your app", "code")
    conn.execute(users.update().where(users.c.id == user_id).values(mfa_enabled_at=now))
    conn.execute(mfa_recovery_codes.delete().where(mfa_recovery_codes.c.user_id == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    conn.execute(
        mfa_recovery_codes.insert(),
        [{"code_hash": _recovery_digest(code), "user_id": user_id, "created_at": now} for code in codes],
    )
    return codes


def disable(conn: Connection, user_id: str, code: str, *, key: SecondFactorKey, now: datetime) -> None:
    """Turn the factor off with a current code or a recovery code (a 403 `invalid_otp`
    otherwise); the secret and the recovery codes are deleted."""
    user = _user(conn, user_id)
    if not is_enabled(user):
        raise ApiError.invalid("mfa_not_enabled", "the second factor is not on", status=409)
    if not verify_second_factor(conn, user, code, key=key, now=now):
        raise ApiError.forbidden("invalid_otp", "the code is not valid, or was used already")
    conn.execute(
        users.update().where(users.c.id == user_id).values(mfa_secret=None, mfa_enabled_at=None, mfa_last_step=None)
    )
    conn.execute(mfa_recovery_codes.delete().where(mfa_recovery_codes.c.user_id == user_id))


def check_sign_in(conn: Connection, user: Any, otp: str | None, *, key: SecondFactorKey, now: datetime) -> None:
    """For a user whose password was right: nothing when the factor is off or `otp` is good; a
    401 `mfa_required` without a code, a 401 `invalid_otp` with a wrong or spent one."""
    if not is_enabled(user):
        return
    if not otp:
        raise ApiError.unauthenticated("mfa_required", "this account has a second factor: send its code as otp")
    if not verify_second_factor(conn, user, otp, key=key, now=now):
        raise ApiError.unauthenticated("invalid_otp", "the second-factor code is not valid, or was used already")
