variable "name_prefix" {
  description = "Prefix of secret names (the topology's resource prefix)."
  type        = string
}

variable "secret_names" {
  description = "Every secret of the platform, from terraform/topology.json."
  type        = list(string)
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
