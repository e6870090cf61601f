"""The per-user data keys: made at sign-up, stored wrapped, cached unwrapped for a short while,
destroyed on erasure (crypto-shredding).

Two keys per user (`personal_data_keys`, one row each):
- `personal` seals what identifies the user day to day (e-mail, name, gateway tokens, the
  names in notifications). An erasure destroys it at once: what it sealed can never be read
  again, wherever a copy of the ciphertext lies (a backup, a replica).
- `retention` seals what anti-money-laundering rules require to be kept for a period after the
  account closes (the KYC profile and documents). An erasure schedules its destruction
  (`shred_after`); the sweep destroys it then.

Unwrapping a key is a KMS call; a payment must not make one. Unwrapped keys are kept in
process memory for `cache_seconds` (bounded in number), so that a warm function touches KMS
once per user per interval. A destroyed key leaves this process's cache at once; another
process may hold its copy at most `cache_seconds` longer, and every reader of a closed account
treats it as erased whatever it could decrypt.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.tables import personal_data_keys
from shared.privacy.cipher import open_sealed, seal
from shared.privacy.key_encryption import KeyEncryptionKey

__all__ = ["CACHED_KEYS_MAX", "PERSONAL", "PURPOSES", "RETENTION", "PersonalDataVault"]

PERSONAL = "personal"
RETENTION = "retention"
PURPOSES = (PERSONAL, RETENTION)
# A process caches at most this many unwrapped keys (32 bytes each, plus bookkeeping).
CACHED_KEYS_MAX = 10_000
# Keys whose period ended that one sweep destroys.
SHRED_BATCH_MAX = 500

_KEY_OF = sa.select(personal_data_keys.c.wrapped_key).where(
    personal_data_keys.c.user_id == sa.bindparam("user_id"), personal_data_keys.c.purpose == sa.bindparam("purpose")
)
_KEYS_OF = sa.select(personal_data_keys.c.user_id, personal_data_keys.c.wrapped_key).where(
    personal_data_keys.c.user_id.in_(sa.bindparam("user_ids", expanding=True)),
    personal_data_keys.c.purpose == sa.bindparam("purpose"),
)


class PersonalDataVault:
    """Seals and opens personal data under the owner's data keys."""

    def __init__(
        self,
        key_encryption_key: KeyEncryptionKey,
        *,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key_encryption_key = key_encryption_key
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()
        self._lock = threading.Lock()
        # How many keys this process unwrapped (a KMS call each): for tests and the benchmark.
        self.unwraps = 0

    # -- the keys ---------------------------------------------------------------------------

    def create_keys(self, conn: Connection, user_id: str, *, now: datetime) -> None:
        """Make the user's data keys (at sign-up), stored wrapped, and keep them cached."""
        rows = []
        for purpose in PURPOSES:
            key, wrapped = self.key_encryption_key.generate_data_key()
            rows.append({"user_id": user_id, "purpose": purpose, "wrapped_key": wrapped, "created_at": now})
            self._remember(user_id, purpose, key)
        conn.execute(personal_data_keys.insert(), rows)

    def key(self, conn: Connection, user_id: str, purpose: str = PERSONAL) -> bytes | None:
        """The user's data key, None when it was destroyed (or the user has none)."""
        cached = self._cached(user_id, purpose)
        if cached is not None:
            return cached
        wrapped = conn.execute(_KEY_OF, {"user_id": user_id, "purpose": purpose}).scalar()
        return None if wrapped is None else self._unwrapped(user_id, purpose, wrapped)

    def keys(self, conn: Connection, user_ids: Iterable[str], purpose: str = PERSONAL) -> dict[str, bytes]:
        """The data keys of several users in one query (the destroyed ones left out)."""
        found: dict[str, bytes] = {}
        missing = []
        for user_id in set(user_ids):
            cached = self._cached(user_id, purpose)
            if cached is not None:
                found[user_id] = cached
            else:
                missing.append(user_id)
        if missing:
            for row in conn.execute(_KEYS_OF, {"user_ids": sorted(missing), "purpose": purpose}):
                if row.wrapped_key is not None:
                    found[row.user_id] = self._unwrapped(row.user_id, purpose, row.wrapped_key)
        return found

    def destroy(self, conn: Connection, user_id: str, purpose: str, *, now: datetime) -> None:
        """Destroy the user's data key: what it sealed can never be opened again."""
        conn.execute(
            personal_data_keys.update()
            .where(personal_data_keys.c.user_id == user_id, personal_data_keys.c.purpose == purpose)
            .values(wrapped_key=None, destroyed_at=now)
        )
        with self._lock:
            self._cache.pop((user_id, purpose), None)

    def schedule_destruction(self, conn: Connection, user_id: str, purpose: str, *, after: datetime) -> None:
        """Destroy the user's key of `purpose` once `after` has passed (`destroy_due`)."""
        conn.execute(
            personal_data_keys.update()
            .where(personal_data_keys.c.user_id == user_id, personal_data_keys.c.purpose == purpose)
            .values(shred_after=after)
        )

    def destroy_due(self, conn: Connection, *, now: datetime, limit: int = SHRED_BATCH_MAX) -> list[str]:
        """Destroy the keys whose retention period has ended (up to `limit`); their users."""
        due = conn.execute(
            sa.select(personal_data_keys.c.user_id, personal_data_keys.c.purpose)
            .where(personal_data_keys.c.shred_after <= now, personal_data_keys.c.wrapped_key.is_not(None))
            .order_by(personal_data_keys.c.shred_after)
            .limit(limit)
        ).all()
        for row in due:
            self.destroy(conn, row.user_id, row.purpose, now=now)
        return [row.user_id for row in due]

    # -- sealing ----------------------------------------------------------------------------

    def seal(self, conn: Connection, user_id: str, field: str, value: str, purpose: str = PERSONAL) -> str:
        """`value` sealed under the user's key of `purpose`, bound to the user and `field`."""
        key = self.key(conn, user_id, purpose)
        if key is None:
            raise LookupError(f"user {user_id} has no {purpose} data key")
        return seal(key, value, context=f"{user_id}:{field}")

    def open(
        self, conn: Connection, user_id: str, field: str, sealed: str | None, purpose: str = PERSONAL
    ) -> str | None:
        """The value sealed for the user's `field`; None when nothing is stored or the key was
        destroyed (the user was erased)."""
        if sealed is None:
            return None
        key = self.key(conn, user_id, purpose)
        return None if key is None else open_sealed(key, sealed, context=f"{user_id}:{field}")

    @staticmethod
    def open_with(key: bytes | None, user_id: str, field: str, sealed: str | None) -> str | None:
        """As `open`, with a key already read (`keys`)."""
        if sealed is None or key is None:
            return None
        return open_sealed(key, sealed, context=f"{user_id}:{field}")

    @staticmethod
    def seal_with(key: bytes, user_id: str, field: str, value: str) -> str:
        """As `seal`, with a key already at hand (the migration's, a batch's)."""
        return seal(key, value, context=f"{user_id}:{field}")

    # -- the cache --------------------------------------------------------------------------

    def _unwrapped(self, user_id: str, purpose: str, wrapped: str) -> bytes:
        key = self.key_encryption_key.unwrap(wrapped)
        self.unwraps += 1
        self._remember(user_id, purpose, key)
        return key

    def _cached(self, user_id: str, purpose: str) -> bytes | None:
        with self._lock:
            entry = self._cache.get((user_id, purpose))
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._cache[(user_id, purpose)]
                return None
            self._cache.move_to_end((user_id, purpose))
            return entry[0]

    def _remember(self, user_id: str, purpose: str, key: bytes) -> None:
        with self._lock:
            self._cache[(user_id, purpose)] = (key, self._clock() + self._cache_seconds)
            self._cache.move_to_end((user_id, purpose))
            while len(self._cache) > CACHED_KEYS_MAX:
                self._cache.popitem(last=False)

    def forget_cached(self) -> None:
        """Drop every cached key (tests; a process that suspects its memory)."""
        with self._lock:
            self._cache.clear()
