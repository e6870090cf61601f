variable "bucket_prefix" {
  description = "Start of the bucket name; the account id and region complete it."
  type        = string
}

variable "key_alias" {
  description = "Alias of the archive's KMS key (alias/...), by which the platform finds it."
  type        = string
}

variable "glacier_after_days" {
  description = "Days before an export moves to Glacier Flexible Retrieval."
  type        = number
  default     = 90
}

variable "deep_archive_after_days" {
  description = "Days before an export moves to Glacier Deep Archive."
  type        = number
  default     = 365
}

variable "retention_days" {
  description = "Days each version is locked (governance mode) and kept: seven years by default."
  type        = number
  default     = 2557
}

variable "noncurrent_expiration_days" {
  description = "Days an overwritten version is kept (seven years by default)."
  type        = number
  default     = 2557
}

variable "access_log_retention_days" {
  description = "Days the archive's access logs are kept (seven years by default, like the archive's versions)."
  type        = number
  default     = 2557
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
