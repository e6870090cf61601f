# The KYC documents: identity documents users upload (passports, identity cards, driving
# licences), personal data of the most sensitive kind, never public.
#
# Every object is encrypted with SSE-KMS under this module's key (the bucket's default, and the
# `accounts` function names the key on every write as well; the bucket policy refuses a write
# that names another); every request must use TLS and is recorded in the access log. Versioning
# keeps an overwritten or deleted document recoverable for `noncurrent_expiration_days`. Only
# `accounts` writes documents and only `admin` reads them (terraform/modules/iam_irsa). The bucket,
# its key and alias, its access log and its policy are the shared s3_encrypted_bucket module's.

module "bucket" {
  source = "../s3_encrypted_bucket"

  bucket_prefix                = var.bucket_prefix
  data_tag                     = "kyc-documents"
  key_alias                    = var.key_alias
  require_bucket_key_on_writes = true
  lifecycle_rule_id            = "documents"
  # A document is read when support reviews it, within days of its upload, then rarely.
  transitions                     = [{ days = var.infrequent_access_after_days, storage_class = "STANDARD_IA" }]
  noncurrent_expiration_days      = var.noncurrent_expiration_days
  abort_incomplete_multipart_days = 1
  access_log_retention_days       = var.access_log_retention_days
  tags                            = var.tags
}

# The resources moved into the shared module: the same bucket, key, alias and logs, not new ones.
moved {
  from = module.documents_key
  to   = module.bucket.module.key
}

moved {
  from = aws_kms_alias.documents
  to   = module.bucket.aws_kms_alias.this[0]
}

moved {
  from = aws_s3_bucket.documents
  to   = module.bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_logging.documents
  to   = module.bucket.aws_s3_bucket_logging.this
}

moved {
  from = aws_s3_bucket_ownership_controls.documents
  to   = module.bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.documents
  to   = module.bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.documents
  to   = module.bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.documents
  to   = module.bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.documents
  to   = module.bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.documents
  to   = module.bucket.aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket.logs
  to   = module.bucket.aws_s3_bucket.logs
}

moved {
  from = aws_s3_bucket_ownership_controls.logs
  to   = module.bucket.aws_s3_bucket_ownership_controls.logs
}

moved {
  from = aws_s3_bucket_public_access_block.logs
  to   = module.bucket.aws_s3_bucket_public_access_block.logs
}

moved {
  from = aws_s3_bucket_versioning.logs
  to   = module.bucket.aws_s3_bucket_versioning.logs
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.logs
  to   = module.bucket.aws_s3_bucket_server_side_encryption_configuration.logs
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.logs
  to   = module.bucket.aws_s3_bucket_lifecycle_configuration.logs
}

moved {
  from = aws_s3_bucket_policy.logs
  to   = module.bucket.aws_s3_bucket_policy.logs
}
