"""Start the platform as a user would (`paystream up`), in both local ways, and talk HTTP to it."""

from __future__ import annotations

import datetime
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shared.functions import FUNCTIONS
from shared.rate_limits import harness_environment
from shared.runner.local import free_port, mail_outbox_file
from tests.e2e.client import MAIL_OUTBOXES
from tests.fixtures.fx import ecb_endpoint, sample_dated

STARTUP_SECONDS_MAX = 120
PAYSTREAM = str(Path(sys.executable).with_name("paystream"))
# The database of each running platform, by its URL: what a command run against the platform's
# database (`paystream users grant-role`, as an operator makes the first admin) points at.
DATABASE_URLS: dict[str, str] = {}


def _ports_free(base: int, count: int) -> bool:
    """Whether `count` ports from `base` up can be bound on 127.0.0.1 now."""
    probes = []
    try:
        for offset in range(count):
            probe = socket.socket()
            probes.append(probe)
            probe.bind(("127.0.0.1", base + offset))
        return True
    except OSError:
        return False
    finally:
        for probe in probes:
            probe.close()


# Function processes listen below the kernel's ephemeral range (32768 and up on Linux), where
# the many outgoing connections of a run could take a port between the probe and the bind.
FUNCTION_PORTS_LOWEST = 20_000
FUNCTION_PORTS_HIGHEST = 32_000
PORT_RANGE_TRIES_MAX = 50


def _free_port_range(count: int) -> int:
    """A base port with `count` free ports above it, outside the ephemeral range."""
    chooser = random.Random()
    for _ in range(PORT_RANGE_TRIES_MAX):
        base = chooser.randrange(FUNCTION_PORTS_LOWEST, FUNCTION_PORTS_HIGHEST - count)
        if _ports_free(base, count):
            return base
    raise RuntimeError(f"no {count} free ports between {FUNCTION_PORTS_LOWEST} and {FUNCTION_PORTS_HIGHEST}")


def _start(
    args: list[str], env: dict[str, str], home: Path, startup_seconds: float = STARTUP_SECONDS_MAX
) -> tuple[str, subprocess.Popen]:
    port = free_port()
    # The platform writes through its own copy of the descriptor; ours closes once it has started.
    with open(home / "platform.log", "wb") as log:
        process = subprocess.Popen(
            [PAYSTREAM, "up", "--host", "127.0.0.1", "--port", str(port), "--home", str(home), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    # Its e-mails are copied to the outbox in its home, where users read their codes.
    MAIL_OUTBOXES[url] = mail_outbox_file(home)
    deadline = time.monotonic() + startup_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"paystream up exited with {process.returncode}:\n{(home / 'platform.log').read_text()[-4000:]}"
            )
        try:
            if requests.get(url + "/readyz", timeout=2).status_code == 200:
                return url, process
        except requests.RequestException:
            pass
        time.sleep(0.5)
    process.kill()
    pytest.fail(f"paystream up did not become ready:\n{(home / 'platform.log').read_text()[-4000:]}")


def _stop(process: subprocess.Popen, home: Path) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


# The blind index's key of every platform under test, and of the `paystream` commands run
# against them: `paystream users grant-role EMAIL` finds the user by the address's index, as
# `users` does, so it needs the platform's key (an operator runs it with the environment of
# `users`).
_PERSONAL_DATA_INDEX_KEY = secrets.token_urlsafe(48)


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSTREAM_")}
    env["PAYSTREAM_SECRET_KEY"] = secrets.token_urlsafe(48)
    env["PAYSTREAM_PERSONAL_DATA_INDEX_KEY"] = _PERSONAL_DATA_INDEX_KEY
    # Every test user comes from 127.0.0.1, and the suite (and the chaos tests) sign up and
    # pay far more than a person: the limits are not what these tests measure.
    env.update(harness_environment())
    return env


@pytest.fixture(scope="session")
def fx_rates_file(tmp_path_factory) -> Path:
    """Today's rates, written by `paystream fx refresh` from a local endpoint serving the
    recorded ECB day (the packaged file is of a past day: conversions would refuse it)."""
    path = tmp_path_factory.mktemp("fx") / "rates.json"
    today = time.gmtime()
    with ecb_endpoint(sample_dated(datetime.date(today.tm_year, today.tm_mon, today.tm_mday))) as url:
        done = subprocess.run(
            [PAYSTREAM, "fx", "refresh", "--url", url, "--file", str(path)],
            env=_base_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture(scope="session")
def embedded_url(tmp_path_factory, fx_rates_file) -> Iterator[str]:
    home = tmp_path_factory.mktemp("embedded")
    env = {**_base_env(), "PAYSTREAM_FX_RATES_FILE": str(fx_rates_file)}
    url, process = _start([], env, home)
    # The embedded mode keeps its SQLite file in its home folder.
    DATABASE_URLS[url] = f"sqlite:///{home / 'paystream.db'}"
    yield url
    _stop(process, home)


@pytest.fixture(scope="session")
def services_url(tmp_path_factory, postgres_url, fx_rates_file) -> Iterator[str]:
    home = tmp_path_factory.mktemp("services")
    env = {**_base_env(), "PAYSTREAM_FX_RATES_FILE": str(fx_rates_file)}
    env["PAYSTREAM_DATABASE_URL"] = postgres_url
    env["PAYSTREAM_REDIS_URL"] = os.environ.get("PAYSTREAM_TEST_REDIS", "redis://127.0.0.1:6379/0")
    env["PAYSTREAM_AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    env["PAYSTREAM_DYNAMODB_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    url, process = _start(["--services", "--functions-base-port", str(_free_port_range(len(FUNCTIONS)))], env, home)
    DATABASE_URLS[url] = postgres_url
    yield url
    _stop(process, home)


@pytest.fixture(params=["embedded", "services"])
def platform_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def paystream_command(platform_url):
    """Runs `paystream ARGS` against the database of the platform under test, as an operator
    would on its host (`paystream users grant-role EMAIL ROLE`)."""

    def run(*args: str) -> subprocess.CompletedProcess:
        env = {**_base_env(), "PAYSTREAM_DATABASE_URL": DATABASE_URLS[platform_url]}
        return subprocess.run([PAYSTREAM, *args], env=env, capture_output=True, text=True, timeout=60)

    return run
