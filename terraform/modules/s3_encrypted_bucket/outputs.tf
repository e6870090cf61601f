output "bucket_name" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "kms_key_arn" {
  description = "The key that encrypts the bucket's objects."
  value       = module.key.arn
}

output "kms_key_alias" {
  description = "The key's alias, if it has one."
  value       = var.key_alias == null ? null : aws_kms_alias.this[0].name
}

output "access_logs_bucket_name" {
  description = "Name of the bucket holding the S3 server access logs."
  value       = aws_s3_bucket.logs.id
}
