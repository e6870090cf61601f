output "role_arns" {
  description = "service account => IAM role ARN (for eks.amazonaws.com/role-arn)."
  value       = { for key, role in aws_iam_role.service_account : local.service_accounts[key] => role.arn }
}
