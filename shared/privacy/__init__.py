"""Personal data protection: application-level encryption under a per-user data key, a keyed
blind index for e-mail look-ups, and crypto-shredding.

- A user has two data keys (AES-256): `personal` seals their profile (e-mail, name), their
  funding sources' gateway tokens and whatever else names them; `retention` seals what the law
  requires to be kept after an account closes (KYC profile and documents). An erasure destroys
  the personal key at once and the retention key when its period ends.
- Each data key is stored wrapped by a key-encryption key behind a KMS-shaped port
  (`KeyEncryptionKey`): AWS KMS (the services mode through its emulator, AWS in production) or
  a local key file (the embedded mode). Unwrapped keys are cached in-process briefly, so that
  the hot path never calls KMS per request.
- An e-mail address is found through its blind index, an HMAC-SHA256 of its normal form under a
  secret key (`users.email_index`), never by decrypting every row.

See docs/security.md, "Data protection".
"""

from __future__ import annotations

from shared.privacy.blind_index import BlindIndex
from shared.privacy.cipher import SEALED_PREFIX, is_sealed, open_sealed, seal
from shared.privacy.exceptions import KeyEncryptionKeyUnavailable, PersonalDataError
from shared.privacy.key_encryption import KeyEncryptionKey, KmsKeyEncryptionKey, LocalKeyEncryptionKey, write_local_key
from shared.privacy.vault import PERSONAL, PURPOSES, RETENTION, PersonalDataVault

__all__ = [
    "PERSONAL",
    "PURPOSES",
    "RETENTION",
    "SEALED_PREFIX",
    "BlindIndex",
    "KeyEncryptionKey",
    "KeyEncryptionKeyUnavailable",
    "KmsKeyEncryptionKey",
    "LocalKeyEncryptionKey",
    "PersonalDataError",
    "PersonalDataVault",
    "is_sealed",
    "open_sealed",
    "seal",
    "write_local_key",
]
