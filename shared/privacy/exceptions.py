"""What the privacy package raises: broken configuration or dependencies, never an expected
outcome (a destroyed key is an expected outcome: reads answer None)."""

from __future__ import annotations

__all__ = ["KeyEncryptionKeyUnavailable", "PersonalDataError"]


class PersonalDataError(Exception):
    """Sealed personal data could not be opened with the key that should open it: tampering, a
    swapped ciphertext or a wrong key. A bug or an attack, never an expected outcome."""


class KeyEncryptionKeyUnavailable(Exception):
    """The key-encryption key cannot be used (no key file, KMS unreachable or refusing)."""
