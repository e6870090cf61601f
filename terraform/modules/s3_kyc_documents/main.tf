# The KYC documents: identity documents users upload (passports, identity cards, driving
# licences), personal data of the most sensitive kind, never public.
#
# Every object is encrypted with SSE-KMS under this module's key (the bucket's default, and the
# `accounts` function names the key on every write as well); every request must use TLS; each is
# recorded by S3 server access logging in a second bucket of this module. Versioning keeps an
# overwritten or deleted document recoverable for `noncurrent_expiration_days`. Only `accounts`
# writes documents and only `admin` reads them (terraform/modules/iam_irsa).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  # Bucket names are global: the account and region make these unique. The platform is told the
  # documents bucket's name (PAYSTREAM_KYC_DOCUMENTS_BUCKET in the EKS overlay).
  bucket_name      = "${var.bucket_prefix}-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"
  logs_bucket_name = "${var.bucket_prefix}-logs-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"
}

# The key policy hands the key to the account's IAM policies: whoever writes or reads a document
# needs kms:GenerateDataKey or kms:Decrypt on it there.
module "documents_key" {
  source      = "../kms_key"
  description = "${var.bucket_prefix} objects"
  tags        = var.tags
}

# The platform finds the key by this alias (PAYSTREAM_KYC_DOCUMENTS_KMS_KEY_ID's default).
resource "aws_kms_alias" "documents" {
  name          = var.key_alias
  target_key_id = module.documents_key.key_id
}

resource "aws_s3_bucket" "documents" {
  #checkov:skip=CKV_AWS_144:The platform runs in one region; documents are versioned, and a copy in a second region needs a provider and a key there.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to document uploads: verify-kyc is driven by the kyc.submitted event, recorded with the document.
  bucket        = local.bucket_name
  force_destroy = false
  tags          = merge(var.tags, { data = "kyc-documents" })
}

resource "aws_s3_bucket_logging" "documents" {
  bucket        = aws_s3_bucket.documents.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "${aws_s3_bucket.documents.id}/"
}

resource "aws_s3_bucket_ownership_controls" "documents" {
  bucket = aws_s3_bucket.documents.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "documents" {
  bucket = aws_s3_bucket.documents.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "documents" {
  bucket = aws_s3_bucket.documents.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "documents" {
  bucket = aws_s3_bucket.documents.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = module.documents_key.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "documents" {
  bucket = aws_s3_bucket.documents.id

  rule {
    id     = "documents"
    status = "Enabled"

    filter {}

    # A document is read when support reviews it, within days of its upload, then rarely.
    transition {
      days          = var.infrequent_access_after_days
      storage_class = "STANDARD_IA"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.documents]
}

data "aws_iam_policy_document" "documents" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.documents.arn, "${aws_s3_bucket.documents.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # A document is never stored under any other encryption, whoever writes it.
  statement {
    sid       = "DenyObjectsNotEncryptedWithTheKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.documents.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEquals"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [module.documents_key.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "documents" {
  bucket = aws_s3_bucket.documents.id
  policy = data.aws_iam_policy_document.documents.json

  depends_on = [aws_s3_bucket_public_access_block.documents]
}

# The access log of the documents. S3 delivers server access logs only to a bucket whose default
# encryption is SSE-S3, so this bucket cannot use the documents' KMS key.
resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket: logging its own requests into itself would log every delivery without end.
  #checkov:skip=CKV_AWS_144:The platform runs in one region, like the documents whose requests these logs record.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to log deliveries; the logs are read in an investigation.
  #checkov:skip=CKV_AWS_145:S3 server access logs are delivered only to a bucket encrypted with SSE-S3, not SSE-KMS.
  bucket        = local.logs_bucket_name
  force_destroy = false
  tags          = merge(var.tags, { data = "kyc-documents-access-logs" })
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket = aws_s3_bucket.logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

data "aws_iam_policy_document" "logs" {
  # Only S3's log delivery, and only for the documents bucket of this account.
  statement {
    sid       = "AllowDocumentsAccessLogDelivery"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/${aws_s3_bucket.documents.id}/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.documents.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}
