variable "name_prefix" {
  description = "Prefix of resource names."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Private database subnets, in at least two availability zones."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect (the EKS nodes)."
  type        = list(string)
}

variable "engine_major_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "database_name" {
  description = "Name of the application database."
  type        = string
  default     = "paystream"
}

variable "master_username" {
  description = "Master user (its password is managed by RDS in Secrets Manager)."
  type        = string
  default     = "paystream_admin"
}

variable "allocated_storage_gb" {
  description = "Initial storage."
  type        = number
  default     = 50
}

variable "max_allocated_storage_gb" {
  description = "Ceiling of storage autoscaling."
  type        = number
  default     = 500
}

variable "monitoring_interval_seconds" {
  description = "Seconds between enhanced monitoring samples of the host (1, 5, 10, 15, 30 or 60)."
  type        = number
  default     = 60

  validation {
    condition     = contains([1, 5, 10, 15, 30, 60], var.monitoring_interval_seconds)
    error_message = "RDS enhanced monitoring takes 1, 5, 10, 15, 30 or 60 seconds."
  }
}

variable "multi_az" {
  description = "Keep a synchronous standby in another availability zone."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time restore window)."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Refuse deletion of the instance."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
