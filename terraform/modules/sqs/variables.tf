variable "bus_name" {
  description = "The EventBridge bus whose rules feed these queues."
  type        = string
}

variable "routes" {
  description = "Routes from terraform/topology.json: consumer => names and limits."
  type = map(object({
    queue_name                 = string
    dlq_name                   = string
    rule_names                 = list(string)
    max_receive_count          = number
    visibility_timeout_seconds = number
  }))
}

variable "queue_retention_seconds" {
  description = "How long a work queue keeps an unhandled message."
  type        = number
}

variable "dlq_retention_seconds" {
  description = "How long a dead-letter queue keeps a message."
  type        = number
}

variable "receive_wait_time_seconds" {
  description = "Long-poll wait of ReceiveMessage (20 s is the SQS maximum)."
  type        = number
  default     = 20
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
