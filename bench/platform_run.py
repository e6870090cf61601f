"""What the end-to-end benchmarks share: a platform started as a user starts it (`paystream up`),
the CPU each of its processes spends, and the platform's own DogStatsD metrics.

- `RunningPlatform.start(mode)` runs `paystream up` (embedded, or services with LocalStack and
  moto started by the platform itself) in a temporary home, with a PostgreSQL database of its
  own in the services mode, and metrics sent to a UDP socket of the benchmark's.
- `cpu_seconds()` reads each process's user + system time from /proc, grouped by role: the
  supervisor (gateway, deliverer, scheduler), each function, LocalStack, moto (DynamoDB), and
  the PostgreSQL backends of the platform's database. A difference of two readings over a
  level of load, divided by the payments of the level, is the CPU each role spends on one.
- `StatsdCapture` counts what the platform sends to DogStatsD, e.g. `paystream.aws.requests`
  by service and operation.
"""

from __future__ import annotations

import collections
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from throwaway import admin_connection, bench_server, throwaway_databases, url_of

from shared.functions import FUNCTIONS
from shared.rate_limits import harness_environment
from shared.runner.local import free_port, mail_outbox_file
from tests.e2e.client import MAIL_OUTBOXES

__all__ = [
    "RunningPlatform",
    "StatsdCapture",
    "aws_requests",
    "cpu_seconds",
    "percentile",
    "process_cpu_seconds",
    "running_platform",
]

STARTUP_SECONDS_MAX = 180
STOP_SECONDS_MAX = 30
_CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# Function processes listen below the kernel's ephemeral range, like the e2e tests'.
_FUNCTION_PORTS_LOWEST = 20_000
_UDP_BUFFER_BYTES = 8 * 1024 * 1024
_DATAGRAM_BYTES_MAX = 65_535


class StatsdCapture:
    """A UDP socket standing in for the Datadog agent: counts each metric by name and tags."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UDP_BUFFER_BYTES)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.5)
        # Summed as floats, as DogStatsD sends them (a Counter is typed for whole numbers only).
        self._counts: collections.defaultdict[tuple[str, str], float] = collections.defaultdict(float)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="statsd", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self.socket.getsockname()[1]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self.socket.recv(_DATAGRAM_BYTES_MAX)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in datagram.decode("utf-8", "replace").splitlines():
                # name:value|type|#tag:value,tag:value
                name, _, rest = line.partition(":")
                parts = rest.split("|")
                if len(parts) < 2:
                    continue
                tags = next((part[1:] for part in parts[2:] if part.startswith("#")), "")
                with self._lock:
                    self._counts[(name, tags)] += float(parts[0]) if parts[1] == "c" else 1

    def snapshot(self) -> dict[tuple[str, str], float]:
        with self._lock:
            return dict(self._counts)

    def close(self) -> None:
        self._stop.set()
        self.socket.close()


def aws_requests(counts: Mapping[tuple[str, str], float]) -> dict[str, float]:
    """`paystream.aws.requests` as {"sqs.ReceiveMessage": n, ...}."""
    found: dict[str, float] = collections.defaultdict(float)
    for (name, tags), value in counts.items():
        if name != "paystream.aws.requests":
            continue
        tag = dict(part.split(":", 1) for part in tags.split(",") if ":" in part)
        found[f"{tag.get('aws_service')}.{tag.get('operation')}"] += value
    return dict(found)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS_PER_SECOND


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(_children(current))
    return found


@dataclass
class RunningPlatform:
    mode: str
    url: str
    process: subprocess.Popen
    home: Path
    database_url: str | None
    statsd: StatsdCapture
    roles: dict[str, list[int]] = field(default_factory=dict)

    def discover_processes(self) -> None:
        """Group the platform's processes by role (call once it is ready)."""
        roles: dict[str, list[int]] = collections.defaultdict(list)
        supervisor = self.process.pid
        function_pids = {}
        for info in FUNCTIONS:
            pid_file = self.home / "pids" / f"{info.name}.pid"
            if pid_file.exists():
                function_pids[int(pid_file.read_text())] = info.name
        for pid in _children(supervisor):
            command = _command_line(pid)
            if pid in function_pids:
                roles[function_pids[pid]] += _descendants(pid)
            elif "localstack.runtime.main" in command or "localstack/serve.py" in command:
                roles["localstack"] += _descendants(pid)
            elif "moto_endpoint" in command or "moto_server" in command:
                roles["moto"] += _descendants(pid)
            else:
                roles["other"] += _descendants(pid)
        roles["supervisor" if self.mode == "services" else "platform"] = [supervisor]
        self.roles = dict(roles)

    def postgres_backends(self) -> list[int]:
        if self.database_url is None:
            return []
        name = self.database_url.rpartition("/")[2]
        admin = admin_connection(bench_server())
        try:
            cursor = admin.cursor()
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
            return [row[0] for row in cursor.fetchall()]
        finally:
            admin.close()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far per role, PostgreSQL's backends of this database included."""
        reading = {role: sum(process_cpu_seconds(pid) for pid in pids) for role, pids in self.roles.items()}
        reading["postgresql"] = sum(process_cpu_seconds(pid) for pid in self.postgres_backends())
        return reading


