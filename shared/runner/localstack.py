"""LocalStack on the host: the services mode's endpoint for SQS, EventBridge, SNS, S3 and KMS.

LocalStack's last open-source release (`localstack-core` 2026.3) runs without Docker, from its
PyPI package, in a virtual environment of its own: it needs Python 3.13 and ships moto-ext over
moto, so it cannot share the platform's environment. `make localstack` creates that environment
(`.venv-localstack`, from localstack/requirements.txt); `LocalStack.start()` runs
`python -m localstack.runtime.main` there, keeping its files under the platform's home.

DynamoDB is not served here: LocalStack's DynamoDB downloads Java and DynamoDB Local at run
time, which these machines cannot do, so DynamoDB stays on moto (a second endpoint, see
`Settings.dynamodb_endpoint_url`).

How LocalStack is configured, and why:

- `IN_MEMORY_CLIENT=1`: EventBridge hands each event to its SQS targets through LocalStack's
  internal AWS client; in memory, that is a call into the SQS provider instead of an HTTP round
  trip through LocalStack's own gateway (a quarter of the emulator's CPU per event, measured).
- localstack/serve.py starts LocalStack's runtime after one change: EventBridge hands events to
  its SQS targets by calling the SQS provider, not through a SendMessage request to itself.
- `EAGER_SERVICE_LOADING=1`: the services start with the process, so "ready" means ready.
- `LS_LOG=warn`: LocalStack logs every request at INFO, which costs CPU under load.
- `SQS_DISABLE_CLOUDWATCH_METRICS=1`: no CloudWatch is served here to receive them.
- `DISABLE_EVENTS=1`, `SKIP_SSL_CERT_DOWNLOAD=1`, `DNS_ADDRESS=0`: nothing is sent off the
  machine (these machines reach no network but package registries) and no DNS server is run.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import requests

__all__ = [
    "LOCALSTACK_SERVICES",
    "LOCALSTACK_START_SECONDS_MAX",
    "LocalStack",
    "LocalStackMissing",
    "default_localstack_python",
]

# What LocalStack serves for the platform; DynamoDB is moto's (see the module docstring). KMS
# holds the key the KYC documents in S3 are encrypted under.
LOCALSTACK_SERVICES = ("sqs", "events", "sns", "s3", "kms")
# Ready in about 2 s on an idle machine; a loaded 2-core machine starting thirteen function
# processes beside it takes several times that.
LOCALSTACK_START_SECONDS_MAX = 90
LOCALSTACK_STOP_SECONDS_MAX = 10
_HEALTH_PATH = "/_localstack/health"
_READY_STATES = frozenset({"available", "running"})
_POLL_INTERVAL_SECONDS = 0.2
_PROBE_TIMEOUT_SECONDS = 1
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class LocalStackMissing(RuntimeError):
    """LocalStack's environment is not installed where the platform looks for it."""


def default_localstack_python() -> Path:
    """The Python of the project's `.venv-localstack`, which `make localstack` creates."""
    return _PROJECT_ROOT / ".venv-localstack" / "bin" / "python"


class LocalStack:
    """A LocalStack process on `host:port`, its files under `home`."""

    def __init__(self, *, host: str, port: int, home: Path, python: Path | None = None) -> None:
        self.url = f"http://{host}:{port}"
        self._listen = f"{host}:{port}"
        self._home = home
        self._python = python or default_localstack_python()
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def process(self) -> subprocess.Popen | None:
        return self._process

    def environment(self) -> dict[str, str]:
        """LocalStack's environment: only what it needs, none of the platform's AWS settings."""
        state = self._home / "localstack"
        # PATH and HOME are passed on to the child, not read as configuration.
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(state)),
            "GATEWAY_LISTEN": self._listen,
            "SERVICES": ",".join(LOCALSTACK_SERVICES),
            "EAGER_SERVICE_LOADING": "1",
            "IN_MEMORY_CLIENT": "1",
            "LS_LOG": "warn",
            "SQS_DISABLE_CLOUDWATCH_METRICS": "1",
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DNS_ADDRESS": "0",
            "FILESYSTEM_ROOT": str(state / "filesystem"),
            "CONFIG_DIR": str(state / "config"),
            "CACHE_DIR": str(state / "cache"),
            "XDG_CACHE_HOME": str(state / "cache"),
        }

    def start(self, seconds: float = LOCALSTACK_START_SECONDS_MAX) -> None:
        """Start LocalStack and return once every service of `LOCALSTACK_SERVICES` answers.

        Raises LocalStackMissing when its environment is not installed, RuntimeError when it
        exits or does not become ready in time (with the end of its log).
        """
        if not self._python.exists():
            raise LocalStackMissing(
                f"LocalStack is not installed at {self._python.parent.parent}: run `make localstack` "
                "(it needs Python 3.13, which pyenv provides on these machines)"
            )
        (self._home / "localstack").mkdir(parents=True, exist_ok=True)
        log_path = self._home / "localstack.log"
        with open(log_path, "ab") as log:
            self._process = subprocess.Popen(
                # LocalStack's runtime, with EventBridge's SQS targets served in-process.
                [str(self._python), str(_PROJECT_ROOT / "localstack" / "serve.py")],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: stopping it ends its worker threads' children too.
                start_new_session=True,
            )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"LocalStack exited with {self._process.returncode}: {log_path.read_text(errors='replace')[-2000:]}"
                )
            if self.ready():
                return
            time.sleep(_POLL_INTERVAL_SECONDS)
        self.stop()
        raise RuntimeError(
            f"LocalStack did not become ready on {self.url} within {seconds:.0f} s: "
            f"{log_path.read_text(errors='replace')[-2000:]}"
        )

    def ready(self) -> bool:
        """Whether LocalStack answers and serves every service the platform uses."""
        return localstack_ready(self.url)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=LOCALSTACK_STOP_SECONDS_MAX)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def localstack_ready(url: str) -> bool:
    """Whether the LocalStack at `url` serves every service of `LOCALSTACK_SERVICES`."""
    try:
        answer = requests.get(url + _HEALTH_PATH, timeout=_PROBE_TIMEOUT_SECONDS)
        services = answer.json().get("services", {}) if answer.ok else {}
    except (requests.RequestException, ValueError):
        return False
    return all(services.get(service) in _READY_STATES for service in LOCALSTACK_SERVICES)
