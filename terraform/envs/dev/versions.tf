terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    datadog = {
      source  = "DataDog/datadog"
      version = "~> 3.46"
    }
  }

  # State holds the Redis AUTH token: keep it in an encrypted bucket with locking. The bucket
  # and table are per account; pass them with `terraform init -backend-config=backend.hcl`.
  backend "s3" {
    key     = "paystream/terraform.tfstate"
    encrypt = true
  }
}
