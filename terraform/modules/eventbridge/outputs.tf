output "bus_arn" {
  description = "ARN of the paystream bus."
  value       = aws_cloudwatch_event_bus.bus.arn
}

output "bus_name" {
  description = "Name of the paystream bus."
  value       = aws_cloudwatch_event_bus.bus.name
}

output "rule_arns" {
  description = "consumer => rule ARN"
  value       = { for consumer, rule in aws_cloudwatch_event_rule.route : consumer => rule.arn }
}

output "target_dlq_url" {
  description = "URL of the EventBridge target dead-letter queue."
  value       = aws_sqs_queue.target_dlq.id
}
