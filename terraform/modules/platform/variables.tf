variable "environment" {
  description = "Environment name (dev, prod): DD_ENV and the environment tag."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zone_ids" {
  description = "The three availability zone ids (for instance use1-az1) of the subnets."
  type        = list(string)

  validation {
    condition     = length(var.availability_zone_ids) == 3 && length(distinct(var.availability_zone_ids)) == 3
    error_message = "Give three distinct availability zone ids: every tier has one subnet in each."
  }
}

variable "high_availability" {
  description = "Multi-AZ database, a Redis replica with failover, a NAT gateway per zone."
  type        = bool
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.30"
}

variable "node_instance_types" {
  description = "Instance types of the EKS nodes."
  type        = list(string)
}

variable "node_count_min" {
  description = "Smallest number of EKS nodes."
  type        = number
}

variable "node_count_max" {
  description = "Largest number of EKS nodes."
  type        = number
}

variable "database_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "backup_retention_days" {
  description = "Days of RDS automated backups."
  type        = number
}

variable "cache_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "deletion_protection" {
  description = "Protect the database and tables from deletion."
  type        = bool
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "datadog_enabled" {
  description = "Create the Datadog dashboards and monitors (terraform/modules/datadog)."
  type        = bool
  default     = false
}

variable "datadog_site" {
  description = "Datadog site, for instance datadoghq.com or datadoghq.eu."
  type        = string
  default     = "datadoghq.com"
}
