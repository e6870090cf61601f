variable "bucket_prefix" {
  description = "Start of the bucket name; the account id and region complete it."
  type        = string
}

variable "key_alias" {
  description = "Alias of the documents' KMS key (alias/...), by which the platform finds it."
  type        = string
}

variable "infrequent_access_after_days" {
  description = "Days before a document moves to S3 Standard-IA (30 at the least, as S3 requires)."
  type        = number
  default     = 30
}

variable "noncurrent_expiration_days" {
  description = "Days an overwritten or deleted document version is kept."
  type        = number
  default     = 90
}

variable "access_log_retention_days" {
  description = "Days the documents' access logs are kept (seven years by default)."
  type        = number
  default     = 2555
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
