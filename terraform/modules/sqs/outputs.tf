output "queue_arns" {
  description = "consumer => work queue ARN"
  value       = { for consumer, queue in aws_sqs_queue.queue : consumer => queue.arn }
}

output "queue_urls" {
  description = "consumer => work queue URL"
  value       = { for consumer, queue in aws_sqs_queue.queue : consumer => queue.id }
}

output "dlq_arns" {
  description = "consumer => dead-letter queue ARN"
  value       = { for consumer, queue in aws_sqs_queue.dlq : consumer => queue.arn }
}

output "dlq_urls" {
  description = "consumer => dead-letter queue URL"
  value       = { for consumer, queue in aws_sqs_queue.dlq : consumer => queue.id }
}

output "rule_arns" {
  description = "consumer => the rule ARNs (one per ordering partition) its queue policy admits"
  value       = local.rule_arns
}
