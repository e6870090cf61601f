variable "name_prefix" {
  description = "Prefix of resource names and descriptions."
  type        = string
}

variable "audit_table_name" {
  description = "The audit chain's table (shared.topology.AUDIT_TABLE_NAME)."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse DeleteTable (on in production)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
