"""The keyed blind index of e-mail addresses: how an address is found without decrypting rows.

The index of an address is HMAC-SHA256 of its normal form (schemas.text.normalise_email) under
a secret key of its own (PAYSTREAM_PERSONAL_DATA_INDEX_KEY). Without the key, the index of a
guessed address cannot be computed, so a copy of the database does not tell whether someone
has an account. Only the functions that look users up by address hold the key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from schemas.text import normalise_email

__all__ = ["BlindIndex"]


class BlindIndex:
    """Computes the blind index of e-mail addresses. The key is read on first use, so a
    function that never looks an address up never needs it (`key_source` raises when unset)."""

    def __init__(self, key_source: Callable[[], bytes]) -> None:
        self._key_source = key_source
        self._key: bytes | None = None

    def email(self, address: str) -> str:
        """The index of `address`: 64 hexadecimal digits, the same for every spelling of it."""
        if self._key is None:
            self._key = self._key_source()
        return hmac.new(self._key, normalise_email(address).encode(), hashlib.sha256).hexdigest()
