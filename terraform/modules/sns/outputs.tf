output "topic_arns" {
  description = "channel => topic ARN"
  value       = { for channel, topic in aws_sns_topic.channel : channel => topic.arn }
}
