output "endpoint" {
  description = "host:port of the instance."
  value       = aws_db_instance.ledger.endpoint
}

output "address" {
  description = "Host name of the instance."
  value       = aws_db_instance.ledger.address
}

output "database_name" {
  description = "The application database."
  value       = aws_db_instance.ledger.db_name
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the master credentials."
  value       = aws_db_instance.ledger.master_user_secret[0].secret_arn
}

output "kms_key_arn" {
  description = "The key of the storage, Performance Insights and the master user secret."
  value       = module.ledger_key.arn
}
