output "secret_arns" {
  description = "secret name => Secrets Manager secret ARN."
  value       = { for name, secret in aws_secretsmanager_secret.platform : name => secret.arn }
}

output "kms_key_arn" {
  description = "The key of every platform secret (readers need kms:Decrypt on it)."
  value       = module.secrets_key.arn
}
