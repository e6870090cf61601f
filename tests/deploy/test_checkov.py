"""terraform/: checkov finds no failed check, and every check skipped is skipped inline, in the
resource, with its reason.

checkov runs from its own virtual environment, `.venv-checkov` (`make checkov-venv`, from
.ci/checkov-requirements.txt): it pins boto3 and installs its own hcl2, which would replace the
python-hcl2 that test_terraform.py parses with. It scans offline: no external module is
downloaded and nothing is fetched from a platform.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from shared.deploy.common import REPOSITORY_ROOT

TERRAFORM_DIR = REPOSITORY_ROOT / "terraform"
CHECKOV = REPOSITORY_ROOT / ".venv-checkov" / "bin" / "checkov"
SCAN_TIMEOUT_SECONDS = 300
# "#checkov:skip=CKV_AWS_18:the reason": one check per comment, and a reason in words.
SKIP_COMMENT = re.compile(r"checkov:skip=([^:\s]*)(?::(.*))?")
SKIP_ID = re.compile(r"CKV2?_[A-Z0-9]+_\d+")
REASON_MIN_WORDS = 4
NO_REASON = "No comment provided"  # what checkov reports for a skip without one

# Checks skipped in a module because only dev turns the setting off: prod must keep it on.
PROD_SETTINGS = {"high_availability": True, "deletion_protection": True}


@cache
def _scan() -> dict[str, Any]:
    if not CHECKOV.is_file():
        pytest.fail(f"{CHECKOV.relative_to(REPOSITORY_ROOT)} is missing: run `make checkov-venv`")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["CKV_SKIP_PACKAGE_UPDATE_CHECK"] = "true"
    completed = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            "terraform",
            "--framework",
            "terraform",
            "--output",
            "json",
            "--download-external-modules",
            "false",
            "--skip-download",
        ],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT_SECONDS,
        env=env,
    )
    # 0: nothing failed, 1: a check failed; anything else is checkov itself failing.
    assert completed.returncode in (0, 1), completed.stderr[-4000:]
    report = json.loads(completed.stdout)
    if isinstance(report, list):  # one report per framework when several ran
        (report,) = [r for r in report if r["check_type"] == "terraform"]
    assert report["check_type"] == "terraform"
    return report


def _where(result: dict[str, Any]) -> str:
    first, last = result["file_line_range"]
    return f"{result['check_id']} {result['resource']} (terraform{result['file_path']}:{first}-{last})"


def _source_skips() -> list[tuple[Path, int, str, str]]:
    """Every `checkov:skip=` comment under terraform/: (file, line, check id, reason)."""
    found = []
    for path in sorted(TERRAFORM_DIR.rglob("*.tf")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if match:
                found.append((path, number, match.group(1), (match.group(2) or "").strip()))
    return found


def test_checkov_finds_no_failed_check():
    report = _scan()
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, report["results"].get("parsing_errors")
    assert summary["resource_count"] > 0 and summary["passed"] > 0, summary
    failed = [_where(result) for result in report["results"]["failed_checks"]]
    assert failed == [], (
        "checkov failed these checks: fix them, or skip one that does not apply inline in the "
        "resource with `#checkov:skip=<check id>:<reason>`:\n" + "\n".join(failed)
    )
    assert summary["failed"] == 0, summary


def test_every_skip_checkov_applied_carries_a_reason():
    report = _scan()
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the inline skips in terraform/ were not applied"
    for result in skipped:
        reason = (result["check_result"].get("suppress_comment") or "").strip()
        assert reason and reason != NO_REASON, f"skipped without a reason: {_where(result)}"
        assert len(reason.split()) >= REASON_MIN_WORDS, f"say why: {_where(result)}: {reason}"


def test_every_inline_skip_names_one_check_and_says_why():
    skips = _source_skips()
    assert skips
    for path, number, check_id, reason in skips:
        where = f"{path.relative_to(REPOSITORY_ROOT)}:{number}"
        assert SKIP_ID.fullmatch(check_id), f"{where}: one check id per skip, not {check_id!r}"
        assert len(reason.split()) >= REASON_MIN_WORDS, f"{where}: give the reason for {check_id}"


def test_every_inline_skip_is_applied_by_checkov():
    """A skip whose check id is mistyped or whose check no longer fires is dead text."""
    applied = {(result["file_path"], result["check_id"]) for result in _scan()["results"]["skipped_checks"]}
    stale = [
        f"{path.relative_to(REPOSITORY_ROOT)}:{number} {check_id}"
        for path, number, check_id, _ in _source_skips()
        if ("/" + str(path.relative_to(TERRAFORM_DIR)), check_id) not in applied
    ]
    assert stale == [], "skips checkov did not apply: " + ", ".join(stale)


def test_prod_keeps_on_what_the_module_skips_allow_dev_to_turn_off():
    # The RDS Multi-AZ and deletion protection and the ElastiCache failover checks are skipped
    # in the modules because dev turns them off; production must not.
    with (TERRAFORM_DIR / "envs" / "prod" / "main.tf").open() as handle:
        (module,) = hcl2.load(handle)["module"]
    # python-hcl2 8 keeps the quotes of block labels.
    (platform,) = [body for label, body in module.items() if label.strip('"') == "platform"]
    for name, value in PROD_SETTINGS.items():
        assert platform[name] is value, f"envs/prod sets {name} = {platform[name]!r}"
