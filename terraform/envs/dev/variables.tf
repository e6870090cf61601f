variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "us-east-1"
}
