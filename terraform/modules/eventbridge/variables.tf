variable "bus_name" {
  description = "The one bus every producer publishes to."
  type        = string
}

variable "rules" {
  description = "Rules from terraform/topology.json: rule name => consumer, target, group and pattern."
  type = map(object({
    consumer         = string
    target_id        = string
    message_group_id = string
    event_pattern    = string
    event_types      = list(string)
  }))
}

variable "queue_arns" {
  description = "consumer => the FIFO queue its rule targets (from the sqs module)."
  type        = map(string)
}

variable "target_dlq_name" {
  description = "The standard queue EventBridge sends undeliverable events to."
  type        = string
}

variable "dlq_retention_seconds" {
  description = "How long the target dead-letter queue keeps an event."
  type        = number
}

variable "target_retry_attempts_max" {
  description = "Delivery retries before the target dead-letter queue (EventBridge allows 0..185)."
  type        = number
}

variable "target_event_age_seconds_max" {
  description = "Age after which EventBridge stops retrying (60..86400)."
  type        = number
}

variable "archive_retention_days" {
  description = "Days the bus archive keeps events for replay."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
