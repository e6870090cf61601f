# The whole platform in one AWS account and region, composed from the modules beside this one.
# envs/dev and envs/prod call it with their sizes; everything about events comes from
# terraform/topology.json, which `python -m shared.deploy.render` writes from shared/topology.py.
#
# Queue, rule and table names carry no environment: each environment lives in its own AWS
# account, which is also what keeps a dev credential away from production money.

locals {
  topology = jsondecode(file("${path.module}/../../topology.json"))
  prefix   = local.topology.resource_prefix
  tags = merge(var.tags, {
    application = local.prefix
    environment = var.environment
  })
}

# The zones are pinned by id (ids name the same physical zone in every account, names do not):
# a zone that AWS adds to the region, or one that is impaired at plan time, must never move
# subnets, and with them the database and the cache, to other zones.
data "aws_availability_zones" "pinned" {
  filter {
    name   = "zone-id"
    values = var.availability_zone_ids
  }
}

module "vpc" {
  #checkov:skip=CKV_TF_1:A Terraform Registry source resolves versions, not commits; the release is pinned exactly instead.
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.13.0"

  name = "${local.prefix}-${var.environment}"
  cidr = var.vpc_cidr
  azs  = data.aws_availability_zones.pinned.names

  private_subnets     = [for i in range(3) : cidrsubnet(var.vpc_cidr, 4, i)]
  public_subnets      = [for i in range(3) : cidrsubnet(var.vpc_cidr, 8, 48 + i)]
  database_subnets    = [for i in range(3) : cidrsubnet(var.vpc_cidr, 8, 52 + i)]
  elasticache_subnets = [for i in range(3) : cidrsubnet(var.vpc_cidr, 8, 56 + i)]

  enable_nat_gateway = true
  # One NAT gateway per zone in production, so that losing a zone does not cut the others off.
  single_nat_gateway = !var.high_availability

  public_subnet_tags  = { "kubernetes.io/role/elb" = "1" }
  private_subnet_tags = { "kubernetes.io/role/internal-elb" = "1" }

  tags = local.tags
}

module "eks" {
  source = "../eks"

  cluster_name        = "${local.prefix}-${var.environment}"
  kubernetes_version  = var.kubernetes_version
  vpc_id              = module.vpc.vpc_id
  subnet_ids          = module.vpc.private_subnets
  node_instance_types = var.node_instance_types
  node_count_min      = var.node_count_min
  node_count_max      = var.node_count_max
  tags                = local.tags
}

module "sqs" {
  source = "../sqs"

  bus_name                = local.topology.bus_name
  routes                  = local.topology.routes
  queue_retention_seconds = local.topology.queue_retention_seconds
  dlq_retention_seconds   = local.topology.dlq_retention_seconds
  tags                    = local.tags
}

module "eventbridge" {
  source = "../eventbridge"

  bus_name                     = local.topology.bus_name
  rules                        = local.topology.rules
  queue_arns                   = module.sqs.queue_arns
  target_dlq_name              = local.topology.eventbridge_target_dlq_name
  dlq_retention_seconds        = local.topology.dlq_retention_seconds
  target_retry_attempts_max    = local.topology.target_retry_attempts_max
  target_event_age_seconds_max = local.topology.target_event_age_seconds_max
  tags                         = local.tags
}

module "dynamodb" {
  source = "../dynamodb"

  name_prefix         = local.prefix
  audit_table_name    = local.topology.audit_table_name
  deletion_protection = var.deletion_protection
  tags                = local.tags
}

module "s3_audit_archive" {
  source = "../s3_audit_archive"

  bucket_prefix = local.topology.audit_archive_bucket_prefix
  key_alias     = local.topology.audit_archive_key_alias
  tags          = local.tags
}

module "s3_kyc_documents" {
  source = "../s3_kyc_documents"

  bucket_prefix = local.topology.kyc_documents_bucket_prefix
  key_alias     = local.topology.kyc_documents_key_alias
  tags          = local.tags
}

module "sns" {
  source = "../sns"

  topics = local.topology.sns_topics
  tags   = local.tags
}

module "rds" {
  source = "../rds"

  name_prefix                = local.prefix
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.database_subnets
  allowed_security_group_ids = [module.eks.node_security_group_id]
  instance_class             = var.database_instance_class
  multi_az                   = var.high_availability
  backup_retention_days      = var.backup_retention_days
  deletion_protection        = var.deletion_protection
  tags                       = local.tags
}

module "elasticache" {
  source = "../elasticache"

  name_prefix                = local.prefix
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.elasticache_subnets
  allowed_security_group_ids = [module.eks.node_security_group_id]
  node_type                  = var.cache_node_type
  replicas                   = var.high_availability ? 1 : 0
  tags                       = local.tags
}

module "platform_secrets" {
  source = "../platform_secrets"

  name_prefix  = local.prefix
  secret_names = local.topology.secrets
  tags         = local.tags
}

# The key-encryption key of every user's personal data keys (shared.privacy): the functions
# wrap and unwrap data keys with it, and it never leaves KMS.
module "personal_data_key" {
  source = "../kms_key"

  description = "${local.prefix} personal data keys"
  tags        = local.tags
}

resource "aws_kms_alias" "personal_data" {
  name          = local.topology.personal_data_key_alias
  target_key_id = module.personal_data_key.key_id
}

module "iam_irsa" {
  source = "../iam_irsa"

  name_prefix        = local.prefix
  namespace          = local.topology.namespace
  oidc_provider_arn  = module.eks.oidc_provider_arn
  oidc_provider_url  = module.eks.oidc_provider_url
  functions          = local.topology.functions
  routes             = local.topology.routes
  bus_arn            = module.eventbridge.bus_arn
  queue_arns         = module.sqs.queue_arns
  audit_table_arn    = module.dynamodb.audit_table_arn
  tables_kms_key_arn = module.dynamodb.kms_key_arn
  topic_arns         = values(module.sns.topic_arns)
  tags               = local.tags

  kyc_documents_bucket_arn  = module.s3_kyc_documents.bucket_arn
  kyc_documents_kms_key_arn = module.s3_kyc_documents.kms_key_arn
  audit_archive_bucket_arn  = module.s3_audit_archive.bucket_arn
  audit_archive_kms_key_arn = module.s3_audit_archive.kms_key_arn
  secret_arns               = module.platform_secrets.secret_arns
  secrets_kms_key_arn       = module.platform_secrets.kms_key_arn
  personal_data_kms_key_arn = module.personal_data_key.arn
}

module "datadog" {
  source = "../datadog"

  enabled       = var.datadog_enabled
  site          = var.datadog_site
  environment   = var.environment
  service_names = keys(local.topology.functions)
  tags          = local.tags
}

# The one image every function runs (see the Dockerfile). Tags are immutable: a version is
# deployed by its tag, so a tag must always mean the same image.
resource "aws_ecr_repository" "image" {
  name                 = local.prefix
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = local.tags
}
