"""Deployment artefacts generated from the one declaration of the platform.

`shared.deploy.render` turns `shared.topology` and `shared.functions` into the Kustomize tree
under `knative/` and the data file `terraform/topology.json` that the Terraform modules read, so
that a new route or function reaches Kubernetes and AWS by editing one Python module and running

    python -m shared.deploy.render

One module per target: `knative` (the base tree), `minikube` and `eks` (the overlays), `jobs`
(the database Job both overlays run) and `terraform`; `common` holds what they share. The
generated files are committed; a test renders again and fails on any difference.
(The package imports nothing at import time, so `python -m shared.deploy.render` runs the
module once, not twice.)
"""

__all__ = ["common", "eks", "jobs", "knative", "minikube", "render", "terraform"]
