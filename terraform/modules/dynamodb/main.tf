# The audit chain's table and the idempotency table, both on-demand, encrypted with a
# customer-managed KMS key, with point-in-time recovery.
#
# The audit table has no TTL on purpose: every record is a link of a hash chain, and deleting
# one would make verification fail. Old links leave the table by export to the S3 audit archive.
# The idempotency table expires its records (Powertools' `expiration` attribute): a key only
# has to outlive a client's retries.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# The key policy hands the key to the account's IAM policies, which grant each reader its use
# (iam_irsa gives `audit` Decrypt and GenerateDataKey); DynamoDB uses it on their behalf.
data "aws_iam_policy_document" "tables_key" {
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

resource "aws_kms_key" "tables" {
  description             = "${var.name_prefix} DynamoDB tables"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.tables_key.json
  tags                    = var.tags
}

resource "aws_dynamodb_table" "audit" {
  name                        = var.audit_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  # Key names and types as shared/adapters/audit_chain.py creates them locally.
  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "N"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.tables.arn
  }

  tags = merge(var.tags, { data = "audit" })
}

resource "aws_dynamodb_table" "idempotency" {
  name                        = var.idempotency_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.tables.arn
  }

  ttl {
    attribute_name = "expiration"
    enabled        = true
  }

  tags = merge(var.tags, { data = "idempotency" })
}
