# The prod environment: its own AWS account, every stateful service across availability zones.

provider "aws" {
  region = var.region

  default_tags {
    tags = { environment = "prod", managed_by = "terraform" }
  }
}

# The API and application keys come from DD_API_KEY and DD_APP_KEY in the environment of
# `terraform apply`, never from a file.
provider "datadog" {
  api_url = "https://api.${var.datadog_site}/"
}

module "platform" {
  source = "../../modules/platform"

  environment             = "prod"
  datadog_enabled         = var.datadog_enabled
  datadog_site            = var.datadog_site
  availability_zone_ids   = var.availability_zone_ids
  high_availability       = true
  node_instance_types     = ["m6i.large"]
  node_count_min          = 3
  node_count_max          = 9
  database_instance_class = "db.r6g.large"
  backup_retention_days   = 35
  cache_node_type         = "cache.r6g.large"
  deletion_protection     = true
}
