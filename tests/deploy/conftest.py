"""Fixtures for the deployment tests: the Kustomize trees under knative/, built offline.

An overlay is built twice when possible. Always by `build_kustomization` below, a small Python
reading of the subset of Kustomize that `knative/` uses (resources, namespace, patches that only
merge maps, images), so the tests run on any machine; and, when a `kustomize` or `kubectl`
binary is on PATH, by that binary too, and a test checks the two agree.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.deploy.common import REPOSITORY_ROOT

__all__: list[str] = []

KNATIVE_DIR = REPOSITORY_ROOT / "knative"
TREES = ("base", "overlays/minikube", "overlays/eks")
# Kinds without a namespace: Kustomize's namespace transformer leaves them alone.
CLUSTER_SCOPED_KINDS = frozenset({"Namespace"})
KUSTOMIZE_TIMEOUT_SECONDS = 60


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """JSON merge patch (RFC 7386): maps merge, null deletes, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _containers(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = resource.get("spec", {})
    for pod_spec in (spec, spec.get("template", {}).get("spec", {})):
        yield from pod_spec.get("containers", []) or []
        yield from pod_spec.get("initContainers", []) or []


def build_kustomization(directory: Path) -> list[dict[str, Any]]:
    """Build a kustomization the way `kustomize build` does, for the features knative/ uses."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    known = {"apiVersion", "kind", "namespace", "resources", "patches", "images"}
    unknown = set(kustomization) - known
    assert not unknown, f"{directory}: the offline build does not implement {sorted(unknown)}"
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        resources.extend(build_kustomization(path) if path.is_dir() else _documents(path))
    for patch_entry in kustomization.get("patches", []):
        assert set(patch_entry) == {"path"}, "only file patches with an implicit target"
        for patch in _documents(directory / patch_entry["path"]):
            targets = [
                resource
                for resource in resources
                if resource["kind"] == patch["kind"] and resource["metadata"]["name"] == patch["metadata"]["name"]
            ]
            name = f"{patch['kind']}/{patch['metadata']['name']}"
            assert len(targets) == 1, f"patch {name}: not exactly one target"
            _merge(targets[0], {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")})
    for image in kustomization.get("images", []):
        for resource in resources:
            for container in _containers(resource):
                name = container["image"].split(":")[0]
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
    namespace = kustomization.get("namespace")
    if namespace:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED_KINDS:
                resource["metadata"]["namespace"] = namespace
    return resources


def kustomize_binary() -> list[str] | None:
    """The command that builds a kustomization here, or None if there is none."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def build_with_binary(command: list[str], directory: Path) -> list[dict[str, Any]]:
    completed = subprocess.run(
        [*command, str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=KUSTOMIZE_TIMEOUT_SECONDS,
    )
    return [document for document in yaml.safe_load_all(completed.stdout) if document]


@pytest.fixture(scope="session")
def built_trees() -> dict[str, list[dict[str, Any]]]:
    """Every tree under knative/ (base and overlays), built offline: tree → resources."""
    return {tree: build_kustomization(KNATIVE_DIR / tree) for tree in TREES}
