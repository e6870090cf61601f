"""Servers a test owns and may stop: a moto server and a PostgreSQL cluster of its own.

The machine's PostgreSQL and Redis are shared and must never be stopped, so a test that needs a
dependency to go down starts one here, in a temporary folder and on a free port, and stops it
as it likes. PostgreSQL refuses to run as root: when the tests run as root, the cluster is
created and run as the unprivileged `postgres` user (or PAYSTREAM_TEST_POSTGRES_OS_USER).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pg8000.dbapi
import requests

from shared.runner.local import free_port
from shared.runner.localstack import LocalStack

__all__ = ["LocalStackServer", "MotoServer", "ThrowawayPostgres"]

MOTO_START_TIMEOUT_SECONDS = 30
MOTO_STOP_TIMEOUT_SECONDS = 10
POSTGRES_START_TIMEOUT_SECONDS = 60
POSTGRES_OS_USER_ENV = "PAYSTREAM_TEST_POSTGRES_OS_USER"
_POLL_INTERVAL_SECONDS = 0.1
_PROBE_TIMEOUT_SECONDS = 1


class LocalStackServer:
    """LocalStack (SQS, EventBridge, SNS, S3, KMS) on a free port, its files in `home`, as the
    services mode runs it (shared.runner.localstack). It keeps its state in memory: stopped and
    started again, it is empty."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._localstack = LocalStack(host="127.0.0.1", port=self.port, home=home)

    def start(self) -> None:
        self._localstack.start()

    def stop(self) -> None:
        self._localstack.stop()


class MotoServer:
    """A `moto_server` subprocess on a fixed port, which can be stopped and started again.

    moto keeps its state in memory: a restarted server is empty and must be provisioned again.
    """

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        # moto with the platform's fixes (shared.runner.moto_endpoint), as the platform runs it.
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "shared.runner.moto_endpoint", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + MOTO_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"moto_server exited with {self._process.returncode}: "
                    f"{self._log_path.read_text(errors='replace')[-2000:]}"
                )
            try:
                if requests.get(f"{self.url}/moto-api/", timeout=_PROBE_TIMEOUT_SECONDS).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(_POLL_INTERVAL_SECONDS)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.url}")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=MOTO_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=MOTO_STOP_TIMEOUT_SECONDS)
        self._process = None


def _bin_dir() -> Path:
    completed = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True, timeout=30)
    return Path(completed.stdout.strip())


class ThrowawayPostgres:
    """A PostgreSQL cluster in `directory`, on a free port, with trust authentication."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self._bin = _bin_dir()
        self._os_user = os.environ.get(POSTGRES_OS_USER_ENV, "postgres") if os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+pg8000://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        argv = [str(self._bin / command[0]), *command[1:]]
        if self._os_user is not None:
            argv = ["runuser", "-u", self._os_user, "--", *argv]
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=POSTGRES_START_TIMEOUT_SECONDS)
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {completed.stdout}{completed.stderr}")

    def initialise(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._os_user is not None:
            shutil.chown(self.directory, user=self._os_user, group=None)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(POSTGRES_START_TIMEOUT_SECONDS),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        connection = pg8000.dbapi.connect(user="postgres", host="127.0.0.1", port=self.port, database="postgres")
        connection.autocommit = True
        try:
            # The name is the caller's constant, not user input.
            connection.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)
