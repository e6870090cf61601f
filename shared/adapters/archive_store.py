"""The archive bucket: the audit chain's daily exports and the regulatory reports, in S3,
encrypted with SSE-KMS under the archive's key.

Every object is written with `ServerSideEncryption="aws:kms"` and the key's ARN, whatever the
bucket's default says. A write is idempotent: the object's SHA-256 travels in its metadata, and
an object whose stored digest (and metadata) is already the one being written is left alone, so
running an export twice for a day leaves one object and one version (which matters under
object lock, where versions cannot be removed). On AWS the bucket has object lock in governance
mode, versioning and a seven-year retention (terraform/modules/s3_audit_archive); locally
`paystream provision` creates it, private and encrypted by default with the key.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

__all__ = ["ArchiveObject", "ArchiveStore", "ArchiveStoreMissing", "DIGEST_METADATA_KEY"]

# The metadata entry (x-amz-meta-sha256) holding the SHA-256 of the object's bytes.
DIGEST_METADATA_KEY = "sha256"
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket"})
_MISSING_KEY_CODES = frozenset({"NotFoundException"})
_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_SERVER_SIDE_ENCRYPTION = "aws:kms"


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


class ArchiveStore:
    """Objects in `bucket`, encrypted under the KMS key `key_id` (an id, ARN or alias).

    `client` builds a boto3 client of a service; S3 and KMS clients are built on first use."""

    def __init__(self, client: Callable[[str], Any], *, bucket: str, key_id: str) -> None:
        self._client = client
        self.bucket = bucket
        self._key_id = key_id
        self._key_arn: str | None = None
        self._lock = threading.Lock()

    @cached_property
    def _s3(self) -> Any:
        return self._client("s3")

    @cached_property
    def _kms(self) -> Any:
        return self._client("kms")

    def key_arn(self) -> str:
        """The archive key's ARN, looked up once; ArchiveStoreMissing if there is no such key."""
        if self._key_arn is None:
            with self._lock:
                if self._key_arn is None:
                    try:
                        metadata = self._kms.describe_key(KeyId=self._key_id)["KeyMetadata"]
                    except ClientError as error:
                        if error.response.get("Error", {}).get("Code") in _MISSING_KEY_CODES:
                            raise ArchiveStoreMissing(
                                f"the archive's KMS key {self._key_id!r} does not exist: run `paystream "
                                "provision` (locally) or Terraform (on AWS), or set PAYSTREAM_ARCHIVE_KMS_KEY_ID"
                            ) from error
                        raise
                    self._key_arn = str(metadata["Arn"])
        return self._key_arn

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
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                Metadata=wanted,
                ServerSideEncryption=_SERVER_SIDE_ENCRYPTION,
                SSEKMSKeyId=self.key_arn(),
                **extra,
            )
        except ClientError as error:
            self._raise_if_bucket_missing(error)
            raise
        return True

    def get(self, key: str) -> ArchiveObject | None:
        """The object under `key`, None if there is none."""
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            self._raise_if_bucket_missing(error)
            if error.response.get("Error", {}).get("Code") in _MISSING_OBJECT_CODES:
                return None
            raise
        with answer["Body"] as body:
            data = body.read()
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
        try:
            answer = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            self._raise_if_bucket_missing(error)
            if error.response.get("Error", {}).get("Code") in _MISSING_OBJECT_CODES:
                return None
            raise
        return dict(answer.get("Metadata", {}))

    def _raise_if_bucket_missing(self, error: ClientError) -> None:
        if error.response.get("Error", {}).get("Code") in _MISSING_BUCKET_CODES:
            raise ArchiveStoreMissing(
                f"the archive bucket {self.bucket!r} does not exist: run `paystream provision` (locally) "
                "or Terraform (on AWS), or set PAYSTREAM_ARCHIVE_BUCKET"
            ) from error
