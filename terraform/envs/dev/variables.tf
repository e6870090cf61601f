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

variable "datadog_enabled" {
  description = "Create the Datadog dashboards and monitors (needs DD_API_KEY and DD_APP_KEY)."
  type        = bool
  default     = false
}

variable "datadog_site" {
  description = "Datadog site, for instance datadoghq.com or datadoghq.eu."
  type        = string
  default     = "datadoghq.com"
}
