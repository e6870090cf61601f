terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60"
    }
    # Not a hashicorp/ provider: naming its source here lets the datadog module inherit the
    # configuration the environment gives it.
    datadog = {
      source  = "DataDog/datadog"
      version = ">= 3.46"
    }
  }
}
