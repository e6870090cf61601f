output "bus_arn" {
  description = "ARN of the paystream bus."
  value       = aws_cloudwatch_event_bus.bus.arn
}

output "bus_name" {
  description = "Name of the paystream bus."
  value       = aws_cloudwatch_event_bus.bus.name
}

output "rule_arns" {
  description = "rule name => rule ARN (one rule per consumer and ordering partition)"
  value       = { for name, rule in aws_cloudwatch_event_rule.route : name => rule.arn }
}

output "target_dlq_url" {
  description = "URL of the EventBridge target dead-letter queue."
  value       = aws_sqs_queue.target_dlq.id
}
