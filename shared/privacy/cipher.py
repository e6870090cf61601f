"""AES-256-GCM sealing of one text value.

A sealed value is text, `pd1:` and the URL-safe base64 of a 96-bit random nonce followed by the
ciphertext and its 128-bit tag. The associated data names what the value is (the owner's id
and the field), so a sealed value moved to another row or another column does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.privacy.exceptions import PersonalDataError

__all__ = ["DATA_KEY_BYTES", "SEALED_PREFIX", "is_sealed", "open_sealed", "seal"]

SEALED_PREFIX = "pd1:"
DATA_KEY_BYTES = 32
NONCE_BYTES = 12
# A sealed field holds at most this much text (a KYC address line, a notification body).
PLAINTEXT_BYTES_MAX = 4096


def seal(key: bytes, plaintext: str, *, context: str) -> str:
    """`plaintext` encrypted under `key`, bound to `context` (e.g. "usr_1:email")."""
    data = plaintext.encode()
    if len(data) > PLAINTEXT_BYTES_MAX:
        raise ValueError(f"a sealed value holds at most {PLAINTEXT_BYTES_MAX} bytes")
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, data, context.encode())
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def open_sealed(key: bytes, sealed: str, *, context: str) -> str:
    """The plaintext of a value `seal` made with the same key and context; PersonalDataError
    when it was made with another key or context, or altered."""
    if not is_sealed(sealed):
        raise PersonalDataError("not a sealed value")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(SEALED_PREFIX) :].encode("ascii"))
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
    except (InvalidTag, ValueError) as error:
        raise PersonalDataError(f"a sealed value for {context.split(':')[-1]} does not open") from error


def is_sealed(value: object) -> bool:
    """Whether `value` is a sealed value (text that `seal` made)."""
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)
