variable "description" {
  description = "What the key encrypts."
  type        = string
}

variable "tags" {
  description = "Tags for the key."
  type        = map(string)
  default     = {}
}
