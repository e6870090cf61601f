variable "bucket_prefix" {
  description = "Start of the bucket names; the account id and region complete them."
  type        = string
}

variable "data_tag" {
  description = "The `data` tag of the bucket (and, with -access-logs, of its logs bucket)."
  type        = string
}

variable "key_alias" {
  description = "An alias (alias/...) for the bucket's KMS key, by which the platform finds it; null: none."
  type        = string
  default     = null
}

variable "require_bucket_key_on_writes" {
  description = "Refuse a PutObject that does not name the bucket's key for SSE-KMS."
  type        = bool
  default     = false
}

variable "lifecycle_rule_id" {
  description = "The id of the bucket's lifecycle rule."
  type        = string
}

variable "transitions" {
  description = "Storage-class transitions of current versions, days after creation."
  type        = list(object({ days = number, storage_class = string }))
  default     = []
}

variable "noncurrent_transitions" {
  description = "Storage-class transitions of overwritten versions, days after they became noncurrent."
  type        = list(object({ days = number, storage_class = string }))
  default     = []
}

variable "expiration_days" {
  description = "Days after which a current version expires (becomes noncurrent); null: never."
  type        = number
  default     = null
}

variable "noncurrent_expiration_days" {
  description = "Days an overwritten or deleted version is kept."
  type        = number
}

variable "abort_incomplete_multipart_days" {
  description = "Days before an unfinished multipart upload is aborted."
  type        = number
  default     = 7
}

variable "object_lock_mode" {
  description = "Object lock mode of new versions: GOVERNANCE or COMPLIANCE."
  type        = string
  default     = "GOVERNANCE"

  validation {
    condition     = contains(["GOVERNANCE", "COMPLIANCE"], var.object_lock_mode)
    error_message = "object_lock_mode must be GOVERNANCE or COMPLIANCE."
  }
}

variable "object_lock_retention_days" {
  description = "Days each new version is locked for; null: no object lock."
  type        = number
  default     = null
}

variable "access_log_glacier_after_days" {
  description = "Days before an access log moves to Glacier; null: never."
  type        = number
  default     = null
}

variable "access_log_retention_days" {
  description = "Days the access logs are kept."
  type        = number
  default     = 2555
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
