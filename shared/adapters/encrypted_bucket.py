"""An S3 bucket whose every object is encrypted with SSE-KMS under one key: what the KYC
documents store and the audit archive have in common.

Every object is written with `ServerSideEncryption="aws:kms"` and the key's ARN, whatever the
bucket's default encryption says, so a bucket configured otherwise still never holds an object
encrypted some other way. The key is named by a setting (an id, an ARN or an alias) and resolved
to its ARN once, on first use, with `kms:DescribeKey`: a key that does not exist or is disabled,
or a bucket that does not exist, raises the store's own `missing` error saying which and how to
create it, never an object stored unencrypted or a silent failure. (LocalStack's S3 accepts any
key id without looking it up, so the check has to be ours.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any, ClassVar

from botocore.exceptions import ClientError

__all__ = ["EncryptedBucket"]

# What S3 answers for a bucket or an object that does not exist, and KMS for a key that does not.
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket"})
_MISSING_KEY_CODES = frozenset({"NotFoundException"})
_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_SERVER_SIDE_ENCRYPTION = "aws:kms"
_PROVISION_HINT = "run `paystream provision` (locally) or Terraform (on AWS), or set"


class EncryptedBucket:
    """Objects in `bucket`, encrypted under the KMS key `key_id` (an id, ARN or alias).

    `client` builds a boto3 client of a service; the S3 and KMS clients are built on first use,
    so that the many functions that never touch the bucket do not pay for them at cold start.
    A subclass names what it holds (`holds`, for messages), the error it raises when the bucket
    or key is missing, and the settings that name them.
    """

    holds: ClassVar[str]
    missing: ClassVar[type[RuntimeError]]
    bucket_setting: ClassVar[str]
    key_setting: ClassVar[str]

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
        """The ARN of the bucket's KMS key, looked up once; `missing` if the key does not exist
        or is disabled."""
        if self._key_arn is None:
            with self._lock:
                if self._key_arn is None:
                    self._key_arn = self._describe_key()
        return self._key_arn

    def _describe_key(self) -> str:
        try:
            metadata = self._kms.describe_key(KeyId=self._key_id)["KeyMetadata"]
        except ClientError as error:
            if _code(error) in _MISSING_KEY_CODES:
                raise self.missing(
                    f"the KMS key {self._key_id!r} of {self.holds} does not exist: {_PROVISION_HINT} {self.key_setting}"
                ) from error
            raise
        if not metadata.get("Enabled", False):
            raise self.missing(f"the KMS key {self._key_id!r} of {self.holds} is disabled")
        return str(metadata["Arn"])

    def _put_object(self, key: str, data: bytes, *, content_type: str, **extra: Any) -> None:
        """Put `data` under `key`, encrypted under the bucket's key; `extra` are put_object's
        other arguments (metadata, content encoding)."""
        key_arn = self.key_arn()
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ServerSideEncryption=_SERVER_SIDE_ENCRYPTION,
                SSEKMSKeyId=key_arn,
                **extra,
            )
        except ClientError as error:
            self._raise_if_bucket_missing(error)
            raise

    def _get_object(self, key: str) -> tuple[bytes, dict[str, Any]] | None:
        """The bytes under `key` and S3's answer about them; None if there is no such object."""
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            self._raise_if_bucket_missing(error)
            if _code(error) in _MISSING_OBJECT_CODES:
                return None
            raise
        with answer["Body"] as body:
            return body.read(), answer

    def _head_object(self, key: str) -> dict[str, Any] | None:
        """S3's answer about the object under `key`, without its bytes; None if there is none."""
        try:
            return dict(self._s3.head_object(Bucket=self.bucket, Key=key))
        except ClientError as error:
            self._raise_if_bucket_missing(error)
            if _code(error) in _MISSING_OBJECT_CODES:
                return None
            raise

    def _raise_if_bucket_missing(self, error: ClientError) -> None:
        if _code(error) in _MISSING_BUCKET_CODES:
            raise self.missing(
                f"the bucket {self.bucket!r} of {self.holds} does not exist: {_PROVISION_HINT} {self.bucket_setting}"
            ) from error


def _code(error: ClientError) -> str | None:
    return error.response.get("Error", {}).get("Code")
