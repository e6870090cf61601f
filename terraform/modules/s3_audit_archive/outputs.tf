output "bucket_name" {
  description = "Name of the archive bucket."
  value       = aws_s3_bucket.archive.id
}

output "bucket_arn" {
  description = "ARN of the archive bucket."
  value       = aws_s3_bucket.archive.arn
}

output "kms_key_arn" {
  description = "The key that encrypts the archive's objects."
  value       = module.archive_key.arn
}

output "access_logs_bucket_name" {
  description = "Name of the bucket holding the archive's S3 server access logs."
  value       = aws_s3_bucket.logs.id
}
