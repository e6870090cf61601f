# The dev environment: its own AWS account, small and single-zone where that saves money.

provider "aws" {
  region = var.region

  default_tags {
    tags = { environment = "dev", managed_by = "terraform" }
  }
}

# The API and application keys come from DD_API_KEY and DD_APP_KEY in the environment of
# `terraform apply`, never from a file.
provider "datadog" {
  api_url = "https://api.${var.datadog_site}/"
}

module "platform" {
  source = "../../modules/platform"

  environment             = "dev"
  datadog_enabled         = var.datadog_enabled
  datadog_site            = var.datadog_site
  availability_zone_ids   = var.availability_zone_ids
  high_availability       = false
  node_instance_types     = ["t3.large"]
  node_count_min          = 2
  node_count_max          = 3
  database_instance_class = "db.t4g.medium"
  backup_retention_days   = 7
  cache_node_type         = "cache.t4g.small"
  deletion_protection     = false
}
