"""The image's Dockerfile, checked for its structure (no Docker engine runs here to build it)."""

from __future__ import annotations

import re
import shlex

import pytest

from shared.deploy.common import REPOSITORY_ROOT
from shared.deploy.knative import CONTAINER_CONCURRENCY, CONTAINER_PORT, THREADS, WORKERS
from shared.functions import FUNCTIONS

BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "clang", "cargo", "rustc")


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, arguments in _instructions((REPOSITORY_ROOT / "Dockerfile").read_text()):
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, arguments))
    return stages


def _env(stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction, arguments in stage:
        if instruction == "ENV":
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                values[key] = value
    return values


def test_the_image_is_built_in_two_stages_from_python_3_11_slim():
    stages = _stages()
    assert len(stages) >= 2
    text = (REPOSITORY_ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim\b", text, re.M)
    assert stages[0][0][1].startswith("${PYTHON_IMAGE} AS builder")
    assert stages[-1][0][1].startswith("${PYTHON_IMAGE} AS runtime")
    builder = " ".join(arguments for _, arguments in stages[0])
    assert "pip wheel" in builder


def test_the_runtime_stage_installs_wheels_only_and_has_no_build_tools():
    runtime = _stages()[-1]
    commands = " ".join(arguments for instruction, arguments in runtime if instruction == "RUN")
    for tool in BUILD_TOOLS:
        assert not re.search(rf"(^|\s){re.escape(tool)}(\s|$)", commands), tool
    assert "apt-get install" not in commands
    assert "--no-index" in commands and "from=builder" in commands


def test_the_runtime_runs_as_a_non_root_user():
    users = [arguments for instruction, arguments in _stages()[-1] if instruction == "USER"]
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_the_runtime_serves_functions_framework_on_port_with_the_knative_concurrency():
    runtime = _stages()[-1]
    env = _env(runtime)
    assert env["PORT"] == str(CONTAINER_PORT)
    assert ("EXPOSE", str(CONTAINER_PORT)) in runtime
    # The image's defaults equal what the Knative Services set, so `docker run` behaves alike.
    assert (int(env["WORKERS"]), int(env["THREADS"])) == (WORKERS, THREADS)
    assert int(env["WORKERS"]) * int(env["THREADS"]) == CONTAINER_CONCURRENCY
    entrypoints = [arguments for instruction, arguments in runtime if instruction == "ENTRYPOINT"]
    assert entrypoints == ['["ddtrace-run", "functions-framework"]']


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.name)
def test_every_function_source_is_copied_into_the_image(function):
    runtime = _stages()[-1]
    copies = [arguments.split() for instruction, arguments in runtime if instruction == "COPY"]
    assert ["functions", "./functions"] in copies
    assert function.source.is_file()


def test_the_build_context_leaves_out_local_state_and_secrets():
    ignored = {
        line.strip()
        for line in (REPOSITORY_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (".git", ".venv", "var", ".paystream", "tests"):
        assert entry in ignored
    for needed in ("shared", "schemas", "events", "functions", "pyproject.toml", "README.md"):
        assert needed not in ignored
