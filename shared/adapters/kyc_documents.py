"""The store of KYC identity documents: an S3 bucket whose objects are encrypted with SSE-KMS
under the platform's key (shared.adapters.encrypted_bucket says how every write is encrypted and
what a missing bucket or key raises).

Objects are read back only through the `admin` function, for support and admins: the local
modes' S3 endpoint is not one a browser reaches, and a presigned URL would outlive the role
check that let an operator see it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.adapters.encrypted_bucket import EncryptedBucket

__all__ = ["DocumentStore", "DocumentStoreMissing", "StoredDocument", "object_key_of"]


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


class DocumentStore(EncryptedBucket):
    """Identity documents in `bucket`, encrypted under the KMS key `key_id`."""

    holds = "the KYC documents"
    missing = DocumentStoreMissing
    bucket_setting = "PAYSTREAM_KYC_DOCUMENTS_BUCKET"
    key_setting = "PAYSTREAM_KYC_DOCUMENTS_KMS_KEY_ID"

    def put(self, object_key: str, data: bytes, *, content_type: str) -> None:
        """Store `data` under `object_key`, encrypted with SSE-KMS under the documents' key."""
        self._put_object(object_key, data, content_type=content_type)

    def get(self, object_key: str) -> StoredDocument:
        """The stored document; DocumentStoreMissing if the bucket or the object is gone."""
        found = self._get_object(object_key)
        if found is None:
            raise DocumentStoreMissing(f"the KYC document {object_key!r} is missing from {self.bucket}")
        data, answer = found
        return StoredDocument(
            data=data,
            content_type=answer.get("ContentType", "application/octet-stream"),
            server_side_encryption=answer.get("ServerSideEncryption"),
            kms_key_id=answer.get("SSEKMSKeyId"),
        )

    def delete(self, object_key: str) -> None:
        """Remove an object: a document whose record could not be written, or one whose retention
        period has ended."""
        self._s3.delete_object(Bucket=self.bucket, Key=object_key)
