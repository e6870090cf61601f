"""What runs in the image needs none of the packages only the local ways to run use.

moto (with the docker, cfn-lint and aws-xray-sdk its server extra brings) and fakeredis are the
`local` extra: `make up` and `make test` install it, the image does
not. So no production dependency may name them, and every function must import (and the
platform build) with them absent.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib

from shared.deploy.common import REPOSITORY_ROOT

# Import names → distribution names of what only the local runners and the tests use.
LOCAL_ONLY = {
    "moto": "moto",
    "fakeredis": "fakeredis",
    "docker": "docker",
    "cfnlint": "cfn-lint",
    "aws_xray_sdk": "aws-xray-sdk",
}
IMPORT_SECONDS_MAX = 240


def _project() -> dict:
    return tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalised (PEP 503)."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    name = match.group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_production_dependencies_name_no_local_only_package():
    production = {_name(r) for r in _project()["dependencies"]}
    assert not production & set(LOCAL_ONLY.values()), (
        f"local-only packages among the runtime dependencies: {production & set(LOCAL_ONLY.values())}"
    )


def test_the_local_extra_holds_them_and_the_test_extra_does_not_repeat_them():
    extras = _project()["optional-dependencies"]
    assert {"moto", "fakeredis"} <= {_name(r) for r in extras["local"]}
    assert not {_name(r) for r in extras["test"]} & set(LOCAL_ONLY.values())


def test_pyyaml_which_the_manifest_renderer_imports_is_a_runtime_dependency():
    assert "pyyaml" in {_name(r) for r in _project()["dependencies"]}


def test_the_image_installs_no_extra():
    dockerfile = (REPOSITORY_ROOT / "Dockerfile").read_text()
    installs = [
        line
        for line in dockerfile.splitlines()
        if re.search(r"\bpip (install|wheel)\b", line) and not line.lstrip().startswith("#")
    ]
    assert installs and not any("[" in line for line in installs), installs


def test_the_functions_and_the_platform_need_no_local_only_package(tmp_path):
    # GIVEN a Python in which the local-only packages cannot be imported
    script = textwrap.dedent(f"""
        import importlib, importlib.abc, os, pkgutil, sys

        BLOCKED = {sorted(LOCAL_ONLY)!r}

        class LocalOnly(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (local-only)", name=name)
                return None

        sys.meta_path.insert(0, LocalOnly())
        os.environ.update(
            PAYSTREAM_SECRET_KEY="k" * 40,
            PAYSTREAM_DATABASE_URL="sqlite:///{tmp_path / "paystream.db"}",
            PAYSTREAM_REDIS_URL="redis://127.0.0.1:1/0",
        )

        # WHEN every function module is imported
        from shared.functions import FUNCTIONS, load_module
        for info in FUNCTIONS:
            load_module(info.name)
        # AND every module of the packages the image ships (the migrations run under alembic)
        import events, schemas, shared
        for package in (shared, schemas, events):
            for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                if not module.name.startswith("shared.migrations"):
                    importlib.import_module(module.name)
        # AND the platform is built with a Redis cache
        from shared.bootstrap import build_platform
        from shared.settings import ConfigurationError, load_settings
        build_platform(load_settings())
        # THEN nothing asked for them; the embedded cache says what it needs
        os.environ["PAYSTREAM_REDIS_URL"] = "memory://"
        try:
            build_platform(load_settings())
        except ConfigurationError as error:
            assert "fakeredis" in str(error) and "PAYSTREAM_REDIS_URL" in str(error), error
        else:
            raise AssertionError("the embedded cache was built without fakeredis")
        print("imported without", ", ".join(BLOCKED))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=IMPORT_SECONDS_MAX,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "imported without" in result.stdout
