terraform {
  required_version = ">= 1.6"

  required_providers {
    # The registry module declares the providers it needs besides; this one it inherits.
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60"
    }
  }
}
