"""Users as others see them named: a counterparty in a history, the other party of a
notification, a reviewer. Names are opened with their owner's personal key (shared.privacy);
an erased user's key is destroyed, and they are named `DELETED_USER_NAME`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.tables import users
from shared.privacy import PersonalDataVault

__all__ = ["DELETED_USER_NAME", "Person", "named", "people"]

# How an erased user is named wherever someone else's data names them.
DELETED_USER_NAME = "a deleted user"


@dataclass(frozen=True)
class Person:
    """A user as others see them named: their name and address, opened; an erased user's are
    `DELETED_USER_NAME` and None."""

    user_id: str
    full_name: str
    email: str | None

    @property
    def erased(self) -> bool:
        return self.email is None


_PEOPLE = sa.select(users.c.id, users.c.email_encrypted, users.c.full_name_encrypted, users.c.closed_at).where(
    users.c.id.in_(sa.bindparam("user_ids", expanding=True))
)


def people(conn: Connection, user_ids: Iterable[str], *, privacy: PersonalDataVault) -> dict[str, Person]:
    """The named users, by id, with their names opened: one query for the rows, one for the
    keys not cached. An id of no user is left out."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    rows = conn.execute(_PEOPLE, {"user_ids": wanted}).all()
    keys = privacy.keys(conn, (row.id for row in rows if row.closed_at is None))
    found = {}
    for row in rows:
        key = keys.get(row.id)
        name = PersonalDataVault.open_with(key, row.id, "full_name", row.full_name_encrypted)
        email = PersonalDataVault.open_with(key, row.id, "email", row.email_encrypted)
        if row.closed_at is not None or name is None or email is None:
            found[row.id] = Person(row.id, DELETED_USER_NAME, None)
        else:
            found[row.id] = Person(row.id, name, email)
    return found


def named(people_by_id: Mapping[str, Person], user_id: str | None) -> str:
    """How `user_id` is named to others: their name, or DELETED_USER_NAME."""
    if user_id is None:
        return DELETED_USER_NAME
    person = people_by_id.get(user_id)
    return DELETED_USER_NAME if person is None else person.full_name
