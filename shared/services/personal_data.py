"""A user's personal data as the platform holds it: opened for reading, exported, erased.

Reading opens the sealed fields with the owner's personal key (shared.privacy). An erased
user's key is destroyed, so wherever they are named (a counterparty in a history, a payment
they made) they are shown as `DELETED_USER_NAME`.

Erasure (GDPR article 17) is crypto-shredding: the personal key is destroyed, the account
closed, every session ended and the token version bumped, so the account's tokens stop working
at once. What the law requires to be kept (the ledger, the audit trail, the KYC records) stays:
the ledger and the audit trail hold ids only, and the KYC records are sealed under the
retention key, destroyed when the retention period ends (`shred_expired`), when the identity
documents' files are deleted from their bucket too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.api import (
    ErasureResponse,
    FundingSourceResponse,
    NotificationResponse,
    SessionResponse,
    TransactionResponse,
    UserExport,
    UserResponse,
)
from shared.adapters.kyc_documents import DocumentStore
from shared.adapters.ledger_store import LedgerStore
from shared.adapters.tables import (
    email_verifications,
    funding_sources,
    idempotency_keys,
    kyc_documents,
    mfa_recovery_codes,
    notifications,
    password_resets,
    sessions,
    transactions,
    users,
)
from shared.http import ApiError, response_of_row
from shared.privacy import PERSONAL, RETENTION, PersonalDataVault
from shared.services import kyc, payment_requests
from shared.services import sessions as session_service
from shared.services.balances import wallet_balances
from shared.services.context import EventContext
from shared.services.identity import get_user, roles_of
from shared.services.notifications import render_notifications
from shared.services.operators import record_admin_action
from shared.services.people import DELETED_USER_NAME, Person, people

__all__ = [
    "EXPORT_ROWS_MAX",
    "erase",
    "export_of",
    "profile_of",
    "shred_expired",
]

# The export holds at most this many rows of each kind (transactions, notifications, sessions).
EXPORT_ROWS_MAX = 10_000


def profile_of(conn: Connection, user: Any, *, privacy: PersonalDataVault) -> dict[str, Any]:
    """The user row's columns with the address and the name opened (`email`, `full_name`), and
    whether the address is verified and the second factor on (`email_verified`, `mfa_enabled`)."""
    person = people(conn, [user.id], privacy=privacy).get(user.id) or Person(user.id, DELETED_USER_NAME, None)
    return {
        **user._mapping,
        "email": person.email or "",
        "full_name": person.full_name,
        "email_verified": user.email_verified_at is not None,
        "mfa_enabled": user.mfa_enabled_at is not None,
    }


def export_of(conn: Connection, user_id: str, *, privacy: PersonalDataVault, ledger: LedgerStore, now: datetime,
              session_id: str | None) -> UserExport:  # fmt: skip
    """Everything the platform holds about the user (GDPR article 15 and 20), opened: the
    profile, funding sources (masked: the last four digits only, as ever), wallets, history,
    notifications, sessions and KYC."""
    user = get_user(conn, user_id)
    profile = UserResponse.model_validate(
        {**profile_of(conn, user, privacy=privacy), "roles": sorted(roles_of(conn, user_id))}
    )
    sources = conn.execute(
        sa.select(funding_sources)
        .where(funding_sources.c.user_id == user_id)
        .order_by(funding_sources.c.created_at, funding_sources.c.id)
        .limit(EXPORT_ROWS_MAX)
    )
    history = conn.execute(
        sa.select(transactions)
        .where(transactions.c.user_id == user_id)
        .order_by(transactions.c.created_at.desc(), transactions.c.id.desc())
        .limit(EXPORT_ROWS_MAX)
    )
    notes = conn.execute(
        sa.select(notifications)
        .where(notifications.c.user_id == user_id)
        .order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
        .limit(EXPORT_ROWS_MAX)
    ).all()
    devices = conn.execute(
        sa.select(sessions)
        .where(sessions.c.user_id == user_id)
        .order_by(sessions.c.last_used_at.desc(), sessions.c.id.desc())
        .limit(EXPORT_ROWS_MAX)
    )
    return UserExport(
        exported_at=now,
        profile=profile,
        funding_sources=[FundingSourceResponse.model_validate(row, from_attributes=True) for row in sources],
        wallets=wallet_balances(conn, user_id, ledger=ledger),
        transactions=[response_of_row(TransactionResponse, row) for row in history],
        notifications=[
            NotificationResponse.model_validate(rendered)
            for rendered in render_notifications(conn, notes, privacy=privacy)
        ],
        sessions=[SessionResponse.model_validate({**row._mapping, "current": row.id == session_id}) for row in devices],
        kyc=kyc.view_of(conn, user_id, privacy=privacy),
    )


def _remaining_balances(conn: Connection, user_id: str, ledger: LedgerStore) -> list[str]:
    """The currencies in which the user's wallets still hold or reserve money."""
    return sorted(
        wallet.currency
        for wallet in wallet_balances(conn, user_id, ledger=ledger)
        if wallet.available or wallet.pending
    )


