"""Each Service, Job and IAM role refers to exactly the secrets its function uses, checked
against a table declared here, independently of the generator's own (shared.function_secrets)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from shared.deploy.common import KEY_FILE_SECRET_NAMES, SECRET_NAME
from shared.functions import FUNCTIONS

from .conftest import REPOSITORY_ROOT, TREES

_EVERY_FUNCTION = {"database-url", "redis-url"}
_CLIENT = _EVERY_FUNCTION | {"verification-keys"}
# function → the secrets it may read. `users` alone signs tokens; `accounts`, `users` and
# `payments` derive keys from the secret key (the card vault's fingerprints; the sealed
# second-factor secrets and the digests of e-mail codes); the client functions verify tokens;
# `users`, `payments` and `admin` alone find users by e-mail address (the blind index's key).
EXPECTED_SECRETS: dict[str, set[str]] = {
    "users": _CLIENT | {"signing-keys", "secret-key", "personal-data-index-key"},
    "accounts": _CLIENT | {"secret-key"},
    "wallets": _CLIENT,
    "payments": _CLIENT | {"secret-key", "personal-data-index-key"},
    "transactions": _CLIENT,
    "notifications": _CLIENT,
    "admin": _CLIENT | {"personal-data-index-key"},
    "score-fraud": _EVERY_FUNCTION,
    "debit-wallet": _EVERY_FUNCTION,
    "settle": _EVERY_FUNCTION,
    "payout": _EVERY_FUNCTION,
    "notify": _EVERY_FUNCTION,
    "audit": _EVERY_FUNCTION,
    "relay-outbox": _EVERY_FUNCTION,
    "sweep-sagas": _EVERY_FUNCTION,
    "verify-kyc": _EVERY_FUNCTION,
    "archive-audit": _EVERY_FUNCTION,
    "reconcile": _EVERY_FUNCTION,
}
_SECRET_OF_KEY_FILE = {secret: name for name, secret in KEY_FILE_SECRET_NAMES.items()}


def _referenced_secrets(pod_spec: dict[str, Any]) -> set[str]:
    """Every secret a pod refers to: keys of the platform's Secret and mounted key-file Secrets."""
    referenced = set()
    for container in pod_spec["containers"]:
        for entry in container.get("env", []):
            reference = entry.get("valueFrom", {}).get("secretKeyRef")
            if reference is not None:
                assert reference["name"] == SECRET_NAME, entry
                referenced.add(reference["key"])
        assert not [source for source in container.get("envFrom", []) if "secretRef" in source], container["name"]
    for volume in pod_spec.get("volumes", []):
        for source in [volume, *volume.get("projected", {}).get("sources", [])]:
            if "secret" in source:
                referenced.add(_SECRET_OF_KEY_FILE[source["secret"].get("secretName") or source["secret"]["name"]])
    return referenced


def test_the_declared_table_names_every_function():
    assert set(EXPECTED_SECRETS) == {function.name for function in FUNCTIONS}


@pytest.mark.parametrize("tree", TREES)
def test_every_service_refers_to_exactly_the_secrets_it_uses(built_trees, tree):
    services = {
        resource["metadata"]["name"]: resource
        for resource in built_trees[tree]
        if resource["kind"] == "Service" and resource["apiVersion"] == "serving.knative.dev/v1"
    }
    assert set(services) == set(EXPECTED_SECRETS)
    for name, service in services.items():
        assert _referenced_secrets(service["spec"]["template"]["spec"]) == EXPECTED_SECRETS[name], (tree, name)


@pytest.mark.parametrize("tree", TREES)
def test_the_database_jobs_get_the_database_and_the_cache_only(built_trees, tree):
    for job in [resource for resource in built_trees[tree] if resource["kind"] == "Job"]:
        assert _referenced_secrets(job["spec"]["template"]["spec"]) <= _EVERY_FUNCTION, (tree, job["metadata"]["name"])


def test_every_function_s_role_may_read_exactly_its_own_secrets():
    topology = json.loads((REPOSITORY_ROOT / "terraform" / "topology.json").read_text())
    assert {name: set(function["secrets"]) for name, function in topology["functions"].items()} == EXPECTED_SECRETS
    assert set(topology["secrets"]) == set().union(*EXPECTED_SECRETS.values())
    # The role policy grants the secrets the function lists, and nothing wider.
    text = (REPOSITORY_ROOT / "terraform" / "modules" / "iam_irsa" / "main.tf").read_text()
    statement = re.compile(r'sid\s*=\s*"(?P<sid>\w+Secrets)"\s*\n.*\n\s*resources\s*=\s*(?P<resources>.*)\n')
    granted = {match["sid"]: match["resources"].strip() for match in statement.finditer(text)}
    assert granted == {
        "ReadOwnSecrets": "[for name in each.value.secrets : var.secret_arns[name]]",
        "DecryptOwnSecrets": "[var.secrets_kms_key_arn]",
    }
    assert "secretsmanager:*" not in text and "secretsmanager:GetSecretValue" in text
