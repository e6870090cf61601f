# A private bucket of the platform's data, encrypted with SSE-KMS under a key of its own, and the
# bucket that records every request to it: what the audit archive and the KYC documents share.
#
# Every request must use TLS; the bucket owner owns every object; versioning keeps an overwritten
# or deleted object recoverable; S3 server access logging writes each request to the logs
# bucket, which S3 can deliver to only under SSE-S3. Optionally, the key gets an alias the
# platform finds it by, writes that name another key are refused, and object lock keeps each
# version for a retention period.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  # Bucket names are global: the account and region make these unique.
  bucket_name      = "${var.bucket_prefix}-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"
  logs_bucket_name = "${var.bucket_prefix}-logs-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"
  object_lock      = var.object_lock_retention_days != null
}

# The key policy hands the key to the account's IAM policies: whoever writes or reads an object
# needs kms:GenerateDataKey or kms:Decrypt on it there.
module "key" {
  source      = "../kms_key"
  description = "${var.bucket_prefix} objects"
  tags        = var.tags
}

resource "aws_kms_alias" "this" {
  count         = var.key_alias == null ? 0 : 1
  name          = var.key_alias
  target_key_id = module.key.key_id
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:The platform runs in one region; the bucket is versioned, and a copy in a second region needs a provider and a key there.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to these objects: they are written by the platform's functions and read by them or in an investigation; every request is in the access log.
  bucket              = local.bucket_name
  force_destroy       = false
  object_lock_enabled = local.object_lock
  tags                = merge(var.tags, { data = var.data_tag })
}

resource "aws_s3_bucket_logging" "this" {
  bucket        = aws_s3_bucket.this.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "${aws_s3_bucket.this.id}/"
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = module.key.arn
    }
    bucket_key_enabled = true
  }
}

# Governance mode: no one can shorten a version's retention or delete it before it ends, except a
# principal granted s3:BypassGovernanceRetention, which no role of the platform is.
resource "aws_s3_bucket_object_lock_configuration" "this" {
  count  = local.object_lock ? 1 : 0
  bucket = aws_s3_bucket.this.id

  rule {
    default_retention {
      mode = var.object_lock_mode
      days = var.object_lock_retention_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = var.lifecycle_rule_id
    status = "Enabled"

    filter {}

    dynamic "transition" {
      for_each = var.transitions
      content {
        days          = transition.value.days
        storage_class = transition.value.storage_class
      }
    }

    dynamic "noncurrent_version_transition" {
      for_each = var.noncurrent_transitions
      content {
        noncurrent_days = noncurrent_version_transition.value.days
        storage_class   = noncurrent_version_transition.value.storage_class
      }
    }

    dynamic "expiration" {
      for_each = var.expiration_days == null ? [] : [var.expiration_days]
      content {
        days = expiration.value
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]

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

  # An object is never stored under any other encryption, whoever writes it.
  dynamic "statement" {
    for_each = var.require_bucket_key_on_writes ? [1] : []
    content {
      sid       = "DenyObjectsNotEncryptedWithTheKey"
      effect    = "Deny"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/*"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = "StringNotEquals"
        variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
        values   = [module.key.arn]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

# The access log. S3 delivers server access logs only to a bucket whose default encryption is
# SSE-S3, so this bucket cannot use the data's KMS key.
resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket: logging its own requests into itself would log every delivery without end.
  #checkov:skip=CKV_AWS_144:The platform runs in one region, like the bucket whose requests these logs record.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to log deliveries; the logs are read in an investigation.
  #checkov:skip=CKV_AWS_145:S3 server access logs are delivered only to a bucket encrypted with SSE-S3, not SSE-KMS.
  bucket        = local.logs_bucket_name
  force_destroy = false
  tags          = merge(var.tags, { data = "${var.data_tag}-access-logs" })
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

    dynamic "transition" {
      for_each = var.access_log_glacier_after_days == null ? [] : [var.access_log_glacier_after_days]
      content {
        days          = transition.value
        storage_class = "GLACIER"
      }
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
  # Only S3's log delivery, and only for the data bucket of this account.
  statement {
    sid       = "AllowAccessLogDelivery"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/${aws_s3_bucket.this.id}/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.this.arn]
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
