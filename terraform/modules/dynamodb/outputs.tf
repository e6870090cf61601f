output "audit_table_arn" {
  description = "ARN of the audit table."
  value       = aws_dynamodb_table.audit.arn
}

output "kms_key_arn" {
  description = "The key that encrypts the audit table (readers need kms:Decrypt on it)."
  value       = module.tables_key.arn
}
