"""The password policy (PCI DSS 8.3.6, NIST SP 800-63B section 5.1.1.2): what a new password
must be, at sign-up, at a password change and at a reset.

- At least PASSWORD_LENGTH_MIN characters (code points: a character outside ASCII counts once,
  as NIST asks).
- Not a commonly used password: compared case-insensitively (and ignoring the whitespace around
  it) against a list the caller passes (shared.passwords, a bundled list).
- Not containing the user's own e-mail address, its local part, or a part of their name: the
  first thing an attacker who knows the account tries. Parts shorter than
  IDENTITY_PART_LENGTH_MIN, or of digits alone, are not checked, or a one-letter name would
  refuse every password.

No composition rules (a digit, a capital, a symbol) and no expiry: NIST 800-63B advises against
both, as they push people to predictable variations. Pure: no I/O, the list is an argument.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection

__all__ = [
    "IDENTITY_PART_LENGTH_MIN",
    "PASSWORD_LENGTH_MIN",
    "PasswordRule",
    "password_problem",
    "rule_message",
]

PASSWORD_LENGTH_MIN = 12
# The shortest part of an e-mail address or name that a password may not contain.
IDENTITY_PART_LENGTH_MIN = 3
# What separates the parts of a name or of an e-mail's local part ("ada.lovelace", "Jean-Luc").
_PART_SEPARATORS = re.compile(r"[\s._+\-'’@]+")


class PasswordRule(enum.StrEnum):
    """The rule a refused password breaks (the values are what the API's message names)."""

    TOO_SHORT = "too_short"
    COMMON = "common"
    CONTAINS_EMAIL = "contains_email"
    CONTAINS_NAME = "contains_name"


_MESSAGES = {
    PasswordRule.TOO_SHORT: f"the password must be at least {PASSWORD_LENGTH_MIN} characters long",
    PasswordRule.COMMON: "the password is one of the most commonly used passwords",
    PasswordRule.CONTAINS_EMAIL: "the password must not contain your e-mail address",
    PasswordRule.CONTAINS_NAME: "the password must not contain your name",
}


def rule_message(rule: PasswordRule) -> str:
    """What to tell the user about a password refused by `rule`."""
    return _MESSAGES[rule]


def _parts(text: str) -> list[str]:
    """The parts of a name or local part worth checking: long enough, and not digits alone (a
    "123" in an address says nothing about its owner)."""
    return [
        part
        for part in _PART_SEPARATORS.split(text.casefold())
        if len(part) >= IDENTITY_PART_LENGTH_MIN and not part.isdigit()
    ]


def password_problem(
    password: str, *, email: str, full_name: str, common_passwords: Collection[str]
) -> PasswordRule | None:
    """The first rule `password` breaks for the user with this e-mail and name, or None when it
    is acceptable. `common_passwords` holds case-folded passwords."""
    if len(password) < PASSWORD_LENGTH_MIN:
        return PasswordRule.TOO_SHORT
    folded = password.casefold()
    if folded.strip() in common_passwords:
        return PasswordRule.COMMON
    address = email.casefold()
    local_part = address.partition("@")[0]
    email_texts = [address, *([] if local_part.isdigit() else [local_part]), *_parts(local_part)]
    if any(len(text) >= IDENTITY_PART_LENGTH_MIN and text in folded for text in email_texts):
        return PasswordRule.CONTAINS_EMAIL
    name_texts = [*_parts(full_name), "".join(_parts(full_name))]
    if any(len(text) >= IDENTITY_PART_LENGTH_MIN and text in folded for text in name_texts):
        return PasswordRule.CONTAINS_NAME
    return None
