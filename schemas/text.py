"""Text that people type, made safe to compare, store and show.

An e-mail address is compared in one spelling only (`normalise_email`): NFKC folds the
compatibility forms (a full-width `ａ`, a ligature `ﬁ`) into their plain letters, and case-folding
goes further than lower-casing (`ß` is `ss`). So `ＡLICE@example.com` and `alice@example.com` are
one account, and nobody can sign up as a look-alike of another user.

A name is refused when it holds a control character or a bidirectional control (`refuse_unsafe_
text`): a right-to-left override shown in a payee's name or in a statement can make `gpj.exe`
read as `exe.jpg`, or hide the start of a name.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

__all__ = [
    "BIDI_CONTROLS",
    "iso_datetime_text",
    "normalise_email",
    "normalise_email_or_id",
    "refuse_unsafe_text",
]

# The bidirectional formatting characters of Unicode (UAX #9): embeddings, overrides, isolates
# and the implicit marks.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ISO_DATE_START = re.compile(r"^\d{4}-\d{2}-\d{2}")


def normalise_email(address: str) -> str:
    """The one spelling an e-mail address is stored, looked up and compared in: NFKC, then
    case-folded, without surrounding spaces."""
    return unicodedata.normalize("NFKC", address).casefold().strip()


def normalise_email_or_id(value: str) -> str:
    """A party named by e-mail address (normalised) or by user id (as it is)."""
    value = value.strip()
    return normalise_email(value) if "@" in value else value


def refuse_unsafe_text(value: str) -> str:
    """`value` unchanged, or ValueError when it holds a control character or a bidirectional
    control."""
    for character in value:
        if character in BIDI_CONTROLS or unicodedata.category(character) == "Cc":
            raise ValueError("must not contain control characters or bidirectional controls")
    return value


def iso_datetime_text(value: Any) -> Any:
    """A date-time given as ISO 8601 text, left for the datetime type to parse; anything else (a
    number such as `0.5`, which pydantic would read as seconds since 1970) is a ValueError."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE_START.match(value.strip()):
        raise ValueError("must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z")
    return value
