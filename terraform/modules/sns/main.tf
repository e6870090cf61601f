# The notification topics, one per channel (email, sms), encrypted at rest. Subscriptions
# (an email relay, an SMS sender) are attached per environment, outside this module.

resource "aws_sns_topic" "channel" {
  for_each = var.topics

  name              = each.value
  kms_master_key_id = var.kms_master_key_id
  tags              = merge(var.tags, { channel = each.key })
}
