output "bucket_name" {
  description = "Name of the archive bucket (PAYSTREAM_AUDIT_ARCHIVE_BUCKET)."
  value       = module.bucket.bucket_name
}

output "bucket_arn" {
  description = "ARN of the archive bucket."
  value       = module.bucket.bucket_arn
}

output "kms_key_arn" {
  description = "The key that encrypts the archive's objects."
  value       = module.bucket.kms_key_arn
}

output "kms_key_alias" {
  description = "The key's alias, by which the platform finds it."
  value       = module.bucket.kms_key_alias
}

output "access_logs_bucket_name" {
  description = "Name of the bucket holding the archive's S3 server access logs."
  value       = module.bucket.access_logs_bucket_name
}
