"""Users and their tokens: sign-up, the password and refresh-token grants.

Passwords are hashed with Argon2id. Access tokens are short-lived JWTs; refresh tokens are
random strings stored only as SHA-256 digests, rotated on every use. Each login starts a token
family, which is a session (shared.services.sessions); presenting a refresh token that was
already spent means it leaked, so the whole family is revoked and the session ends (OAuth 2.0
Security Best Current Practice, refresh token rotation).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from schemas.api import SignUpRequest
from schemas.events import UserSignedUp
from shared.adapters.database import as_utc
from shared.adapters.ledger_store import LedgerStore
from shared.adapters.outbox import record_event
from shared.adapters.tables import refresh_tokens, user_roles, users
from shared.domain.money import default_currency_for_country
from shared.domain.passwords import password_problem, rule_message
from shared.domain.sanctions import screening_key
from shared.http import ApiError, issue_access_token
from shared.ids import new_id
from shared.passwords import common_passwords
from shared.privacy import BlindIndex, PersonalDataVault
from shared.services import mfa, sanctions, sessions
from shared.services.context import EventContext
from shared.services.people import people
from shared.services.sign_in_backoff import SignInBackoff
from shared.signing import SigningKey

__all__ = [
    "TokenPair",
    "change_password",
    "find_user",
    "get_user",
    "password_grant",
    "refresh_grant",
    "require_acceptable_password",
    "require_acceptable_password_of",
    "roles_of",
    "set_password",
    "sign_up",
    "start_session_of",
]

REFRESH_TOKEN_BYTES = 32
_hasher = PasswordHasher()
# Verified against when the email is unknown, so that a login takes as long either way.
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_user(conn: Connection, user_id: str) -> Any:
    """The user row, or a 404 (a token may outlive an erased user). Its personal data is
    sealed: shared.services.personal_data.profile_of opens it."""
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise ApiError.not_found("user_not_found", "the user does not exist")
    return row


def find_user(conn: Connection, email_or_id: str, *, email_index: BlindIndex | None) -> Any:
    """The open account with this e-mail address (any spelling, through its blind index) or
    id, or None: how a client names the other party of a payment or a request. A closed
    (erased) account is no one."""
    key = email_or_id.strip()
    if "@" in key:
        if email_index is None:
            raise TypeError("finding a user by e-mail address needs the blind index")
        return conn.execute(_USER_BY_EMAIL, {"email_index": email_index.email(key)}).first()
    return conn.execute(_USER_BY_ID, {"user_id": key}).first()


# Built once: every payment and request names its other party.
_USER_BY_EMAIL = sa.select(users).where(users.c.email_index == sa.bindparam("email_index"), users.c.closed_at.is_(None))
_USER_BY_ID = sa.select(users).where(users.c.id == sa.bindparam("user_id"), users.c.closed_at.is_(None))
_ROLES_OF = sa.select(user_roles.c.role).where(user_roles.c.user_id == sa.bindparam("user_id"))


def roles_of(conn: Connection, user_id: str) -> frozenset[str]:
    """The operator roles the user holds now (none for most users)."""
    return frozenset(conn.execute(_ROLES_OF, {"user_id": user_id}).scalars())


def require_acceptable_password(password: str, *, email: str, full_name: str, param: str) -> None:
    """A 400 `weak_password` naming the rule, when the password policy refuses `password` for
    the user with this e-mail and name (shared.domain.passwords)."""
    rule = password_problem(password, email=email, full_name=full_name, common_passwords=common_passwords())
    if rule is not None:
        raise ApiError.invalid("weak_password", f"{rule_message(rule)} ({rule.value})", param)


def set_password(conn: Connection, user_id: str, password: str) -> None:
    """Store the hash of the user's new password (the caller has applied the policy)."""
    conn.execute(users.update().where(users.c.id == user_id).values(password_hash=_hasher.hash(password)))


