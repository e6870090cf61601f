"""`knative/overlays/eks/`: real SQS ARNs and URLs, IRSA role annotations, the ECR image and the
migration Job, for the account and region of the render options."""

from __future__ import annotations

from typing import Any

from shared import topology
from shared.deploy.common import (
    IMAGE_NAME,
    RenderOptions,
    kustomization,
    queue_reader_service_account,
    to_yaml,
)
from shared.deploy.jobs import database_job
from shared.deploy.knative import config_patch, environment_patches, source_patch
from shared.functions import FUNCTIONS

__all__ = ["RDS_CA_FILE", "render_eks"]

# Where the image keeps Amazon's RDS CA bundle (Dockerfile).
RDS_CA_FILE = "/etc/paystream/rds/global-bundle.pem"


def _role_arn(options: RenderOptions, service_account: str) -> str:
    """The IAM role terraform/modules/iam_irsa creates for the service account."""
    role_name = f"{topology.RESOURCE_PREFIX}-{service_account}"
    return f"arn:aws:iam::{options.aws_account_id}:role/{role_name}"


def _service_account_patch(name: str, options: RenderOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            # IRSA: the pod gets web-identity credentials for exactly this role.
            "annotations": {"eks.amazonaws.com/role-arn": _role_arn(options, name)},
        },
    }


def _source_patch(route: topology.Route, options: RenderOptions) -> dict[str, Any]:
    return source_patch(
        route.consumer,
        {
            "sqs": {
                "arn": f"arn:aws:sqs:{options.aws_region}:{options.aws_account_id}:{route.queue_name}",
                "queueURL": (
                    f"https://sqs.{options.aws_region}.amazonaws.com/{options.aws_account_id}/{route.queue_name}"
                ),
                "region": options.aws_region,
            }
        },
    )


def render_eks(version: str, options: RenderOptions) -> dict[str, str]:
    """Every file under `knative/overlays/eks/`, path relative to it → text."""
    service_accounts = [f.name for f in FUNCTIONS] + [
        queue_reader_service_account(route.consumer) for route in topology.ROUTES
    ]
    files = {
        "migrate-job.yaml": to_yaml([database_job(None)]),
        "patches/config.yaml": to_yaml(
            [
                config_patch(
                    {
                        "PAYSTREAM_ENVIRONMENT": options.eks_environment,
                        "PAYSTREAM_AWS_REGION": options.aws_region,
                        # RDS refuses unencrypted connections (rds.force_ssl); the functions
                        # also check its certificate and host name against Amazon's RDS CA
                        # bundle, which the image carries (Dockerfile).
                        "PAYSTREAM_DATABASE_TLS": "verify-full",
                        "PAYSTREAM_DATABASE_CA_FILE": RDS_CA_FILE,
                        # terraform/modules/s3_kyc_documents names the bucket after the account
                        # and region (bucket names are global); the key is found by its alias.
                        "PAYSTREAM_KYC_DOCUMENTS_BUCKET": (
                            f"{topology.KYC_DOCUMENTS_BUCKET}-{options.aws_account_id}-{options.aws_region}"
                        ),
                        # terraform/modules/s3_audit_archive, likewise.
                        "PAYSTREAM_AUDIT_ARCHIVE_BUCKET": (
                            f"{topology.AUDIT_ARCHIVE_BUCKET}-{options.aws_account_id}-{options.aws_region}"
                        ),
                    }
                )
            ]
        ),
        "patches/environment.yaml": to_yaml(environment_patches(options.eks_environment)),
        "patches/service-accounts.yaml": to_yaml(
            [_service_account_patch(name, options) for name in sorted(service_accounts)]
        ),
        "patches/sources.yaml": to_yaml([_source_patch(r, options) for r in topology.ROUTES]),
    }
    registry = f"{options.aws_account_id}.dkr.ecr.{options.aws_region}.amazonaws.com"
    files["kustomization.yaml"] = to_yaml(
        [
            kustomization(
                resources=["../../base", "migrate-job.yaml"],
                patches=sorted(path for path in files if path.startswith("patches/")),
                images=[{"name": IMAGE_NAME, "newName": f"{registry}/{IMAGE_NAME}", "newTag": version}],
            )
        ]
    )
    return files
