# What the dashboards and monitors of main.tf are scoped to and whom they notify. `site`,
# `service_names` and `api_key_secret_arn` are passed or defaulted for resources not written
# yet (the Datadog AWS integration); nothing reads them today.

variable "enabled" {
  description = "Create the dashboards and monitors."
  type        = bool
  default     = false
}

variable "environment" {
  description = "The `env` unified service tag (matches DD_ENV in knative/)."
  type        = string
}

variable "service_names" {
  description = "Every function's `service` tag (the Knative Service names)."
  type        = list(string)
}

variable "site" {
  description = "Datadog site, for instance datadoghq.com or datadoghq.eu."
  type        = string
  default     = "datadoghq.com"
}

variable "api_key_secret_arn" {
  description = "Secrets Manager secret holding the Datadog API key (never the key itself)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "notify" {
  description = "Who a monitor notifies, per priority: Datadog handles such as @pagerduty-paystream or @slack-payments."
  type        = map(string)
  default = {
    P1 = "@pagerduty-paystream"
    P2 = "@slack-paystream-alerts"
  }
}

variable "transaction_failure_rate_max" {
  description = "P1 when more than this share of finished payments failed over 15 minutes."
  type        = number
  default     = 0.05
}

variable "response_time_seconds_max" {
  description = "P2 when a route's p95 response time stays above this many seconds for 5 minutes."
  type        = number
  default     = 5
}

variable "high_fraud_decisions_max" {
  description = "P2 when more high-risk fraud decisions (score of 80 or more) than this occur in 15 minutes."
  type        = number
  default     = 5
}
