# The audit chain's table, on-demand, encrypted with a customer-managed KMS key, with
# point-in-time recovery. (No idempotency table: docs/architecture.md, "Idempotency".)
#
# The audit table has no TTL on purpose: every record is a link of a hash chain, and deleting
# one would make verification fail. Old links leave the table by export to the S3 audit archive.

# The key policy hands the key to the account's IAM policies, which grant each reader its use
# (iam_irsa gives `audit` Decrypt and GenerateDataKey); DynamoDB uses it on their behalf.
module "tables_key" {
  source      = "../kms_key"
  description = "${var.name_prefix} DynamoDB tables"
  tags        = var.tags
}

# The key moved into the shared module: the same key, not a new one.
moved {
  from = aws_kms_key.tables
  to   = module.tables_key.aws_kms_key.this
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
    kms_key_arn = module.tables_key.arn
  }

  tags = merge(var.tags, { data = "audit" })
}