def cpu_seconds() -> float:
    """This benchmark process's own CPU seconds (the load generator's cost)."""
    times = os.times()
    return times.user + times.system


@contextmanager
def running_platform(mode: str, *, extra_env: Mapping[str, str] | None = None) -> Iterator[RunningPlatform]:
    """`paystream up` in `mode` ("embedded" or "services"), ready, stopped at the end."""
    statsd = StatsdCapture()
    with tempfile.TemporaryDirectory(prefix=f"paystream-bench-{mode}-") as home_name:
        home = Path(home_name)
        databases = throwaway_databases(bench_server(), "paystream_bench") if mode == "services" else None
        names = databases.__enter__() if databases else []
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSTREAM_")}
            env |= {
                "PAYSTREAM_SECRET_KEY": secrets.token_urlsafe(48),
                "PAYSTREAM_LOG_LEVEL": "WARNING",
                # A benchmark measures the platform, not its rate limits.
                **harness_environment(),
                "DD_DOGSTATSD_HOST": "127.0.0.1",
                "DD_DOGSTATSD_PORT": str(statsd.port),
                "DD_TRACE_ENABLED": "false",
                **(extra_env or {}),
            }
            port = free_port()
            args = [str(Path(sys.executable).with_name("paystream")), "up", "--port", str(port), "--home", str(home)]
            database_url = None
            if mode == "services":
                database_url = url_of(bench_server(), names[0])
                env |= {
                    "PAYSTREAM_DATABASE_URL": database_url,
                    "PAYSTREAM_REDIS_URL": "redis://127.0.0.1:6379/0",
                    "PAYSTREAM_AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
                    "PAYSTREAM_DYNAMODB_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
                }
                args += ["--services", "--functions-base-port", str(_function_ports())]
            # The platform writes through its own copy of the descriptor; ours closes once it has
            # started.
            with open(home / "platform.log", "wb") as log:
                process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                url = f"http://127.0.0.1:{port}"
                _wait_ready(url, process, home)
                # Users signed up for a run verify their addresses from its mail outbox.
                MAIL_OUTBOXES[url] = mail_outbox_file(home)
                platform = RunningPlatform(mode, url, process, home, database_url, statsd)
                platform.discover_processes()
                yield platform
            finally:
                process.terminate()
                try:
                    process.wait(timeout=STOP_SECONDS_MAX)
                except subprocess.TimeoutExpired:
                    process.kill()
        finally:
            if databases:
                databases.__exit__(None, None, None)
            statsd.close()


def _function_ports() -> int:
    import random

    chooser = random.Random()
    while True:
        base = chooser.randrange(_FUNCTION_PORTS_LOWEST, 32_000 - len(FUNCTIONS))
        probes = []
        try:
            for offset in range(len(FUNCTIONS)):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()


def _wait_ready(url: str, process: subprocess.Popen, home: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS_MAX
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"paystream up exited: {(home / 'platform.log').read_text()[-3000:]}")
        try:
            if requests.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the platform did not start: {(home / 'platform.log').read_text()[-3000:]}")
