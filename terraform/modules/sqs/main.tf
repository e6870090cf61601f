# One SQS FIFO work queue and one FIFO dead-letter queue per route of shared/topology.py.
#
# Content-based deduplication is on for every queue: EventBridge sends no deduplication id, and
# a FIFO queue without one of the two drops the message. The queue policy lets EventBridge send
# only on behalf of the route's own rules, one per ordering partition (aws:SourceArn), so no other rule or account can feed a
# consumer. The rule ARN is computed, not read from the eventbridge module, so that the two
# modules do not depend on each other in a cycle (the targets need the queue ARNs).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  rule_arns = {
    for consumer, route in var.routes :
    consumer => [
      for rule_name in route.rule_names :
      "arn:${data.aws_partition.current.partition}:events:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:rule/${var.bus_name}/${rule_name}"
    ]
  }
}

resource "aws_sqs_queue" "dlq" {
  for_each = var.routes

  name                        = each.value.dlq_name
  fifo_queue                  = true
  content_based_deduplication = true
  # The longest SQS allows, so that an operator has time to look before a message is lost.
  message_retention_seconds = var.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = merge(var.tags, { consumer = each.key, role = "dead-letter" })
}

resource "aws_sqs_queue" "queue" {
  for_each = var.routes

  name                        = each.value.queue_name
  fifo_queue                  = true
  content_based_deduplication = true
  # A message in flight stays hidden as long as the function may take (its Knative timeout).
  visibility_timeout_seconds = each.value.visibility_timeout_seconds
  message_retention_seconds  = var.queue_retention_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive_count
  })
  tags = merge(var.tags, { consumer = each.key, role = "work" })
}

# Only the route's own queue may redrive into its dead-letter queue.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = var.routes

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.queue[each.key].arn]
  })
}

data "aws_iam_policy_document" "queue" {
  for_each = var.routes

  statement {
    sid       = "AllowOwnRuleOnly"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.queue[each.key].arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = local.rule_arns[each.key]
    }
  }
}

resource "aws_sqs_queue_policy" "queue" {
  for_each = var.routes

  queue_url = aws_sqs_queue.queue[each.key].id
  policy    = data.aws_iam_policy_document.queue[each.key].json
}
