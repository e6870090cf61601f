variable "cluster_name" {
  description = "Name of the EKS cluster."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version (the manifests are validated against 1.30)."
  type        = string
  default     = "1.30"
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the nodes."
  type        = list(string)
}

variable "endpoint_public_access" {
  description = "Expose the API server endpoint publicly (restricted by CIDR)."
  type        = bool
  default     = true
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "node_count_min" {
  description = "Smallest node count (also the initial count)."
  type        = number
  default     = 2
}

variable "node_count_max" {
  description = "Largest node count."
  type        = number
  default     = 6
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
