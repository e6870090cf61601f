"""Deployment tests: the image, the Knative manifests and the Terraform, checked offline."""
