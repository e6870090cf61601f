"""The two local ways to run Paystream.

Embedded (the default, `make up`): one process, no external service. A SQLite file, the
in-process cache, moto's AWS APIs in-process; every function is its own
functions-framework app, and every event still travels EventBridge → SQS FIFO → the function.

Services (`make up-services`): PostgreSQL, Redis, LocalStack on 127.0.0.1:4566 for SQS,
EventBridge, SNS and S3 and a moto server on 127.0.0.1:4569 for DynamoDB (each started by this
command when nothing answers there), and one process per function, as on Knative. The deliverer
and the gateway run in this supervising process, which restarts a function process that exits, as
Kubernetes restarts a crashed container, and writes each one's process id to
`<home>/pids/<function>.pid`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import requests
from werkzeug.serving import BaseWSGIServer, make_server

from shared.adapters.aws import aws_client
from shared.adapters.database import migrate
from shared.bootstrap import platform, reset_platform
from shared.function_secrets import environment_for
from shared.functions import FUNCTIONS, function_info, load_app
from shared.observability import observability_summary
from shared.observability.tracing import traced_command, tracing_enabled, tracing_environment
from shared.privacy import write_local_key
from shared.provision import provision
from shared.runner import moto_endpoint
from shared.runner.deliverer import (
    RECEIVE_WAIT_SECONDS_MAX,
    Deliverer,
    HttpTransport,
    Scheduler,
    WsgiTransport,
)
from shared.runner.gateway import Gateway, GatewayRequestHandler, HttpBackends, InProcessBackends
from shared.runner.localstack import LocalStack, localstack_ready
from shared.runner.sqs_http import SqsOverHttp
from shared.settings import EMBEDDED_REDIS_URL, package_version
from shared.signing import write_key_files

__all__ = [
    "LocalPlatform",
    "ensure_secret_key",
    "ensure_signing_keys",
    "local_key_files",
    "run_embedded",
    "run_services",
]

logger = logging.getLogger("paystream.runner")

# Thirteen function processes share a small machine at start (and import ddtrace when traced).
STARTUP_SECONDS_MAX = 120
SERVICES_BASE_PORT = 8100
DEFAULT_SERVICES_DATABASE_URL = "postgresql+pg8000://postgres@127.0.0.1:5432/paystream"
DEFAULT_SERVICES_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_SERVICES_AWS_ENDPOINT = "http://127.0.0.1:4566"
# LocalStack cannot serve DynamoDB here (its DynamoDB downloads Java at run time): moto does.
DEFAULT_SERVICES_DYNAMODB_ENDPOINT = "http://127.0.0.1:4569"
FUNCTION_THREADS = 8
# Deliverer threads per queue in the services mode. One: at 20 payments/s a second thread cut
# accept→final p50 from 0.5 to 0.3 s but cost a tenth more CPU per payment (more receives of
# fewer messages each), both within p99 2 s (bench/RESULTS.md, "Sustained payments").
SERVICES_DELIVERY_WORKERS_PER_QUEUE = 1
# A function process that keeps dying is given up on (and the platform stops) after this many
# restarts in a row that did not survive `FUNCTION_STABLE_SECONDS`.
FUNCTION_RESTARTS_MAX = 5
FUNCTION_STABLE_SECONDS = 30
EMBEDDED_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "embedded",
    "AWS_SECRET_ACCESS_KEY": "embedded",
    "AWS_SESSION_TOKEN": "embedded",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ensure_kept_secret(home: Path, variable: str, file_name: str) -> None:
    """Leave `variable` as the caller set it; else set it to a random key kept in `home`
    (written once, readable by its owner alone)."""
    # Not configuration read here: the runner sets variables for the settings of this process
    # and its children, and reads one back only to leave alone what the caller set.
    if os.environ.get(variable):
        return
    path = home / file_name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    os.environ[variable] = path.read_text().strip()


def ensure_secret_key(home: Path) -> None:
    """Use PAYSTREAM_SECRET_KEY if set, else a random key kept in `home` (so that derived keys
    survive a restart of the local platform). Never a built-in default. Then the token keys
    (ensure_signing_keys) and the mail outbox (ensure_mail_outbox)."""
    _ensure_kept_secret(home, "PAYSTREAM_SECRET_KEY", "secret-key")
    # The e-mail blind index's key, kept the same way: a new one would orphan every index.
    _ensure_kept_secret(home, "PAYSTREAM_PERSONAL_DATA_INDEX_KEY", "personal-data-index-key")
    ensure_signing_keys(home)
    ensure_mail_outbox(home)


def ensure_mail_outbox(home: Path) -> None:
    """Use PAYSTREAM_MAIL_OUTBOX_FILE if set, else `home`/mail.jsonl: the local modes keep a copy
    of every e-mail there, for `paystream mail` (shared.adapters.mail_outbox)."""
    os.environ.setdefault("PAYSTREAM_MAIL_OUTBOX_FILE", str(mail_outbox_file(home)))


def mail_outbox_file(home: Path) -> Path:
    """Where the local modes keep their mail outbox by default."""
    return home / "mail.jsonl"


def ensure_signing_keys(home: Path) -> None:
    """Use the token key files PAYSTREAM_SIGNING_KEYS_FILE and PAYSTREAM_VERIFICATION_KEYS_FILE
    if set, else a key pair kept in `home` (`paystream keys rotate` rotates it there), made
    on first start as the secret key is."""
    if os.environ.get("PAYSTREAM_SIGNING_KEYS_FILE") and os.environ.get("PAYSTREAM_VERIFICATION_KEYS_FILE"):
        return
    signing_path, verification_path = local_key_files(home)
    if not signing_path.exists() or not verification_path.exists():
        write_key_files(signing_path, verification_path, now=int(time.time()))
    os.environ["PAYSTREAM_SIGNING_KEYS_FILE"] = str(signing_path)
    os.environ["PAYSTREAM_VERIFICATION_KEYS_FILE"] = str(verification_path)


def local_key_files(home: Path) -> tuple[Path, Path]:
    """Where the local modes keep the token keys: (the signing ring, the verification keys)."""
    return home / "signing-keys.json", home / "verification-keys.json"


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
        return True
    except requests.RequestException:
        return False


def _wait_until(predicate, what: str, seconds: float = STARTUP_SECONDS_MAX) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within {seconds:.0f} s")


class _Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass
class LocalPlatform:
    """A running local platform; `stop()` ends what it started."""

    url: str
    server: BaseWSGIServer
    deliverer: Deliverer
    scheduler: Scheduler
    children: list[subprocess.Popen] = field(default_factory=list)
    moto: _Stoppable | None = None  # moto's in-process mock (mock_aws), embedded mode only
    functions: FunctionProcesses | None = None
    localstack: LocalStack | None = None

    def stop(self) -> None:
        self.scheduler.stop()
        self.deliverer.stop()
        self.server.shutdown()
        if self.localstack is not None:
            self.localstack.stop()
        children = [*self.children, *(self.functions.processes() if self.functions else [])]
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if self.moto is not None:
            self.moto.stop()


def _serve(app, host: str, port: int):
    # The gateway writes one access line per request itself; werkzeug's own lines would repeat
    # them, and those of the in-process AWS endpoint would bury them.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(host, port, app, threaded=True, request_handler=GatewayRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
    thread.start()
    return server


def start_embedded(*, host: str, port: int, home: Path) -> LocalPlatform:
    """Start the embedded platform in this process and return once it serves.

    moto serves the AWS APIs in-process: boto3's requests are answered inside this process, with
    no socket between, because an HTTP round trip to a threaded server in the same process costs
    several milliseconds of the one interpreter's time per call.
    """
    from moto import mock_aws

    home.mkdir(parents=True, exist_ok=True)
    ensure_secret_key(home)
    os.environ.setdefault("PAYSTREAM_DATABASE_URL", f"sqlite:///{home / 'paystream.db'}")
    os.environ.setdefault("PAYSTREAM_REDIS_URL", EMBEDDED_REDIS_URL)
    # The embedded mode's key-encryption key is a file (the services mode's is KMS, provisioned).
    os.environ.setdefault("PAYSTREAM_PERSONAL_DATA_KEY_FILE", str(home / "personal-data-key"))
    write_local_key(Path(os.environ["PAYSTREAM_PERSONAL_DATA_KEY_FILE"]))
    # In-process AWS: no endpoint URL, and credentials that only the in-process moto accepts.
    os.environ.pop("PAYSTREAM_AWS_ENDPOINT_URL", None)
    for name, value in EMBEDDED_AWS_ENVIRONMENT.items():
        os.environ[name] = value
    moto_endpoint.install()
    moto = mock_aws()
    moto.start()
    reset_platform()
    runtime = platform()
    migrate(runtime.engine)
    topology = provision(endpoint_url=None, region=runtime.settings.aws_region)
    apps = {info.name: load_app(info.name) for info in FUNCTIONS}
    event_apps = {i.name: apps[i.name] for i in FUNCTIONS if not i.serves_clients}
    http_apps = {i.name: apps[i.name] for i in FUNCTIONS if i.serves_clients}
    transport = WsgiTransport(event_apps)
    sqs = aws_client("sqs", endpoint_url=None, region=runtime.settings.aws_region)
    # Long polls: an idle platform makes one receive per queue every 20 s.
    deliverer = Deliverer(sqs, topology, transport, wait_seconds=RECEIVE_WAIT_SECONDS_MAX)
    scheduler = Scheduler(transport)
    deliverer.start()
    scheduler.start()
    server = _serve(Gateway(InProcessBackends(http_apps), web_origin=runtime.settings.web_origin), host, port)
    return LocalPlatform(
        url=f"http://{host}:{port}", server=server, deliverer=deliverer, scheduler=scheduler, moto=moto
    )


def _ensure_database(url: str) -> None:
    """Create the services mode's database on its server when it does not exist yet."""
    import pg8000.native

    parts = urlsplit(url.replace("postgresql+pg8000", "postgresql"))
    name = parts.path.lstrip("/")
    admin = pg8000.native.Connection(
        user=parts.username or "postgres",
        password=parts.password,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        database="postgres",
    )
    try:
        if not admin.run("SELECT 1 FROM pg_database WHERE datname = :name", name=name):
            admin.run(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()


def _local_port(endpoint: str) -> int:
    """The port of an endpoint this command may start a server on (a loopback address only)."""
    parts = urlsplit(endpoint)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
        raise RuntimeError(f"the AWS-compatible endpoint {endpoint} does not answer")
    return parts.port


def _start_localstack(endpoint: str, home: Path) -> LocalStack | None:
    """Start LocalStack on the endpoint's port unless something already answers there."""
    if _answers(endpoint):
        logger.info("using the AWS-compatible endpoint already at %s", endpoint)
        return None
    localstack = LocalStack(host="127.0.0.1", port=_local_port(endpoint), home=home)
    localstack.start()
    return localstack


def _start_moto_server(endpoint: str) -> subprocess.Popen | None:
    """Start a moto server on the endpoint's port unless something already answers there."""
    if _answers(endpoint):
        logger.info("using the AWS-compatible endpoint already at %s", endpoint)
        return None
    port = _local_port(endpoint)
    child = subprocess.Popen(
        [sys.executable, "-m", "shared.runner.moto_endpoint", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_until(lambda: _answers(endpoint), f"moto server on {endpoint}")
    return child


class FunctionProcesses:
    """One functions-framework process per function, restarted when it exits."""

    def __init__(self, ports: Mapping[str, int], env: Mapping[str, str], pid_dir: Path) -> None:
        self._ports = dict(ports)
        self._env = dict(env)
        self._pid_dir = pid_dir
        self._pid_dir.mkdir(parents=True, exist_ok=True)
        self._processes: dict[str, subprocess.Popen] = {}
        self._started_at: dict[str, float] = {}
        self._quick_restarts: dict[str, int] = {}
        for name in self._ports:
            self._start(name)

    def processes(self) -> list[subprocess.Popen]:
        return list(self._processes.values())

    def _start(self, name: str) -> None:
        # Each function gets only its own secrets, as in its Knative Service.
        process = _start_function(name, self._ports[name], environment_for(name, self._env))
        self._processes[name] = process
        self._started_at[name] = time.monotonic()
        (self._pid_dir / f"{name}.pid").write_text(f"{process.pid}\n")

    def restart_exited(self) -> list[str]:
        """Start again every function whose process has exited; return their names.

        Raises RuntimeError when one has died `FUNCTION_RESTARTS_MAX` times in a row, each
        within `FUNCTION_STABLE_SECONDS` of its start: it cannot run, and saying so beats a loop.
        """
        restarted = []
        for name, process in list(self._processes.items()):
            if process.poll() is None:
                continue
            lived_seconds = time.monotonic() - self._started_at[name]
            quick = self._quick_restarts.get(name, 0) + 1 if lived_seconds < FUNCTION_STABLE_SECONDS else 0
            if quick >= FUNCTION_RESTARTS_MAX:
                raise RuntimeError(
                    f"function {name} exited with {process.returncode} {quick} times in a row "
                    f"within {FUNCTION_STABLE_SECONDS} s of starting"
                )
            self._quick_restarts[name] = quick
            logger.warning("function %s exited with %s; restarting it", name, process.returncode)
            # Its gunicorn worker outlives a killed master and holds the port: end the whole
            # process group first, as a container runtime ends a crashed container.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            self._start(name)
            restarted.append(name)
        return restarted


def _start_function(name: str, port: int, env: Mapping[str, str]) -> subprocess.Popen:
    """One function's process; under ddtrace-run, as in its container, when an agent is named
    (ddtrace's start-up costs seconds that an untraced run need not pay)."""
    info = function_info(name)
    command = [
        str(Path(sys.executable).with_name("functions-framework")),
        "--target",
        info.target,
        "--source",
        str(info.source),
        "--signature-type",
        info.signature_type,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    # `env` is the environment the child will run with: its tags follow from it.
    tags = tracing_environment(
        name,
        environment=env.get("PAYSTREAM_ENVIRONMENT", "local"),
        version=env.get("PAYSTREAM_VERSION", package_version()),
        environ=env,
    )
    return subprocess.Popen(
        traced_command(command) if tracing_enabled(env) else command,
        env={**env, **tags, "WORKERS": "1", "THREADS": str(FUNCTION_THREADS)},
        # A process group of its own, so that a restart can end its workers with it.
        start_new_session=True,
    )


def start_services(*, host: str, port: int, home: Path, base_port: int = SERVICES_BASE_PORT) -> LocalPlatform:
    """Start the services mode: one process per function behind the local gateway."""
    home.mkdir(parents=True, exist_ok=True)
    ensure_secret_key(home)
    os.environ.setdefault("PAYSTREAM_DATABASE_URL", DEFAULT_SERVICES_DATABASE_URL)
    os.environ.setdefault("PAYSTREAM_REDIS_URL", DEFAULT_SERVICES_REDIS_URL)
    os.environ.setdefault("PAYSTREAM_AWS_ENDPOINT_URL", DEFAULT_SERVICES_AWS_ENDPOINT)
    # Set for the settings of this process and its children (see ensure_secret_key), and read
    # back only to start what they name.
    endpoint = os.environ["PAYSTREAM_AWS_ENDPOINT_URL"]
    children: list[subprocess.Popen] = []
    localstack = _start_localstack(endpoint, home)
    if localstack is not None or localstack_ready(endpoint):
        # LocalStack serves no DynamoDB here: moto does, on an endpoint of its own.
        os.environ.setdefault("PAYSTREAM_DYNAMODB_ENDPOINT_URL", DEFAULT_SERVICES_DYNAMODB_ENDPOINT)
    dynamodb_endpoint = os.environ.get("PAYSTREAM_DYNAMODB_ENDPOINT_URL")
    try:
        moto = _start_moto_server(dynamodb_endpoint) if dynamodb_endpoint else None
        if moto is not None:
            children.append(moto)
        reset_platform()
        runtime = platform()
        _ensure_database(runtime.settings.database_url)
        # Provisioned first: a migration that seals existing rows needs the personal data key.
        topology = provision(
            endpoint_url=endpoint,
            region=runtime.settings.aws_region,
            dynamodb_endpoint_url=dynamodb_endpoint,
        )
        migrate(runtime.engine)
    except BaseException:
        for child in children:
            child.terminate()
        if localstack is not None:
            localstack.stop()
        raise
    ports = {info.name: base_port + index for index, info in enumerate(FUNCTIONS)}
    functions = FunctionProcesses(ports, dict(os.environ), home / "pids")
    urls = {name: f"http://127.0.0.1:{p}" for name, p in ports.items()}
    for info in FUNCTIONS:
        if info.serves_clients:
            _wait_until(lambda u=urls[info.name]: _answers(u + "/healthz"), f"function {info.name}")
    transport = HttpTransport({i.name: urls[i.name] for i in FUNCTIONS if not i.serves_clients})
    # Not boto3: the deliverer's receives and deletes are most of the supervisor's work.
    sqs = SqsOverHttp(endpoint, region=runtime.settings.aws_region)
    deliverer = Deliverer(
        sqs,
        topology,
        transport,
        workers_per_queue=SERVICES_DELIVERY_WORKERS_PER_QUEUE,
        wait_seconds=RECEIVE_WAIT_SECONDS_MAX,
    )
    scheduler = Scheduler(transport)
    deliverer.start()
    scheduler.start()
    http_urls = {i.name: urls[i.name] for i in FUNCTIONS if i.serves_clients}
    server = _serve(Gateway(HttpBackends(http_urls), web_origin=runtime.settings.web_origin), host, port)
    return LocalPlatform(
        url=f"http://{host}:{port}",
        server=server,
        deliverer=deliverer,
        scheduler=scheduler,
        children=children,
        functions=functions,
        localstack=localstack,
    )


def _run_until_signal(started: LocalPlatform, mode: str) -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"Paystream ({mode}) serves {started.url}  (Ctrl-C stops it)", flush=True)
    print(f"  try: curl {started.url}/healthz", flush=True)
    for line in observability_summary():
        print(f"  {line}", flush=True)
    while not stop.wait(1):
        localstack = started.localstack.process if started.localstack else None
        for child in [*started.children, *([localstack] if localstack else [])]:
            if child.poll() is not None:
                print(f"a process it depends on exited with {child.returncode}; stopping", file=sys.stderr)
                stop.set()
        if started.functions is not None:
            try:
                started.functions.restart_exited()
            except RuntimeError as error:
                print(f"{error}; stopping", file=sys.stderr)
                stop.set()
    started.stop()


def run_embedded(*, host: str, port: int, home: Path) -> None:
    _run_until_signal(start_embedded(host=host, port=port, home=home), "embedded")


def run_services(*, host: str, port: int, home: Path, base_port: int = SERVICES_BASE_PORT) -> None:
    _run_until_signal(start_services(host=host, port=port, home=home, base_port=base_port), "services")
