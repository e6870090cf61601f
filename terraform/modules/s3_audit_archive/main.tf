# The audit archive: the audit chain's daily exports (gzipped JSON Lines, written by
# `archive-audit`) and the regulatory reports (CSV, written by `reconcile`), kept for seven years,
# never public.
#
# Each version is locked in governance mode for `retention_days` (seven years) from its
# creation: no one deletes or shortens it without s3:BypassGovernanceRetention, which no role of
# the platform has. Exports move to Glacier after `glacier_after_days` and to Deep Archive after
# `deep_archive_after_days`, because they are read only in an investigation, and expire once
# their retention has passed. The bucket, its key, its access log and its TLS-only policy are
# the shared s3_encrypted_bucket module's.

module "bucket" {
  source = "../s3_encrypted_bucket"

  bucket_prefix     = var.bucket_prefix
  data_tag          = "audit-archive"
  key_alias         = var.key_alias
  lifecycle_rule_id = "to-glacier"
  transitions = [
    { days = var.glacier_after_days, storage_class = "GLACIER" },
    { days = var.deep_archive_after_days, storage_class = "DEEP_ARCHIVE" },
  ]
  noncurrent_transitions        = [{ days = var.glacier_after_days, storage_class = "GLACIER" }]
  expiration_days               = var.retention_days
  noncurrent_expiration_days    = var.noncurrent_expiration_days
  object_lock_mode              = "GOVERNANCE"
  object_lock_retention_days    = var.retention_days
  access_log_glacier_after_days = var.glacier_after_days
  access_log_retention_days     = var.access_log_retention_days
  tags                          = var.tags
}

# The resources moved into the shared module: the same bucket, key and logs, not new ones.
moved {
  from = aws_kms_key.archive
  to   = module.archive_key.aws_kms_key.this
}

moved {
  from = module.archive_key
  to   = module.bucket.module.key
}

moved {
  from = aws_s3_bucket.archive
  to   = module.bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_logging.archive
  to   = module.bucket.aws_s3_bucket_logging.this
}

moved {
  from = aws_s3_bucket_ownership_controls.archive
  to   = module.bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.archive
  to   = module.bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.archive
  to   = module.bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.archive
  to   = module.bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.archive
  to   = module.bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.archive
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
