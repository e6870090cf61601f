# Redis for rate limits and caches: TLS in transit, encrypted at rest with a customer-managed
# key, an AUTH token, a replica in another availability zone with automatic failover.
#
# The token is generated here and stored in Secrets Manager for the cluster's secret; it is in
# Terraform state too, which is why the state backend must be encrypted (see envs/*/versions.tf).

# One key for the cache's data at rest and for its AUTH token's secret. The key policy hands it
# to the account's IAM policies: whoever reads the secret also needs kms:Decrypt on this key.
module "cache_key" {
  source      = "../kms_key"
  description = "${var.name_prefix} Redis data and AUTH token"
  tags        = var.tags
}

# The key moved into the shared module: the same key, not a new one.
moved {
  from = aws_kms_key.cache
  to   = module.cache_key.aws_kms_key.this
}

resource "random_password" "auth_token" {
  length = 64
  # ElastiCache accepts printable ASCII except space, '"', '/' and '@'.
  special          = true
  override_special = "!&#$^<>-"
}

resource "aws_secretsmanager_secret" "auth_token" {
  #checkov:skip=CKV2_AWS_57:Terraform owns the token (random_password, set on the replication group); a rotation Lambda would drift from it. Rotate with `terraform apply -replace=module.platform.module.elasticache.random_password.auth_token`.
  name        = "${var.name_prefix}/redis-auth-token"
  description = "AUTH token of the ${var.name_prefix} Redis replication group"
  kms_key_id  = module.cache_key.arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "auth_token" {
  secret_id     = aws_secretsmanager_secret.auth_token.id
  secret_string = random_password.auth_token.result
}

resource "aws_elasticache_subnet_group" "cache" {
  name       = "${var.name_prefix}-cache"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "cache" {
  name        = "${var.name_prefix}-cache"
  description = "Redis from the cluster nodes only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "cache" {
  for_each = toset(var.allowed_security_group_ids)

  security_group_id            = aws_security_group.cache.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  description                  = "Redis from ${each.value}"
}

resource "aws_elasticache_replication_group" "cache" {
  #checkov:skip=CKV2_AWS_50:Failover and Multi-AZ follow var.replicas: on in prod (high_availability = true, asserted by tests/deploy/test_checkov.py), off in dev's single-node cache.
  replication_group_id = "${var.name_prefix}-cache"
  description          = "${var.name_prefix} Redis"
  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = 6379

  num_cache_clusters         = var.replicas + 1
  automatic_failover_enabled = var.replicas > 0
  multi_az_enabled           = var.replicas > 0

  subnet_group_name  = aws_elasticache_subnet_group.cache.name
  security_group_ids = [aws_security_group.cache.id]

  transit_encryption_enabled = true
  at_rest_encryption_enabled = true
  kms_key_id                 = module.cache_key.arn
  auth_token                 = random_password.auth_token.result

  snapshot_retention_limit   = var.snapshot_retention_days
  auto_minor_version_upgrade = true
  apply_immediately          = false

  tags = var.tags
}