def erase(
    conn: Connection,
    user_id: str,
    *,
    actor_id: str,
    privacy: PersonalDataVault,
    ledger: LedgerStore,
    retention_days: int,
    context: EventContext,
    reason: str | None = None,
) -> tuple[ErasureResponse, list[str]]:
    """Erase the user by crypto-shredding, recorded as an admin action by `actor_id` (the user
    themself, or an admin); what was done, and the ids of the events recorded. A 409
    `balance_remaining` while a wallet holds money (it must be withdrawn first), a 404 for no
    such open account. The caller commits, then calls `sessions.forget` so that every replica
    refuses the tokens at once."""
    user = conn.execute(sa.select(users).where(users.c.id == user_id).with_for_update()).first()
    if user is None or user.closed_at is not None:
        raise ApiError.not_found("user_not_found", "no open account has this id", "user_id")
    remaining = _remaining_balances(conn, user_id, ledger)
    if remaining:
        raise ApiError.invalid(
            "balance_remaining",
            f"the account still holds money in {', '.join(remaining)}: withdraw it before closing the account",
            status=409,
        )
    now = context.now
    kept_until = now + timedelta(days=retention_days)
    privacy.destroy(conn, user_id, PERSONAL, now=now)
    privacy.schedule_destruction(conn, user_id, RETENTION, after=kept_until)
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(
            email_encrypted=None,
            email_index=None,
            full_name_encrypted=None,
            screening_name_key=None,
            password_hash="-",  # noqa: S106 - no password verifies against it: nobody signs in again
            closed_at=now,
            mfa_secret=None,
            mfa_enabled_at=None,
            mfa_last_step=None,
        )
    )
    session_service.end_every_session(conn, user_id, now=now)
    # Nobody pays a closed account, and it pays nobody: its open requests for money close.
    closed_requests = payment_requests.close_requests_of(conn, user_id, context)
    # The device and address of each session, the user's own notifications and stored answers
    # are theirs alone, and no law asks to keep them.
    conn.execute(sessions.update().where(sessions.c.user_id == user_id).values(user_agent="", ip_address=""))
    conn.execute(notifications.delete().where(notifications.c.user_id == user_id))
    conn.execute(idempotency_keys.delete().where(idempotency_keys.c.user_id == user_id))
    # The second factor's recovery codes, a pending verification code, and the password resets
    # asked for the account or for its address (by its blind index, as they are recorded).
    conn.execute(mfa_recovery_codes.delete().where(mfa_recovery_codes.c.user_id == user_id))
    conn.execute(email_verifications.delete().where(email_verifications.c.user_id == user_id))
    reset_of_user = password_resets.c.user_id == user_id
    if user.email_index is not None:
        reset_of_user = sa.or_(reset_of_user, password_resets.c.email_digest == user.email_index)
    conn.execute(password_resets.delete().where(reset_of_user))
    event_id = record_admin_action(
        conn,
        actor_id=actor_id,
        action="user.erase",
        target_id=user_id,
        context=context,
        reason=reason,
        details={"by": "self" if actor_id == user_id else "operator"},
    )
    erasure = ErasureResponse(id=user_id, status="erased", closed_at=now, records_kept_until=kept_until)
    return erasure, [*closed_requests, event_id]


def shred_expired(
    conn: Connection, *, privacy: PersonalDataVault, documents: DocumentStore, now: datetime
) -> list[str]:
    """Destroy the retention keys whose period has ended (a bounded batch) and delete their users'
    identity documents from the bucket; those users. The files go inside the transaction that
    destroys the keys: if the bucket refuses, nothing is committed and the next run tries again
    (deleting an object that is gone already succeeds)."""
    shredded = privacy.destroy_due(conn, now=now)
    documents_of_shredded = sa.select(kyc_documents.c.object_key).where(kyc_documents.c.user_id.in_(shredded))
    for document in conn.execute(documents_of_shredded):
        documents.delete(document.object_key)
    return shredded
