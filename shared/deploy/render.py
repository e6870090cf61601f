"""Render `knative/` and `terraform/` from the topology and the function index.

Everything here is derived from `shared.topology` (routes, schedules, names) and
`shared.functions` (functions, signature types, the API gateway's path table); nothing about a
route or a function is written twice. The output is deterministic (sorted, no timestamps), so a
test can render again and compare with the committed files.

Layout written, one module of `shared.deploy` each:

    knative/base/                 knative: one Knative Service and ServiceAccount per function,
                                  one IntegrationSource (SQS) per route, one PingSource per
                                  schedule, the Ingress (the API gateway), the ConfigMap
    knative/overlays/minikube/    minikube: moto, PostgreSQL and Redis in the cluster, sources
                                  pointed at moto, the bootstrap Job (jobs)
    knative/overlays/eks/         eks: real SQS ARNs and URLs, IRSA role annotations, the ECR
                                  image, the migration Job (jobs)
    terraform/topology.json       terraform: the routes, tables, topics and service accounts
                                  Terraform reads, and the Datadog dashboards

Usage:

    python -m shared.deploy.render [--check] [--aws-account-id ID] [--aws-region REGION]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from shared.deploy.common import GENERATED_HEADER, REPOSITORY_ROOT, RenderOptions, package_version
from shared.deploy.eks import render_eks
from shared.deploy.knative import render_base
from shared.deploy.minikube import render_minikube
from shared.deploy.terraform import render_terraform

__all__ = ["render_knative", "render_all", "write_all", "main"]


def render_knative(options: RenderOptions = RenderOptions()) -> dict[str, str]:
    """Every file under `knative/`, path relative to it → text."""
    version = package_version()
    files: dict[str, str] = {}
    for prefix, tree in (
        ("base", render_base(version)),
        ("overlays/minikube", render_minikube(version)),
        ("overlays/eks", render_eks(version, options)),
    ):
        for path, text in tree.items():
            files[f"{prefix}/{path}"] = text
    return files


def render_all(options: RenderOptions = RenderOptions()) -> dict[Path, str]:
    """Every generated file, absolute path → text."""
    files: dict[Path, str] = {}
    for path, text in render_knative(options).items():
        files[REPOSITORY_ROOT / "knative" / path] = text
    for path, text in render_terraform().items():
        files[REPOSITORY_ROOT / "terraform" / path] = text
    return files


def _stale_generated_files(files: Mapping[Path, str]) -> list[Path]:
    """Generated YAML under knative/ that the declaration no longer produces."""
    knative = REPOSITORY_ROOT / "knative"
    existing = {path for path in knative.rglob("*.yaml")} if knative.exists() else set()
    return sorted(path for path in existing - set(files) if path.read_text().startswith(GENERATED_HEADER))


def write_all(options: RenderOptions = RenderOptions()) -> list[Path]:
    """Write every generated file and delete generated files no longer declared."""
    files = render_all(options)
    for path in _stale_generated_files(files):
        path.unlink()
    changed = []
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.deploy.render", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file differs")
    parser.add_argument("--aws-account-id", default=RenderOptions.aws_account_id)
    parser.add_argument("--aws-region", default=RenderOptions.aws_region)
    parser.add_argument("--eks-environment", default=RenderOptions.eks_environment)
    args = parser.parse_args(argv)
    options = RenderOptions(args.aws_account_id, args.aws_region, args.eks_environment)
    if args.check:
        files = render_all(options)
        stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
        stale += _stale_generated_files(files)
        for path in stale:
            print(f"out of date: {path.relative_to(REPOSITORY_ROOT)}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all(options):
        print(f"wrote {path.relative_to(REPOSITORY_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