def sign_up(
    conn: Connection,
    request: SignUpRequest,
    *,
    ledger: LedgerStore,
    privacy: PersonalDataVault,
    email_index: BlindIndex,
    now: datetime,
    correlation_id: str | None,
) -> tuple[Any, list[str]]:
    """Create the user, their data keys and a wallet in the currency of their country. The
    password must pass the policy (a 400 `weak_password`); the address and the name are stored
    sealed under the user's personal key, the address unique through its blind index and not
    verified yet."""
    require_acceptable_password(
        request.password, email=str(request.email), full_name=request.full_name, param="password"
    )
    user_id = new_id("usr")
    index = email_index.email(str(request.email))
    try:
        with conn.begin_nested():
            privacy.create_keys(conn, user_id, now=now)
            conn.execute(
                users.insert().values(
                    id=user_id,
                    email_encrypted=privacy.seal(conn, user_id, "email", str(request.email)),
                    email_index=index,
                    password_hash=_hasher.hash(request.password),
                    full_name_encrypted=privacy.seal(conn, user_id, "full_name", request.full_name),
                    country=request.country,
                    screening_name_key=screening_key(request.full_name),
                    kyc_status="unverified",
                    created_at=now,
                )
            )
    except IntegrityError:
        raise ApiError.invalid(
            "email_taken", "an account with this email already exists", "email", status=409
        ) from None
    ledger.ensure_wallet(conn, user_id, default_currency_for_country(request.country), now)
    signed_up_id = record_event(
        conn,
        event_type="user.signed_up",
        source_function="users",
        subject=user_id,
        sequence=1,
        payload=UserSignedUp(user_id=user_id, country=request.country),
        now=now,
        correlation_id=correlation_id,
    )
    # Screened as they sign up: a match is recorded on the user, never refused here (support
    # decides), and holds every payment they make or receive.
    matched = sanctions.screen_and_record(
        conn,
        user_id=user_id,
        names=[request.full_name],
        countries=[request.country],
        screened_at="sign_up",
        context=EventContext(producer="users", now=now, correlation_id=correlation_id),
    )
    return get_user(conn, user_id), [signed_up_id, *matched]


def _issue(
    conn: Connection,
    *,
    user: Any,
    family_id: str,
    signing_key: SigningKey,
    now: datetime,
    access_ttl: int,
    refresh_ttl: int,
) -> TokenPair:
    refresh_token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    conn.execute(
        refresh_tokens.insert().values(
            token_hash=_digest(refresh_token),
            family_id=family_id,
            user_id=user.id,
            issued_at=now,
            expires_at=now + timedelta(seconds=refresh_ttl),
        )
    )
    access_token = issue_access_token(
        user_id=user.id,
        roles=roles_of(conn, user.id),
        session_id=family_id,
        token_version=user.token_version,
        signing_key=signing_key,
        now_epoch_seconds=int(now.timestamp()),
        ttl_seconds=access_ttl,
    )
    return TokenPair(access_token=access_token, refresh_token=refresh_token, expires_in=access_ttl)


def start_session_of(
    conn: Connection,
    *,
    user: Any,
    client: sessions.Client,
    signing_key: SigningKey,
    now: datetime,
    access_ttl: int,
    refresh_ttl: int,
) -> TokenPair:
    """A new session of the user (a sign-in from `client`) and its first token pair."""
    family_id = new_id("fam")
    sessions.start_session(conn, session_id=family_id, user_id=user.id, client=client, now=now)
    return _issue(
        conn,
        user=user,
        family_id=family_id,
        signing_key=signing_key,
        now=now,
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
    )


def _password_matches(user: Any, password: str) -> bool:
    """Whether `password` is the user's; as slow for no user as for a wrong password."""
    try:
        _hasher.verify(user.password_hash if user else _UNKNOWN_USER_HASH, password)
        return user is not None
    except (VerificationError, InvalidHashError):
        return False


