variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "us-east-1"
}

variable "availability_zone_ids" {
  description = "Availability zone ids of the region (ids, unlike names, are the same in every account)."
  type        = list(string)
  default     = ["use1-az1", "use1-az2", "use1-az4"]
}
