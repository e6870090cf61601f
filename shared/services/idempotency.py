"""Idempotent requests, as Stripe defines them.

The first request with a key runs and its response is stored in the same transaction as its
effects. A later request with the same key and the same body gets that response again; with a
different body, a 409. Two concurrent requests with one key: both may run, but only one can
insert the key, so the other's transaction (its effects included) rolls back and it replays the
winner's response.

Keys are kept `RETENTION_SECONDS` (24 hours), as Stripe keeps them: within that time a replay
returns the first response; after it the key is pruned (`purge_expired`, run by sweep-sagas) and
a request reusing it is a new request, also when the pruning has not come round yet.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from shared.adapters.database import as_utc
from shared.adapters.tables import idempotency_keys
from shared.http import ApiError

__all__ = ["RETENTION_SECONDS", "purge_expired", "request_fingerprint", "run_once"]

RETENTION_SECONDS = 24 * 3600
# One retry is enough: after losing the race the key exists, and the retry replays it.
ATTEMPTS_MAX = 2

Execute = Callable[[Connection], tuple[int, Any, list[str]]]

# Built once: every mutating money request reads and stores its key.
_STORED_KEY = sa.select(idempotency_keys).where(
    idempotency_keys.c.user_id == sa.bindparam("user_id"), idempotency_keys.c.key == sa.bindparam("key")
)
_STORE_KEY = idempotency_keys.insert()


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """A digest of what the request asks for, to tell a replay from a different request."""
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_once(
    engine: Engine,
    *,
    user_id: str,
    key: str | None,
    fingerprint: str,
    now: datetime,
    execute: Execute,
) -> tuple[int, Any, list[str]]:
    """Run `execute` in a transaction at most once per (user, key).

    `execute` returns (status, json body, ids of events it recorded). A replay returns the stored
    status and body, and no events (they were published the first time).
    """
    for attempt in range(ATTEMPTS_MAX):
        try:
            with engine.begin() as conn:
                if key is not None:
                    stored = conn.execute(_STORED_KEY, {"user_id": user_id, "key": key}).first()
                    if stored is not None and _expired(stored.created_at, now):
                        conn.execute(
                            _delete_key(user_id, key).where(idempotency_keys.c.created_at == stored.created_at)
                        )
                        stored = None
                    if stored is not None:
                        if stored.request_hash != fingerprint:
                            raise ApiError(
                                409,
                                "idempotency_error",
                                "idempotency_key_reused",
                                "this Idempotency-Key was used with a different request",
                            )
                        return stored.response_status, stored.response_body, []
                status, body, event_ids = execute(conn)
                if key is not None:
                    conn.execute(
                        _STORE_KEY,
                        {
                            "user_id": user_id,
                            "key": key,
                            "request_hash": fingerprint,
                            "response_status": status,
                            "response_body": body,
                            "created_at": now,
                        },
                    )
                return status, body, event_ids
        except IntegrityError:
            if key is None or attempt + 1 == ATTEMPTS_MAX:
                raise
    raise AssertionError("unreachable: the loop returns or raises")


def _expired(created_at: datetime, now: datetime) -> bool:
    return as_utc(created_at) <= now - timedelta(seconds=RETENTION_SECONDS)


def _delete_key(user_id: str, key: str) -> sa.Delete:
    return idempotency_keys.delete().where(idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key)


def purge_expired(conn: Connection, *, now: datetime, limit: int) -> int:
    """Delete up to `limit` keys older than the retention, oldest first; returns how many."""
    oldest = (
        sa.select(idempotency_keys.c.user_id, idempotency_keys.c.key)
        .where(idempotency_keys.c.created_at <= now - timedelta(seconds=RETENTION_SECONDS))
        .order_by(idempotency_keys.c.created_at)
        .limit(limit)
    )
    deleted = 0
    # .tuples(): SQLAlchemy's typing of a row that is unpacked (the rows are the same).
    for user_id, key in conn.execute(oldest).tuples().all():
        deleted += conn.execute(_delete_key(user_id, key)).rowcount
    return deleted
