"""Roles: what an account may do besides moving its own money.

Every account is a `user`. Operators hold one or more of the operator roles as well:

- `support` works the review queues (held payments, KYC documents) and looks up and freezes users;
- `admin` does what support does, and manages roles, limits and fraud thresholds, and reads the
  audit trail and the reports;
- `auditor` reads: the queues, users, roles, limits and thresholds, the audit trail and the
  reports, but decides and changes nothing.

No role moves money by hand: an operator's decision resumes or ends a saga, whose steps move it.
Each admin route declares the roles it admits (schemas.routes.admin); docs/operators.md has the
matrix.
"""

from __future__ import annotations

import enum

__all__ = ["OPERATOR_ROLES", "Role", "parse_role"]


class Role(str, enum.Enum):
    USER = "user"
    SUPPORT = "support"
    ADMIN = "admin"
    AUDITOR = "auditor"


# The roles stored per account (`user` is implicit: every account has it).
OPERATOR_ROLES: frozenset[Role] = frozenset({Role.SUPPORT, Role.ADMIN, Role.AUDITOR})


def parse_role(text: str) -> Role:
    """The operator role named `text`; ValueError names the known ones otherwise."""
    try:
        role = Role(text)
    except ValueError:
        role = None
    if role not in OPERATOR_ROLES:
        known = ", ".join(sorted(role.value for role in OPERATOR_ROLES))
        raise ValueError(f"{text!r} is not an operator role; known: {known}")
    return role
