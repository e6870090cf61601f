# A customer-managed KMS key with rotation, whose key policy hands it to the account's IAM
# policies (AWS's default key policy): the services that use the key do so on behalf of callers
# those policies allow. Every encrypted store of the platform gets one of its own.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_356:A key policy can only name its own key, and it does so as "*".
  #checkov:skip=CKV_AWS_109:The account root principal delegates the key to IAM (AWS's default key policy); IAM policies constrain each caller.
  #checkov:skip=CKV_AWS_111:The account root principal delegates the key to IAM (AWS's default key policy); IAM policies constrain each caller.
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}
