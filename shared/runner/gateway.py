"""The local API gateway: one entry URL, each path prefix routed to its client function.

On Kubernetes an Ingress does this from the same table. Locally the gateway either calls the
function's functions-framework WSGI app in-process (embedded) or forwards the request over HTTP
to the function's own process (services mode).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from shared.functions import HTTP_ROUTE_PREFIXES
from shared.http import SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS, service_unavailable_body
from shared.runner.keepalive import KeepAliveClient, NoAnswer

__all__ = ["Gateway", "function_for_path", "InProcessBackends", "HttpBackends"]

logger = logging.getLogger("paystream.gateway")
access_logger = logging.getLogger("paystream.access")

PROXY_TIMEOUT_SECONDS = 30
PROXY_CONNECT_TIMEOUT_SECONDS = 2
# PATH_INFO is decoded; these characters go back on the wire as they are (RFC 3986 path chars).
_PATH_SAFE_CHARACTERS = "/:@!$&'()*+,;=-._~"
# Hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded by a proxy.
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def function_for_path(path: str) -> str | None:
    """The client function that serves `path`, by the longest matching prefix."""
    best: tuple[int, str] | None = None
    for prefix, function in HTTP_ROUTE_PREFIXES.items():
        matches = path == prefix or path.startswith(prefix.rstrip("/") + "/")
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), function)
    return best[1] if best else None


def _not_found(start_response: Callable[..., Any], path: str) -> list[bytes]:
    body = json.dumps(
        {
            "error": {
                "type": "not_found_error",
                "code": "route_not_found",
                "message": f"no route for {path}",
                "param": None,
            }
        }
    ).encode()
    start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class InProcessBackends:
    """Embedded mode: the functions' WSGI apps, called directly."""

    def __init__(self, apps: Mapping[str, WsgiApp]) -> None:
        self._apps = dict(apps)

    def __call__(self, function: str, environ: dict[str, Any], start_response) -> Iterable[bytes]:
        return self._apps[function](environ, start_response)


class HttpBackends:
    """Services mode: each function runs in its own process; the request is forwarded."""

    def __init__(self, base_urls: Mapping[str, str]) -> None:
        self._clients = {
            function: KeepAliveClient(
                url,
                connect_timeout_seconds=PROXY_CONNECT_TIMEOUT_SECONDS,
                read_timeout_seconds=PROXY_TIMEOUT_SECONDS,
            )
            for function, url in base_urls.items()
        }

    def __call__(self, function: str, environ: dict[str, Any], start_response) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in HOP_BY_HOP_HEADERS
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        headers["Content-Length"] = str(len(body))
        target = quote(environ.get("PATH_INFO", "/"), safe=_PATH_SAFE_CHARACTERS)
        if environ.get("QUERY_STRING"):
            target += "?" + environ["QUERY_STRING"]
        try:
            answer = self._clients[function].request(environ["REQUEST_METHOD"], target, body, headers)
        except NoAnswer as error:
            logger.warning("gateway: %s is unreachable: %s", function, error)
            payload = json.dumps(service_unavailable_body()).encode()
            start_response(
                "503 Service Unavailable",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(payload))),
                    ("Retry-After", str(SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS)),
                ],
            )
            return [payload]
        response_headers = [
            (key, value)
            for key, value in answer.headers
            if key.lower() not in HOP_BY_HOP_HEADERS and key.lower() != "content-encoding"
        ]
        response_headers.append(("Content-Length", str(len(answer.body))))
        start_response(f"{answer.status} {answer.reason}", response_headers)
        return [answer.body]


class Gateway:
    """A WSGI app that sends each request to the function owning its path."""

    def __init__(self, backends: Callable[..., Iterable[bytes]]) -> None:
        self._backends = backends

    def __call__(self, environ: dict[str, Any], start_response) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        function = function_for_path(path)
        began = time.perf_counter()
        status: list[str] = []

        def recording_start_response(status_line: str, headers, *args):
            status.append(status_line.split(" ", 1)[0])
            return start_response(status_line, headers, *args)

        body: Iterable[bytes]
        if function is None:
            body = _not_found(recording_start_response, path)
        else:
            body = self._backends(function, environ, recording_start_response)
        access_logger.info(
            "%s %s %s %s %.1fms",
            environ.get("REQUEST_METHOD"),
            path,
            status[0] if status else "-",
            function or "-",
            (time.perf_counter() - began) * 1000,
        )
        return body
