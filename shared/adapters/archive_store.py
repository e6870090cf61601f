"""The archive bucket: the audit chain's daily exports and the regulatory reports, in S3,
encrypted with SSE-KMS under the archive's key (shared.adapters.encrypted_bucket says how every
write is encrypted and what a missing bucket or key raises). A write is idempotent: the object's
SHA-256 travels in its metadata, and an object whose stored digest (and metadata) is already the
one being written is left alone, so running an export twice for a day leaves one object and one
version (which matters under object lock, where versions cannot be removed). On AWS the bucket
has object lock in governance mode, versioning and a seven-year retention
(terraform/modules/s3_audit_archive); locally `paystream provision` creates it, private and
encrypted by default with the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.adapters.encrypted_bucket import EncryptedBucket

__all__ = ["DIGEST_METADATA_KEY", "ArchiveObject", "ArchiveStore", "ArchiveStoreMissing"]

# The metadata entry (x-amz-meta-sha256) holding the SHA-256 of the object's bytes.
DIGEST_METADATA_KEY = "sha256"


class ArchiveStoreMissing(RuntimeError):
    """The archive bucket or its KMS key does not exist: the platform is not provisioned."""


@dataclass(frozen=True)
class ArchiveObject:
    """An object as read back, with what S3 says about it."""

    key: str
    data: bytes
    content_type: str
    content_encoding: str | None
    metadata: Mapping[str, str]
    server_side_encryption: str | None
    version_id: str | None


class ArchiveStore(EncryptedBucket):
    """Objects in `bucket`, encrypted under the KMS key `key_id` (an id, ARN or alias)."""

    holds = "the archive"
    missing = ArchiveStoreMissing
    bucket_setting = "PAYSTREAM_AUDIT_ARCHIVE_BUCKET"
    key_setting = "PAYSTREAM_AUDIT_ARCHIVE_KMS_KEY_ID"

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        content_encoding: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> bool:
        """Store `data` under `key` unless the same bytes with the same metadata are there
        already; whether it wrote."""
        wanted = {**(metadata or {}), DIGEST_METADATA_KEY: hashlib.sha256(data).hexdigest()}
        if self.metadata_of(key) == wanted:
            return False
        extra: dict[str, Any] = {"ContentEncoding": content_encoding} if content_encoding else {}
        self._put_object(key, data, content_type=content_type, Metadata=wanted, **extra)
        return True

    def get(self, key: str) -> ArchiveObject | None:
        """The object under `key`, None if there is none."""
        found = self._get_object(key)
        if found is None:
            return None
        data, answer = found
        return ArchiveObject(
            key=key,
            data=data,
            content_type=answer.get("ContentType", "application/octet-stream"),
            content_encoding=answer.get("ContentEncoding"),
            metadata=dict(answer.get("Metadata", {})),
            server_side_encryption=answer.get("ServerSideEncryption"),
            version_id=answer.get("VersionId"),
        )

    def metadata_of(self, key: str) -> dict[str, str] | None:
        """The metadata of the object under `key` (its digest among them), None if there is none."""
        answer = self._head_object(key)
        return None if answer is None else dict(answer.get("Metadata", {}))
