"""What operators do to users: look them up, grant and revoke roles. Every action is recorded
as an `admin.action_taken` event naming the actor, in the transaction that makes the change, so
the audit trail holds who did what, to which entity, and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.api import PaymentResponse
from schemas.events import AdminActionTaken
from schemas.operators import ADMIN_USER_PAYMENTS_MAX, AdminUserResponse
from shared.adapters.ledger_store import LedgerStore
from shared.adapters.tables import payments, user_roles
from shared.domain.roles import Role, parse_role
from shared.http import ApiError, response_of_row
from shared.ids import new_id
from shared.services.balances import wallet_balances
from shared.services.context import EventContext
from shared.services.identity import find_user, get_user, roles_of

__all__ = [
    "CLI_ACTOR",
    "admin_view_of_user",
    "grant_role",
    "record_admin_action",
    "revoke_role",
    "user_by_email",
]

# The actor of an action taken from the command line against the database (the first admin).
CLI_ACTOR = "paystream-cli"


def record_admin_action(
    conn: Connection,
    *,
    actor_id: str,
    action: str,
    target_id: str,
    context: EventContext,
    reason: str | None = None,
    details: Mapping[str, str] | None = None,
) -> str:
    """Record that `actor_id` did `action` to `target_id`; the event's id."""
    action_id = new_id("adm")
    return context.record(
        conn,
        event_type="admin.action_taken",
        subject=action_id,
        payload=AdminActionTaken(
            action_id=action_id,
            actor_id=actor_id,
            action=action,
            target_id=target_id,
            reason=reason,
            details=dict(details or {}),
        ),
    )


def user_by_email(conn: Connection, email: str) -> Any:
    """The user with this e-mail address, or a 404."""
    user = find_user(conn, email)
    if user is None:
        raise ApiError.not_found("user_not_found", "no user has this email", "email")
    return user


def admin_view_of_user(conn: Connection, user: Any, *, ledger: LedgerStore) -> AdminUserResponse:
    """The user as an operator sees them: roles, freeze, wallets and latest payments."""
    wallets = wallet_balances(conn, user.id, ledger=ledger)
    latest = conn.execute(
        sa.select(payments)
        .where(sa.or_(payments.c.payer_id == user.id, payments.c.payee_id == user.id))
        .order_by(payments.c.created_at.desc(), payments.c.id.desc())
        .limit(ADMIN_USER_PAYMENTS_MAX)
    )
    return response_of_row(
        AdminUserResponse,
        user,
        roles=sorted(roles_of(conn, user.id)),
        wallets=wallets,
        payments=[response_of_row(PaymentResponse, row) for row in latest],
    )


def grant_role(
    conn: Connection, *, user_id: str, role: str, actor_id: str, context: EventContext, reason: str | None = None
) -> tuple[Any, list[str]]:
    """Give the user an operator role (a role already held is granted again as a no-op, and
    recorded nonetheless: the request was made)."""
    granted = _operator_role(role)
    user = get_user(conn, user_id)
    exists = conn.execute(
        sa.select(user_roles.c.role).where(user_roles.c.user_id == user.id, user_roles.c.role == granted.value)
    ).first()
    if exists is None:
        conn.execute(
            user_roles.insert().values(
                user_id=user.id,
                role=granted.value,
                granted_by=None if actor_id == CLI_ACTOR else actor_id,
                granted_at=context.now,
            )
        )
    event_id = record_admin_action(
        conn, actor_id=actor_id, action="role.grant", target_id=user.id, context=context, reason=reason,
        details={"role": granted.value},
    )  # fmt: skip
    return user, [event_id]


def revoke_role(
    conn: Connection, *, user_id: str, role: str, actor_id: str, context: EventContext, reason: str | None = None
) -> tuple[Any, list[str]]:
    """Take an operator role away; it stops working at the user's next call. An admin cannot
    revoke their own admin role, so that the platform keeps one."""
    revoked = _operator_role(role)
    user = get_user(conn, user_id)
    if revoked is Role.ADMIN and user.id == actor_id:
        raise ApiError.invalid("cannot_revoke_own_admin", "an admin cannot revoke their own admin role", "role", 409)
    conn.execute(user_roles.delete().where(user_roles.c.user_id == user.id, user_roles.c.role == revoked.value))
    event_id = record_admin_action(
        conn, actor_id=actor_id, action="role.revoke", target_id=user.id, context=context, reason=reason,
        details={"role": revoked.value},
    )  # fmt: skip
    return user, [event_id]


def _operator_role(text: str) -> Role:
    try:
        return parse_role(text)
    except ValueError as error:
        raise ApiError.invalid("role_unknown", str(error), "role") from None
