variable "name_prefix" {
  description = "Prefix of role names (the topology's resource prefix)."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the ServiceAccounts."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The EKS cluster's IAM OIDC provider."
  type        = string
}

variable "oidc_provider_url" {
  description = "The cluster's OIDC issuer URL."
  type        = string
}

variable "functions" {
  description = "Functions from terraform/topology.json, with the AWS calls each makes."
  type = map(object({
    service_account       = string
    put_events            = bool
    describe_bus          = bool
    audit_table           = bool
    audit_table_read      = bool
    audit_archive_write   = bool
    publish_notifications = bool
    kyc_documents_write   = bool
    kyc_documents_read    = bool
    kyc_documents_delete  = bool
    personal_data_keys    = bool
    secrets               = list(string)
  }))
}

variable "routes" {
  description = "Routes from terraform/topology.json (their queue readers get roles)."
  type = map(object({
    queue_reader_service_account = string
  }))
}

variable "bus_arn" {
  description = "The paystream bus."
  type        = string
}

variable "queue_arns" {
  description = "consumer => work queue ARN."
  type        = map(string)
}

variable "audit_table_arn" {
  description = "The audit chain's table."
  type        = string
}

variable "tables_kms_key_arn" {
  description = "The KMS key of the DynamoDB tables."
  type        = string
}

variable "topic_arns" {
  description = "The notification topics."
  type        = list(string)
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "kyc_documents_bucket_arn" {
  description = "The KYC documents bucket."
  type        = string
}

variable "kyc_documents_kms_key_arn" {
  description = "The KMS key of the KYC documents."
  type        = string
}

variable "audit_archive_bucket_arn" {
  description = "The audit archive bucket (the chain's daily exports and the reports)."
  type        = string
}

variable "audit_archive_kms_key_arn" {
  description = "The KMS key of the audit archive."
  type        = string
}

variable "secret_arns" {
  description = "secret name => Secrets Manager secret ARN (the platform_secrets module)."
  type        = map(string)
}

variable "personal_data_kms_key_arn" {
  description = "The key that wraps every user's personal data keys."
  type        = string
}

variable "secrets_kms_key_arn" {
  description = "The key of the platform's secrets."
  type        = string
}