def password_grant(
    conn: Connection,
    *,
    email: str,
    email_index: BlindIndex,
    password: str,
    client: sessions.Client,
    backoff: SignInBackoff,
    signing_key: SigningKey,
    now: datetime,
    access_ttl: int,
    refresh_ttl: int,
    otp: str | None = None,
    second_factor_key: mfa.SecondFactorKey | None = None,
) -> TokenPair:
    """Tokens for a correct email and password, in a new session; a 401 otherwise, alike for
    both mistakes. A sign-in the backoff has locked out is a 429 before the password is
    verified, whether or not it is right (shared.services.sign_in_backoff). A user with the second
    factor on also needs a good `otp` (a 401 `mfa_required` or `invalid_otp`: shared.services.mfa).
    The backoff counts an account by the address's blind index, never by the address.
    """
    account = email_index.email(email)
    user = conn.execute(_USER_BY_EMAIL, {"email_index": account}).first()
    user_id = user.id if user is not None else None
    lock = backoff.check(account, client.ip_address)
    if lock is not None:
        scope, seconds = lock
        raise ApiError.rate_limited(
            "sign_in_locked",
            f"too many failed sign-ins; retry after {seconds} seconds",
            retry_after_seconds=seconds,
            event_fields={"user_id": user_id, "outcome": "locked_out", "lock": scope.value},
        )
    if not _password_matches(user, password):
        started = backoff.failed(account, client.ip_address)
        raise ApiError(
            401,
            "authentication_error",
            "invalid_credentials",
            "the email or password is wrong",
            event_fields={
                "user_id": user_id,
                "outcome": "wrong_password" if user is not None else "unknown_account",
                "lock_started": started[0].value if started else None,
                "lock_seconds": started[1] if started else 0,
            },
        )
    if mfa.is_enabled(user):
        if second_factor_key is None:
            raise RuntimeError("a password grant for a user with a second factor needs the key that opens it")
        try:
            mfa.check_sign_in(conn, user, otp, key=second_factor_key, now=now)
        except ApiError as refused:
            # A wrong code with the right password counts as a failed sign-in: someone may hold
            # the password and be guessing the code. A missing one is a step of the dialogue.
            if refused.code == "invalid_otp":
                backoff.failed(account, client.ip_address)
                refused.event_fields.update(user_id=user_id, outcome="wrong_otp")
            raise
    backoff.succeeded(account, client.ip_address)
    return start_session_of(
        conn,
        user=user,
        client=client,
        signing_key=signing_key,
        now=now,
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
    )


def refresh_grant(
    conn: Connection,
    *,
    refresh_token: str,
    client: sessions.Client,
    signing_key: SigningKey,
    now: datetime,
    access_ttl: int,
    refresh_ttl: int,
) -> TokenPair | None:
    """Rotate a refresh token. A spent one ends its session and returns None: the caller
    commits the revocation, then answers 401."""
    digest = _digest(refresh_token)
    row = conn.execute(sa.select(refresh_tokens).where(refresh_tokens.c.token_hash == digest)).first()
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now:
        raise ApiError.unauthenticated("invalid_refresh_token", "the refresh token is not valid")
    # Spend the token atomically: of two concurrent refreshes with one token, one wins and the
    # other is treated as the reuse it is.
    spent = conn.execute(
        refresh_tokens.update()
        .where(refresh_tokens.c.token_hash == digest, refresh_tokens.c.spent_at.is_(None))
        .values(spent_at=now)
    )
    if spent.rowcount != 1:
        sessions.end_session(conn, row.family_id, now=now)
        return None
    user = get_user(conn, row.user_id)
    sessions.touch_session(conn, row.family_id, client=client, now=now)
    return _issue(
        conn,
        user=user,
        family_id=row.family_id,
        signing_key=signing_key,
        now=now,
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
    )


def require_acceptable_password_of(
    conn: Connection, user_id: str, password: str, *, privacy: PersonalDataVault, param: str
) -> None:
    """require_acceptable_password for an existing user, whose address and name are opened
    with their personal key to be compared with the password."""
    person = people(conn, [user_id], privacy=privacy).get(user_id)
    if person is None or person.erased:
        raise ApiError.not_found("user_not_found", "the user does not exist")
    require_acceptable_password(password, email=person.email or "", full_name=person.full_name, param=param)


def change_password(
    conn: Connection,
    user_id: str,
    *,
    current_password: str,
    new_password: str,
    privacy: PersonalDataVault,
    now: datetime,
) -> Any:
    """Replace the user's password after checking the current one (a 400 when it is wrong) and
    the new one against the policy (a 400 `weak_password`), and end every session of theirs;
    the user row as it is now."""
    user = get_user(conn, user_id)
    if not _password_matches(user, current_password):
        raise ApiError.invalid("current_password_wrong", "the current password is wrong", "current_password")
    require_acceptable_password_of(conn, user_id, new_password, privacy=privacy, param="new_password")
    set_password(conn, user_id, new_password)
    sessions.end_every_session(conn, user_id, now=now)
    return get_user(conn, user_id)
