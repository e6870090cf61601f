output "audit_table_arn" {
  description = "ARN of the audit table."
  value       = aws_dynamodb_table.audit.arn
}

output "idempotency_table_arn" {
  description = "ARN of the idempotency table."
  value       = aws_dynamodb_table.idempotency.arn
}

output "kms_key_arn" {
  description = "The key that encrypts both tables (readers need kms:Decrypt on it)."
  value       = module.tables_key.arn
}
