# The platform's secrets in Secrets Manager, one secret each, so that each function's role can
# be allowed exactly the ones it uses (terraform/topology.json lists them per function, from
# shared/function_secrets.py): only `users` reads the private signing key ring; the client
# functions read the public verification keys; only `accounts` reads the secret key. They are
# the source of the Kubernetes Secrets the Services mount (docs/deploy.md), and a function's
# role (IRSA) can read nothing else, whatever reads under it.
#
# Terraform creates the secrets, not their values: `paystream keys rotate` writes the key files
# and `aws secretsmanager put-secret-value` stores them (docs/security.md, "Sessions, tokens and
# keys"), so no private key passes through Terraform state.

module "secrets_key" {
  source      = "../kms_key"
  description = "${var.name_prefix} platform secrets"
  tags        = var.tags
}

resource "aws_secretsmanager_secret" "platform" {
  #checkov:skip=CKV2_AWS_57:The token keys are rotated with `paystream keys rotate` (an overlap that a rotation Lambda cannot keep); the URLs change with their stores.
  for_each = toset(var.secret_names)

  name        = "${var.name_prefix}/${each.value}"
  description = "${each.value} of the ${var.name_prefix} platform"
  kms_key_id  = module.secrets_key.arn
  tags        = merge(var.tags, { secret = each.value })
}
