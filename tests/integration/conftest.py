"""Integration fixtures for the AWS side of the event path.

`moto_endpoint` starts one real `moto_server` subprocess per test session on a free port and
yields its URL. If it cannot start, the tests that need it fail (they never skip): an
integration test that silently does not run proves nothing.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shared.runner.local import free_port

MOTO_START_TIMEOUT_SECONDS = 30
MOTO_STOP_TIMEOUT_SECONDS = 10
_MOTO_POLL_INTERVAL_SECONDS = 0.1
_MOTO_PROBE_TIMEOUT_SECONDS = 1


def _moto_server_executable() -> Path:
    # The moto_server script installed next to the interpreter running the tests (the venv's).
    return Path(sys.executable).parent / "moto_server"


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real moto server subprocess, started once for the session."""
    executable = _moto_server_executable()
    if not executable.exists():
        pytest.fail(f"moto_server not found at {executable}: install moto[server]")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(executable), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_answering(process, url, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=MOTO_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=MOTO_STOP_TIMEOUT_SECONDS)


def _wait_until_answering(process: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + MOTO_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"moto_server exited with {process.returncode}: {log_path.read_text(errors='replace')}"
            )
        try:
            if requests.get(f"{url}/moto-api/", timeout=_MOTO_PROBE_TIMEOUT_SECONDS).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(_MOTO_POLL_INTERVAL_SECONDS)
    process.kill()
    pytest.fail(f"moto_server did not answer on {url} within {MOTO_START_TIMEOUT_SECONDS} s")


@pytest.fixture
def fresh_moto(moto_endpoint: str) -> str:
    """The moto endpoint with every resource of previous tests removed."""
    requests.post(
        f"{moto_endpoint}/moto-api/reset", timeout=MOTO_STOP_TIMEOUT_SECONDS
    ).raise_for_status()
    return moto_endpoint
