variable "topics" {
  description = "channel => topic name (shared.topology.SNS_TOPICS)."
  type        = map(string)
}

variable "kms_master_key_id" {
  description = "KMS key for SSE; the AWS-managed SNS key by default."
  type        = string
  default     = "alias/aws/sns"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
