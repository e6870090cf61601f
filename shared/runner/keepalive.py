"""HTTP/1.1 to the function processes over kept-alive connections, one per thread and process.

The supervisor forwards every client request (the gateway) and posts every CloudEvent (the
deliverer) to a function process on this machine. `requests` spends about four times the CPU of
`http.client` on such a call (a session merges environment settings, proxies and netrc files
for every request), and the supervisor's CPU per payment is a budget (bench/RESULTS.md), so
these calls use `http.client` directly.

A kept-alive connection can be closed by the server while it sits idle (gunicorn closes idle
connections after a couple of seconds); the next request on it then fails before the server
has read it. Such a failure on a reused connection is retried once on a new one. A request that
fails on a new connection is reported, not retried.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Answer", "KeepAliveClient", "NoAnswer"]


class NoAnswer(Exception):
    """The function process did not answer: refused, reset, or timed out."""


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class KeepAliveClient:
    """Requests to one base URL (``http://host:port``), over a kept-alive connection per thread."""

    def __init__(self, base_url: str, *, connect_timeout_seconds: float, read_timeout_seconds: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"expected http://host:port, not {base_url!r}")
        self._host, self._port = parts.hostname, parts.port
        self._connect_timeout_seconds = connect_timeout_seconds
        self._read_timeout_seconds = read_timeout_seconds
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._all_lock = threading.Lock()

    def request(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> Answer:
        """Send one request and read the whole answer; NoAnswer if there was none."""
        connection = getattr(self._local, "connection", None)
        reused = connection is not None
        for _ in range(2):
            if connection is None:
                connection = self._connect()
            try:
                connection.request(method, target, body, headers)
                response = connection.getresponse()
                answer = Answer(response.status, response.reason, response.getheaders(), response.read())
            except (OSError, http.client.HTTPException) as error:
                self._drop(connection)
                connection = None
                if reused:
                    reused = False  # a stale kept-alive connection: once more, on a new one
                    continue
                raise NoAnswer(f"{self._host}:{self._port}: {error}") from error
            if response.will_close:
                self._drop(connection)
            return answer
        raise AssertionError("unreachable")  # the loop returns or raises

    def _connect(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout_seconds)
        try:
            connection.connect()
        except OSError as error:
            raise NoAnswer(f"{self._host}:{self._port}: {error}") from error
        connection.sock.settimeout(self._read_timeout_seconds)
        self._local.connection = connection
        with self._all_lock:
            self._all.append(connection)
        return connection

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._all_lock:
            if connection in self._all:
                self._all.remove(connection)

    def close(self) -> None:
        with self._all_lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()
