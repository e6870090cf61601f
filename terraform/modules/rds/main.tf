# The ledger's PostgreSQL: Multi-AZ, encrypted, backed up, reachable only from the cluster.
#
# The master password is generated and kept by RDS in Secrets Manager
# (manage_master_user_password), so it never appears in Terraform state or variables. TLS is
# required by the parameter group; the application connects as a least-privilege role created
# by the migrations, not as the master user.
#
# One customer-managed key encrypts the storage, its snapshots and backups, the Performance
# Insights data (which holds query text) and the master user's secret. Enhanced monitoring
# sends OS metrics every `monitoring_interval_seconds` through the role below.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# The key policy hands the key to the account's IAM policies; RDS and Secrets Manager use it on
# behalf of the callers these allow.
module "ledger_key" {
  source      = "../kms_key"
  description = "${var.name_prefix} ledger database"
  tags        = var.tags
}

# The key moved into the shared module: the same key, not a new one.
moved {
  from = aws_kms_key.ledger
  to   = module.ledger_key.aws_kms_key.this
}

data "aws_iam_policy_document" "monitoring_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }

    # Only on behalf of this account's instances (no confused deputy).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name_prefix}-ledger-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_subnet_group" "ledger" {
  name       = "${var.name_prefix}-ledger"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "ledger" {
  name        = "${var.name_prefix}-ledger"
  description = "PostgreSQL from the cluster nodes only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "ledger" {
  for_each = toset(var.allowed_security_group_ids)

  security_group_id            = aws_security_group.ledger.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  description                  = "PostgreSQL from ${each.value}"
}

resource "aws_db_parameter_group" "ledger" {
  name   = "${var.name_prefix}-ledger-pg${var.engine_major_version}"
  family = "postgres${var.engine_major_version}"
  tags   = var.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Statements that hold row locks must not run away with a wallet.
  parameter {
    name  = "idle_in_transaction_session_timeout"
    value = "60000"
  }
}

resource "aws_db_instance" "ledger" {
  #checkov:skip=CKV_AWS_293:Deletion protection follows var.deletion_protection: on in prod (asserted by tests/deploy/test_checkov.py), off in dev so that its account can be torn down.
  #checkov:skip=CKV_AWS_157:Multi-AZ follows var.multi_az: on in prod (high_availability = true, asserted by tests/deploy/test_checkov.py), single-zone in dev to save money.
  identifier     = "${var.name_prefix}-ledger"
  engine         = "postgres"
  engine_version = var.engine_major_version
  instance_class = var.instance_class

  db_name                       = var.database_name
  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = module.ledger_key.arn

  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = var.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = module.ledger_key.arn

  multi_az               = var.multi_az
  db_subnet_group_name   = aws_db_subnet_group.ledger.name
  vpc_security_group_ids = [aws_security_group.ledger.id]
  parameter_group_name   = aws_db_parameter_group.ledger.name
  publicly_accessible    = false

  backup_retention_period   = var.backup_retention_days
  backup_window             = "03:00-04:00"
  maintenance_window        = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name_prefix}-ledger-final"

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = module.ledger_key.arn
  monitoring_interval                 = var.monitoring_interval_seconds
  monitoring_role_arn                 = aws_iam_role.monitoring.arn
  enabled_cloudwatch_logs_exports     = ["postgresql"]

  tags = merge(var.tags, { data = "ledger" })

  depends_on = [aws_iam_role_policy_attachment.monitoring]
}
