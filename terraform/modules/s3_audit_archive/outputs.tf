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
  value       = aws_kms_key.archive.arn
}
