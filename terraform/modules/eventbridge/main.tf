# The paystream bus; per consuming function one rule per ordering partition, matching exactly
# its detail-types in that partition; one target per rule: the consumer's FIFO queue.
#
# EventBridge's SQS target takes a static MessageGroupId, so each partition has a rule of its
# own whose target sets the group "p-<n>": one wallet's events share a group and keep their
# order, other wallets' events do not wait for them (docs/ordering.md). Events EventBridge cannot deliver (a missing queue, a denied policy)
# go to the target dead-letter queue, which AWS requires to be a standard queue, never FIFO.

resource "aws_cloudwatch_event_bus" "bus" {
  name = var.bus_name
  tags = var.tags
}

# Every event is kept for replay: after a consumer bug is fixed, its events can be sent again.
resource "aws_cloudwatch_event_archive" "bus" {
  name             = "${var.bus_name}-archive"
  event_source_arn = aws_cloudwatch_event_bus.bus.arn
  retention_days   = var.archive_retention_days
}

resource "aws_sqs_queue" "target_dlq" {
  name                      = var.target_dlq_name
  message_retention_seconds = var.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = merge(var.tags, { role = "eventbridge-target-dead-letter" })
}

resource "aws_cloudwatch_event_rule" "route" {
  for_each = var.rules

  name           = each.key
  event_bus_name = aws_cloudwatch_event_bus.bus.name
  event_pattern  = each.value.event_pattern
  state          = "ENABLED"
  description    = "${join(", ", each.value.event_types)} of ${each.value.message_group_id} to ${each.value.consumer}"
  tags           = merge(var.tags, { consumer = each.value.consumer })
}

resource "aws_cloudwatch_event_target" "route" {
  for_each = var.rules

  rule           = aws_cloudwatch_event_rule.route[each.key].name
  event_bus_name = aws_cloudwatch_event_bus.bus.name
  target_id      = each.value.target_id
  arn            = var.queue_arns[each.value.consumer]

  sqs_target {
    message_group_id = each.value.message_group_id
  }

  dead_letter_config {
    arn = aws_sqs_queue.target_dlq.arn
  }

  retry_policy {
    maximum_retry_attempts       = var.target_retry_attempts_max
    maximum_event_age_in_seconds = var.target_event_age_seconds_max
  }
}

data "aws_iam_policy_document" "target_dlq" {
  statement {
    sid       = "AllowPaystreamRules"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.target_dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for rule in aws_cloudwatch_event_rule.route : rule.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "target_dlq" {
  queue_url = aws_sqs_queue.target_dlq.id
  policy    = data.aws_iam_policy_document.target_dlq.json
}
