# Paystream's dashboards and monitors in Datadog. Every metric queried here is declared in
# shared/observability/catalogue.py (tests/unit/test_metrics_catalogue.py checks it); what each
# alert means and what to do is in docs/observability.md. The dashboards are generated from
# shared/observability/dashboards.py into dashboards/ by `python -m shared.deploy.render`.

locals {
  count     = var.enabled ? 1 : 0
  scope     = "env:${var.environment}"
  tags      = concat(["service:paystream", "env:${var.environment}"], [for key, value in var.tags : "${key}:${value}"])
  runbook   = "Runbook: docs/observability.md#alerts"
  dashboard = toset(["business", "technical", "infrastructure", "security"])
}

resource "datadog_dashboard_json" "paystream" {
  for_each = var.enabled ? local.dashboard : toset([])

  # The generated dashboard, its `env` template variable defaulting to this environment.
  dashboard = jsonencode(merge(
    jsondecode(file("${path.module}/dashboards/${each.key}.json")),
    { template_variables = [{ name = "env", prefix = "env", default = var.environment }] },
  ))
}

resource "datadog_monitor" "payment_service_down" {
  count    = local.count
  name     = "[P1] Paystream ${var.environment}: payment service down"
  type     = "query alert"
  priority = 1
  # The payments function answers its readiness probe every few seconds: no successful answer
  # at all for 5 minutes means it is down, whatever the traffic.
  query   = "sum(last_5m):sum:paystream.http.requests{${local.scope},service:payments,status_class:2xx}.as_count() < 1"
  message = "No request to the payments function succeeded for 5 minutes: clients cannot pay. ${local.runbook} ${var.notify["P1"]}"

  monitor_thresholds {
    critical = 1
  }
  notify_no_data    = true
  no_data_timeframe = 10
  tags              = local.tags
}

resource "datadog_monitor" "transaction_failure_rate" {
  count    = local.count
  name     = "[P1] Paystream ${var.environment}: transaction failure rate above ${var.transaction_failure_rate_max * 100}%"
  type     = "query alert"
  priority = 1
  query    = "sum(last_15m):sum:paystream.payments{${local.scope},status:failed}.as_count() / (sum:paystream.payments{${local.scope},status:completed}.as_count() + sum:paystream.payments{${local.scope},status:failed}.as_count()) > ${var.transaction_failure_rate_max}"
  message  = "More than ${var.transaction_failure_rate_max * 100}% of finished payments failed in 15 minutes. ${local.runbook} ${var.notify["P1"]}"

  monitor_thresholds {
    critical = var.transaction_failure_rate_max
  }
  tags = local.tags
}

resource "datadog_monitor" "database_connection_failures" {
  count    = local.count
  name     = "[P1] Paystream ${var.environment}: database connection failures"
  type     = "query alert"
  priority = 1
  query    = "sum(last_5m):sum:paystream.database.connection_errors{${local.scope}}.as_count() > 0"
  message  = "Functions cannot connect to PostgreSQL or lose connections mid-statement. ${local.runbook} ${var.notify["P1"]}"

  monitor_thresholds {
    critical = 0
  }
  tags = local.tags
}

resource "datadog_monitor" "high_fraud_score_transactions" {
  count    = local.count
  name     = "[P2] Paystream ${var.environment}: high fraud score transactions"
  type     = "query alert"
  priority = 2
  query    = "sum(last_15m):sum:paystream.fraud.decisions{${local.scope},risk:high}.as_count() > ${var.high_fraud_decisions_max}"
  message  = "More than ${var.high_fraud_decisions_max} payments scored 80 or more in 15 minutes. ${local.runbook} ${var.notify["P2"]}"

  monitor_thresholds {
    critical = var.high_fraud_decisions_max
  }
  tags = local.tags
}

resource "datadog_monitor" "response_time" {
  count    = local.count
  name     = "[P2] Paystream ${var.environment}: response time above ${var.response_time_seconds_max} s on {{route.name}}"
  type     = "query alert"
  priority = 2
  query    = "avg(last_5m):max:paystream.http.request.duration.95percentile{${local.scope}} by {route} > ${var.response_time_seconds_max}"
  message  = "The p95 response time of {{route.name}} stayed above ${var.response_time_seconds_max} s for 5 minutes. ${local.runbook} ${var.notify["P2"]}"

  monitor_thresholds {
    critical = var.response_time_seconds_max
  }
  tags = local.tags
}

resource "datadog_monitor" "reconciliation_differences" {
  count    = local.count
  name     = "[P1] Paystream ${var.environment}: reconciliation differences ({{finding.name}})"
  type     = "query alert"
  priority = 1
  query    = "max(last_1d):max:paystream.reconciliation.differences{${local.scope}} by {finding} > 0"
  message  = "The daily reconciliation found the ledger, the transaction history or the audit chain disagreeing. The rows are in `GET /v1/admin/reports/flagged-activity?date=...`. ${local.runbook} ${var.notify["P1"]}"

  monitor_thresholds {
    critical = 0
  }
  tags = local.tags
}

resource "datadog_monitor" "dead_letters" {
  count    = local.count
  name     = "[P2] Paystream ${var.environment}: dead letters in {{queue.name}}"
  type     = "query alert"
  priority = 2
  query    = "max(last_5m):max:paystream.queue.depth{${local.scope},queue_kind:dlq} by {queue} > 0"
  message  = "A message in {{queue.name}}'s dead-letter queue could not be delivered. Inspect it with `paystream dlq list --consumer ...`. ${local.runbook} ${var.notify["P2"]}"

  monitor_thresholds {
    critical = 0
  }
  tags = local.tags
}
