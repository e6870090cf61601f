output "primary_endpoint" {
  description = "Host name of the primary (connect with rediss://, TLS)."
  value       = aws_elasticache_replication_group.cache.primary_endpoint_address
}

output "auth_token_secret_arn" {
  description = "Secrets Manager secret holding the AUTH token."
  value       = aws_secretsmanager_secret.auth_token.arn
}
