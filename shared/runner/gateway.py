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

from werkzeug.serving import WSGIRequestHandler

from shared.functions import HTTP_ROUTE_PREFIXES
from shared.http import SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS, service_unavailable_body
from shared.hygiene import HEADER_BYTES_MAX, security_headers
from shared.runner.keepalive import KeepAliveClient, NoAnswer

__all__ = ["Gateway", "GatewayRequestHandler", "function_for_path", "InProcessBackends", "HttpBackends"]

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
# What a function's own server says it is: the gateway answers as itself, with no version.
_NOT_FORWARDED_RESPONSE_HEADERS = frozenset({"content-encoding", "server", "date"})
SERVER_NAME = "paystream"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def function_for_path(path: str) -> str | None:
    """The client function that serves `path`, by the longest matching prefix."""
    best: tuple[int, str] | None = None
    for prefix, function in HTTP_ROUTE_PREFIXES.items():
        matches = path == prefix or path.startswith(prefix.rstrip("/") + "/")
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), function)
    return best[1] if best else None


def _error_body(type_: str, code: str, message: str, param: str | None = None) -> bytes:
    return json.dumps({"error": {"type": type_, "code": code, "message": message, "param": param}}).encode()


def _not_found(start_response: Callable[..., Any], path: str) -> list[bytes]:
    body = _error_body("not_found_error", "route_not_found", f"no route for {path}")
    start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _headers_too_large(start_response: Callable[..., Any]) -> list[bytes]:
    body = _error_body(
        "invalid_request_error",
        "headers_too_large",
        f"the request headers are larger than {HEADER_BYTES_MAX} bytes",
    )
    start_response(
        "431 Request Header Fields Too Large",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _header_bytes(environ: Mapping[str, Any]) -> int:
    """The size of the request's headers, about as they came on the wire."""
    return sum(len(key) - 5 + len(str(value)) + 4 for key, value in environ.items() if key.startswith("HTTP_")) + len(
        environ.get("CONTENT_TYPE") or ""
    )


class GatewayRequestHandler(WSGIRequestHandler):
    """The local gateway's HTTP handler: it names no server version, and what the HTTP layer
    refuses before any WSGI app runs (a header line or a request line too long, too many
    headers, a malformed request) is answered in the API's error shape, not as an HTML page."""

    def version_string(self) -> str:
        return SERVER_NAME

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        reason = self.responses.get(code, ("Error", ""))[0]
        self.log_error("code %d, message %s", code, message)
        body = _error_body(
            "invalid_request_error",
            "headers_too_large" if code == 431 else "request_too_large" if code == 414 else "bad_request",
            message or reason,
        )
        self.send_response(code, reason)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200:
            self.wfile.write(body)


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
            if key.lower() not in HOP_BY_HOP_HEADERS and key.lower() not in _NOT_FORWARDED_RESPONSE_HEADERS
        ]
        response_headers.append(("Content-Length", str(len(answer.body))))
        start_response(f"{answer.status} {answer.reason}", response_headers)
        return [answer.body]


class Gateway:
    """A WSGI app that sends each request to the function owning its path."""

    def __init__(self, backends: Callable[..., Iterable[bytes]], web_origin: str = "") -> None:
        self._backends = backends
        # Added to the gateway's own answers (an unknown path, headers too large); a function's
        # answers carry them already.
        self._web_origin = web_origin

    def __call__(self, environ: dict[str, Any], start_response) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        function = function_for_path(path)
        began = time.perf_counter()
        status: list[str] = []

        def recording_start_response(status_line: str, headers, *args):
            status.append(status_line.split(" ", 1)[0])
            present = {key.lower() for key, _ in headers}
            missing = [
                (key, value)
                for key, value in security_headers(
                    path=path, origin=environ.get("HTTP_ORIGIN"), web_origin=self._web_origin
                )
                if key.lower() not in present
            ]
            return start_response(status_line, [*headers, *missing], *args)

        body: Iterable[bytes]
        if _header_bytes(environ) > HEADER_BYTES_MAX:
            body = _headers_too_large(recording_start_response)
        elif function is None:
            body = _not_found(recording_start_response, path)
        else:
            # The client's address, as the NGINX Ingress passes it on: whatever a client sent
            # under this name is replaced (shared.http.client_address keys per-address limits
            # and the sign-in backoff on it).
            environ["HTTP_X_REAL_IP"] = environ.get("REMOTE_ADDR", "")
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
