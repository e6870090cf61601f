"""What operators do to users: look them up, grant and revoke roles, freeze and unfreeze
accounts. Every action is recorded
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
from shared.adapters.tables import payments, user_roles, users
from shared.domain.payment import FailureCode, PaymentStatus
from shared.domain.roles import Role, parse_role
from shared.http import ApiError, response_of_row
from shared.ids import new_id
from shared.privacy import BlindIndex, PersonalDataVault
from shared.services.balances import wallet_balances
from shared.services.context import EventContext
from shared.services.identity import find_user, get_user, roles_of
from shared.services.payments import decline_payment
from shared.services.people import DELETED_USER_NAME, Person, people

__all__ = [
    "CLI_ACTOR",
    "admin_view_of_user",
    "freeze_user",
    "grant_role",
    "record_admin_action",
    "revoke_role",
    "unfreeze_user",
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


def user_by_email(conn: Connection, email: str, *, email_index: BlindIndex) -> Any:
    """The user with this e-mail address, or a 404."""
    user = find_user(conn, email, email_index=email_index)
    if user is None:
        raise ApiError.not_found("user_not_found", "no user has this email", "email")
    return user


def admin_view_of_user(
    conn: Connection, user: Any, *, ledger: LedgerStore, privacy: PersonalDataVault
) -> AdminUserResponse:
    """The user as an operator sees them: roles, freeze, wallets and latest payments; an erased
    user as a deleted user."""
    person = people(conn, [user.id], privacy=privacy).get(user.id) or Person(user.id, DELETED_USER_NAME, None)
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
        email=person.email or "",
        full_name=person.full_name,
        roles=sorted(roles_of(conn, user.id)),
        email_verified=user.email_verified_at is not None,
        mfa_enabled=user.mfa_enabled_at is not None,
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


# A payment that has not reached its payee yet (pending, or held for review) is declined when
# either of its parties is frozen.
_UNSETTLED = (PaymentStatus.PENDING.value, PaymentStatus.HELD.value)


def _lock_user(conn: Connection, user_id: str) -> Any:
    user = conn.execute(sa.select(users).where(users.c.id == user_id).with_for_update()).first()
    if user is None:
        raise ApiError.not_found("user_not_found", "the user does not exist", "user_id")
    return user


def freeze_user(
    conn: Connection, *, user_id: str, reason: str, actor_id: str, ledger: LedgerStore, context: EventContext
) -> tuple[Any, list[str]]:
    """Freeze an account: it still signs in and reads, and it can no longer send, withdraw or
    receive. Its payments not settled yet, sent or received, are declined `account_frozen`, the
    funds held for them returned.

    The user's row is locked first, then the payments in id order, as the saga locks a payer
    before their payment: a payment being scored is declined here once its scoring commits, or
    its scoring sees the freeze. decline_payment voids each hold once, whoever gets there first
    (a reviewer, the sweeper, this freeze). Freezing a frozen account keeps its first reason and
    time, declines what is left and is recorded again."""
    user = _lock_user(conn, user_id)
    if user.frozen_at is None:
        conn.execute(users.update().where(users.c.id == user.id).values(frozen_at=context.now, frozen_reason=reason))
    unsettled: list[str] = list(
        conn.execute(
            sa.select(payments.c.id)
            .where(
                sa.or_(payments.c.payer_id == user.id, payments.c.payee_id == user.id),
                payments.c.status.in_(_UNSETTLED),
            )
            .order_by(payments.c.id)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    recorded: list[str] = []
    for payment_id in unsettled:
        recorded += decline_payment(
            conn, payment_id, code=FailureCode.ACCOUNT_FROZEN, ledger=ledger, context=context, decided_by=actor_id
        )
    recorded.append(
        record_admin_action(
            conn,
            actor_id=actor_id,
            action="user.freeze",
            target_id=user.id,
            context=context,
            reason=reason,
            details={"payments_declined": str(len(unsettled))},
        )  # fmt: skip
    )
    return get_user(conn, user.id), recorded


def unfreeze_user(
    conn: Connection, *, user_id: str, actor_id: str, context: EventContext, reason: str | None = None
) -> tuple[Any, list[str]]:
    """Lift a freeze: the account sends, withdraws and receives again (the payments declined
    while it was frozen stay declined). Unfreezing an account that is not frozen changes
    nothing, and is recorded nonetheless."""
    user = _lock_user(conn, user_id)
    if user.frozen_at is not None:
        conn.execute(users.update().where(users.c.id == user.id).values(frozen_at=None, frozen_reason=None))
    event_id = record_admin_action(
        conn, actor_id=actor_id, action="user.unfreeze", target_id=user.id, context=context, reason=reason
    )
    return get_user(conn, user.id), [event_id]
