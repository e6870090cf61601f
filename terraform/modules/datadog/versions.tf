terraform {
  required_version = ">= 1.6"

  required_providers {
    # Not a hashicorp/ provider: every module that uses it must name its source.
    datadog = {
      source  = "DataDog/datadog"
      version = ">= 3.46"
    }
  }
}
