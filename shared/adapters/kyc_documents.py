"""The store of KYC identity documents: an S3 bucket whose objects are encrypted with SSE-KMS
under the platform's key.

Every object is written with `ServerSideEncryption="aws:kms"` and the key's ARN, whatever the
bucket's default encryption says, so a bucket configured otherwise still never holds a document
encrypted some other way. The key is named by a setting (an id, an ARN or an alias) and resolved
to its ARN once, on first use, with `kms:DescribeKey`: a key that does not exist, or a bucket
that does not, is a `DocumentStoreMissing` that says which and how to create it, never a
document stored unencrypted or a silent failure. (LocalStack's S3 accepts any key id without
looking it up, so the check has to be ours.)

Objects are read back only through the `admin` function, for support and admins: the local
modes' S3 endpoint is not one a browser reaches, and a presigned URL would outlive the role
check that let an operator see it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

__all__ = ["DocumentStore", "DocumentStoreMissing", "StoredDocument", "object_key_of"]

# What S3 answers for a bucket that does not exist, and KMS for a key that does not.
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket"})
_MISSING_KEY_CODES = frozenset({"NotFoundException"})
_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404"})
_SERVER_SIDE_ENCRYPTION = "aws:kms"


class DocumentStoreMissing(RuntimeError):
    """The documents bucket or its KMS key does not exist: the platform is not provisioned."""


@dataclass(frozen=True)
class StoredDocument:
    """A document's bytes as read back, with what S3 says about them."""

    data: bytes
    content_type: str
    server_side_encryption: str | None
    kms_key_id: str | None


def object_key_of(user_id: str, document_id: str) -> str:
    """Where a user's document lives in the bucket."""
    return f"documents/{user_id}/{document_id}"


class DocumentStore:
    """Identity documents in `bucket`, encrypted under the KMS key `key_id`.

    `client` builds a boto3 client of a service; the S3 and KMS clients are built on first use,
    so that the many functions that never touch a document do not pay for them at cold start."""

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
        """The ARN of the documents' KMS key, looked up once; DocumentStoreMissing if it does not
        exist or is disabled."""
        if self._key_arn is None:
            with self._lock:
                if self._key_arn is None:
                    self._key_arn = self._describe_key()
        return self._key_arn

    def _describe_key(self) -> str:
        try:
            metadata = self._kms.describe_key(KeyId=self._key_id)["KeyMetadata"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING_KEY_CODES:
                raise DocumentStoreMissing(
                    f"the KMS key {self._key_id!r} of the KYC documents does not exist: run "
                    "`paystream provision` (locally) or Terraform (on AWS), or set "
                    "PAYSTREAM_KYC_DOCUMENTS_KMS_KEY_ID"
                ) from error
            raise
        if not metadata.get("Enabled", False):
            raise DocumentStoreMissing(f"the KMS key {self._key_id!r} of the KYC documents is disabled")
        return str(metadata["Arn"])

    def put(self, object_key: str, data: bytes, *, content_type: str) -> None:
        """Store `data` under `object_key`, encrypted with SSE-KMS under the documents' key."""
        key_arn = self.key_arn()
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=object_key,
                Body=data,
                ContentType=content_type,
                ServerSideEncryption=_SERVER_SIDE_ENCRYPTION,
                SSEKMSKeyId=key_arn,
            )
        except ClientError as error:
            self._raise_if_bucket_missing(error)
            raise

    def get(self, object_key: str) -> StoredDocument:
        """The stored document; DocumentStoreMissing if the bucket or the object is gone."""
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=object_key)
        except ClientError as error:
            self._raise_if_bucket_missing(error)
            if error.response.get("Error", {}).get("Code") in _MISSING_OBJECT_CODES:
                raise DocumentStoreMissing(f"the KYC document {object_key!r} is missing from {self.bucket}") from error
            raise
        with answer["Body"] as body:
            data = body.read()
        return StoredDocument(
            data=data,
            content_type=answer.get("ContentType", "application/octet-stream"),
            server_side_encryption=answer.get("ServerSideEncryption"),
            kms_key_id=answer.get("SSEKMSKeyId"),
        )

    def delete(self, object_key: str) -> None:
        """Remove an object (a document whose record could not be written)."""
        self._s3.delete_object(Bucket=self.bucket, Key=object_key)

    def _raise_if_bucket_missing(self, error: ClientError) -> None:
        if error.response.get("Error", {}).get("Code") in _MISSING_BUCKET_CODES:
            raise DocumentStoreMissing(
                f"the KYC documents bucket {self.bucket!r} does not exist: run `paystream provision` "
                "(locally) or Terraform (on AWS), or set PAYSTREAM_KYC_DOCUMENTS_BUCKET"
            ) from error
