"""The key-encryption key, behind a KMS-shaped port: it makes data keys and unwraps them.

- `KmsKeyEncryptionKey`: AWS KMS (`GenerateDataKey`, `Decrypt`) under a key alias, with an
  encryption context that names the purpose, so a wrapped key made for another use does not
  unwrap here. In production, AWS; in the services mode, the local AWS endpoint.
- `LocalKeyEncryptionKey`: a 256-bit key in a file (mode 0600), for the embedded mode, which
  runs without any AWS account. It wraps with AES-256-GCM, as KMS would.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.privacy.cipher import DATA_KEY_BYTES, NONCE_BYTES
from shared.privacy.exceptions import KeyEncryptionKeyUnavailable, PersonalDataError

__all__ = ["KeyEncryptionKey", "KmsKeyEncryptionKey", "LocalKeyEncryptionKey", "write_local_key"]

_CONTEXT = {"purpose": "paystream-personal-data"}
_LOCAL_PREFIX = "local1:"
_KMS_PREFIX = "kms1:"


class KeyEncryptionKey(Protocol):
    """What wraps the data keys: KMS-shaped."""

    def generate_data_key(self) -> tuple[bytes, str]:
        """A new 256-bit data key: (the key, the key wrapped, as text to store)."""
        ...

    def unwrap(self, wrapped: str) -> bytes:
        """The data key `wrapped` stands for."""
        ...


class KmsKeyEncryptionKey:
    """AWS KMS under `key_id` (an id, ARN, alias or alias ARN). The client is built on first use."""

    def __init__(self, client_factory: Any, key_id: str) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()
        self.key_id = key_id

    def _kms(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._client_factory("kms")
        return self._client

    def generate_data_key(self) -> tuple[bytes, str]:
        try:
            answer = self._kms().generate_data_key(KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=_CONTEXT)
        except (BotoCoreError, ClientError) as error:
            raise KeyEncryptionKeyUnavailable(f"KMS key {self.key_id}: {error}") from error
        wrapped = _KMS_PREFIX + base64.b64encode(answer["CiphertextBlob"]).decode("ascii")
        return bytes(answer["Plaintext"]), wrapped

    def unwrap(self, wrapped: str) -> bytes:
        if not wrapped.startswith(_KMS_PREFIX):
            raise PersonalDataError("a data key wrapped by another kind of key-encryption key")
        blob = base64.b64decode(wrapped[len(_KMS_PREFIX) :])
        try:
            answer = self._kms().decrypt(CiphertextBlob=blob, KeyId=self.key_id, EncryptionContext=_CONTEXT)
        except (BotoCoreError, ClientError) as error:
            raise KeyEncryptionKeyUnavailable(f"KMS key {self.key_id}: {error}") from error
        return bytes(answer["Plaintext"])


class LocalKeyEncryptionKey:
    """A 256-bit key-encryption key read from a file (base64), on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._key: bytes | None = None

    def _aead(self) -> AESGCM:
        if self._key is None:
            try:
                key = base64.b64decode(self.path.read_text().strip(), validate=True)
            except (OSError, ValueError) as error:
                raise KeyEncryptionKeyUnavailable(f"the key file {self.path} cannot be read: {error}") from error
            if len(key) != DATA_KEY_BYTES:
                raise KeyEncryptionKeyUnavailable(f"the key file {self.path} does not hold a 256-bit key")
            self._key = key
        return AESGCM(self._key)

    def generate_data_key(self) -> tuple[bytes, str]:
        key = secrets.token_bytes(DATA_KEY_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        wrapped = self._aead().encrypt(nonce, key, _CONTEXT["purpose"].encode())
        return key, _LOCAL_PREFIX + base64.b64encode(nonce + wrapped).decode("ascii")

    def unwrap(self, wrapped: str) -> bytes:
        if not wrapped.startswith(_LOCAL_PREFIX):
            raise PersonalDataError("a data key wrapped by another kind of key-encryption key")
        raw = base64.b64decode(wrapped[len(_LOCAL_PREFIX) :])
        try:
            return self._aead().decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _CONTEXT["purpose"].encode())
        except InvalidTag as error:
            raise PersonalDataError(f"a data key does not unwrap with the key file {self.path}") from error


def write_local_key(path: Path) -> None:
    """Write a new random key-encryption key to `path` (mode 0600) unless one is there."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(base64.b64encode(secrets.token_bytes(DATA_KEY_BYTES)).decode("ascii") + "\n")
