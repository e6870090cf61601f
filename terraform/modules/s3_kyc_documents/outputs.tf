output "bucket_name" {
  description = "Name of the documents bucket (PAYSTREAM_KYC_DOCUMENTS_BUCKET)."
  value       = aws_s3_bucket.documents.id
}

output "bucket_arn" {
  description = "ARN of the documents bucket."
  value       = aws_s3_bucket.documents.arn
}

output "kms_key_arn" {
  description = "The key that encrypts the documents."
  value       = module.documents_key.arn
}

output "kms_key_alias" {
  description = "The key's alias, by which the platform finds it."
  value       = aws_kms_alias.documents.name
}

output "access_logs_bucket_name" {
  description = "Name of the bucket holding the documents' S3 server access logs."
  value       = aws_s3_bucket.logs.id
}
