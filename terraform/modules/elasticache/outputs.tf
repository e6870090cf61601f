output "primary_endpoint" {
  description = "Host name of the primary (connect with rediss://, TLS)."
  value       = aws_elasticache_replication_group.cache.primary_endpoint_address
}

output "auth_token_secret_arn" {
  description = "Secrets Manager secret holding the AUTH token."
  value       = aws_secretsmanager_secret.auth_token.arn
}

output "kms_key_arn" {
  description = "The key of the cache and its AUTH token secret (readers of the secret need kms:Decrypt on it)."
  value       = module.cache_key.arn
}
