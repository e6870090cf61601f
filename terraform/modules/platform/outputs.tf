output "account_id" {
  description = "The account the platform runs in (for python -m shared.deploy.render)."
  value       = split(":", module.eventbridge.bus_arn)[4]
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "image_repository_url" {
  description = "ECR repository of the paystream image."
  value       = aws_ecr_repository.image.repository_url
}

output "queue_urls" {
  description = "consumer => work queue URL."
  value       = module.sqs.queue_urls
}

output "dlq_urls" {
  description = "consumer => dead-letter queue URL."
  value       = module.sqs.dlq_urls
}

output "role_arns" {
  description = "service account => IRSA role ARN."
  value       = module.iam_irsa.role_arns
}

output "database_address" {
  description = "RDS host name."
  value       = module.rds.address
}

output "database_master_secret_arn" {
  description = "Secrets Manager secret of the RDS master credentials."
  value       = module.rds.master_user_secret_arn
}

output "redis_primary_endpoint" {
  description = "ElastiCache primary host name."
  value       = module.elasticache.primary_endpoint
}

output "redis_auth_token_secret_arn" {
  description = "Secrets Manager secret of the Redis AUTH token."
  value       = module.elasticache.auth_token_secret_arn
}

output "audit_archive_bucket" {
  description = "S3 bucket of the audit archive."
  value       = module.s3_audit_archive.bucket_name
}

output "kyc_documents_bucket" {
  description = "S3 bucket of the KYC documents (PAYSTREAM_KYC_DOCUMENTS_BUCKET)."
  value       = module.s3_kyc_documents.bucket_name
}
