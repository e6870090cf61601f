# The audit archive: exports of the audit chain, kept for years, never public.
#
# Versioning keeps an overwritten or deleted export recoverable; objects move to Glacier after
# `glacier_after_days` and to Deep Archive after `deep_archive_after_days` because they are read
# only in an investigation; every request must use TLS. Every request to the archive is
# recorded by S3 server access logging in a second bucket of this module, kept as long as the
# archive keeps an overwritten version.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  # Bucket names are global: the account and region make these unique.
  bucket_name      = "${var.bucket_prefix}-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"
  logs_bucket_name = "${var.bucket_prefix}-logs-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"
}

# The key policy hands the key to the account's IAM policies: whoever writes or reads an export
# needs kms:GenerateDataKey or kms:Decrypt on it there.
module "archive_key" {
  source      = "../kms_key"
  description = "${var.bucket_prefix} objects"
  tags        = var.tags
}

# The key moved into the shared module: the same key, not a new one.
moved {
  from = aws_kms_key.archive
  to   = module.archive_key.aws_kms_key.this
}

resource "aws_s3_bucket" "archive" {
  #checkov:skip=CKV_AWS_144:The platform runs in one region; the archive is versioned and the audit table it is exported from has point-in-time recovery. A copy in a second region needs a provider and a key there.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to archive objects: exports are written by a job and read only in an investigation; every request is in the access log.
  bucket        = local.bucket_name
  force_destroy = false
  tags          = merge(var.tags, { data = "audit-archive" })
}

resource "aws_s3_bucket_logging" "archive" {
  bucket        = aws_s3_bucket.archive.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "${aws_s3_bucket.archive.id}/"
}

resource "aws_s3_bucket_ownership_controls" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "archive" {
  bucket = aws_s3_bucket.archive.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "archive" {
  bucket = aws_s3_bucket.archive.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = module.archive_key.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    id     = "to-glacier"
    status = "Enabled"

    filter {}

    transition {
      days          = var.glacier_after_days
      storage_class = "GLACIER"
    }

    transition {
      days          = var.deep_archive_after_days
      storage_class = "DEEP_ARCHIVE"
    }

    noncurrent_version_transition {
      noncurrent_days = var.glacier_after_days
      storage_class   = "GLACIER"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.archive]
}

data "aws_iam_policy_document" "archive" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.archive.arn, "${aws_s3_bucket.archive.arn}/*"]

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

resource "aws_s3_bucket_policy" "archive" {
  bucket = aws_s3_bucket.archive.id
  policy = data.aws_iam_policy_document.archive.json

  depends_on = [aws_s3_bucket_public_access_block.archive]
}

# The access log of the archive. S3 delivers server access logs only to a bucket whose default
# encryption is SSE-S3, so this bucket cannot use the archive's KMS key.
resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket: logging its own requests into itself would log every delivery without end.
  #checkov:skip=CKV_AWS_144:The platform runs in one region, like the archive whose requests these logs record.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to log deliveries; the logs are read in an investigation.
  #checkov:skip=CKV_AWS_145:S3 server access logs are delivered only to a bucket encrypted with SSE-S3, not SSE-KMS.
  bucket        = local.logs_bucket_name
  force_destroy = false
  tags          = merge(var.tags, { data = "audit-archive-access-logs" })
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

    transition {
      days          = var.glacier_after_days
      storage_class = "GLACIER"
    }

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
  # Only S3's log delivery, and only for the archive of this account.
  statement {
    sid       = "AllowArchiveAccessLogDelivery"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/${aws_s3_bucket.archive.id}/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.archive.arn]
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
