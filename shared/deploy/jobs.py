"""The one-off Job each overlay runs before the functions serve: migrate the database, and on
Minikube also provision the topology on moto."""

from __future__ import annotations

from typing import Any

from shared.deploy.common import CONFIG_MAP_NAME, IMAGE_NAME, NAMESPACE, secret_env

__all__ = ["database_job"]

# Kubernetes' own default, stated: the Job retries with back-off while the database starts.
JOB_RETRIES_MAX = 6


def database_job(endpoint: str | None) -> dict[str, Any]:
    """Migrate the database and, on moto, provision the topology, with the platform's own code.

    On EKS Terraform provisions the topology, so the job only migrates (`endpoint` is None).
    """
    command = "paystream migrate"
    if endpoint:
        command += f" && paystream provision --endpoint-url {endpoint}"
    name = "bootstrap" if endpoint else "migrate"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": NAMESPACE}},
        "spec": {
            "backoffLimit": JOB_RETRIES_MAX,
            "template": {
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [
                        {
                            "name": name,
                            "image": IMAGE_NAME,
                            "command": ["sh", "-c", command],
                            "envFrom": [{"configMapRef": {"name": CONFIG_MAP_NAME}}],
                            "env": secret_env(),
                        }
                    ],
                }
            },
        },
    }
