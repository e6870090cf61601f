"""Input hygiene and the headers every client response carries.

A request body is read strictly before any model sees it: the declared media type must be the
one the route takes (415 otherwise), and a JSON document may not repeat a key, nest deeper than
`JSON_DEPTH_MAX` or carry a number longer than `JSON_NUMBER_DIGITS_MAX` digits. Each refusal is a
400 in the error shape; none of them can reach a 500 (Python's parser would otherwise recurse
until it fails, or refuse a 5,000-digit integer with a ValueError nobody expects).

Every response of a client function gets the same security headers (`security_headers`): HSTS,
`X-Content-Type-Options: nosniff`, `Cache-Control: no-store` on the versioned API (every answer
there is either a token or personal), and CORS for the web wallet's origin alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = [
    "CORS_ALLOWED_HEADERS",
    "CORS_EXPOSED_HEADERS",
    "CORS_MAX_AGE_SECONDS",
    "HEADER_BYTES_MAX",
    "JSON_DEPTH_MAX",
    "JSON_NUMBER_DIGITS_MAX",
    "InputRefused",
    "media_type_of",
    "parse_strict_json",
    "preflight_headers",
    "security_headers",
]

# The deepest JSON document any route takes is three levels (a body, a list, an object); 32
# leaves room for every model while keeping the parser far from Python's recursion limit.
JSON_DEPTH_MAX = 32
# An amount is at most 10**15 minor units (16 digits); no field of the API needs more than 20.
JSON_NUMBER_DIGITS_MAX = 20
# All request headers together (names and values). Browsers send about 1 KiB; a bearer token is
# under 2 KiB. NGINX's default for one header line is 8 KiB.
HEADER_BYTES_MAX = 16 * 1024
# HSTS for two years, subdomains included (the preload list's minimum is one year).
HSTS_VALUE = "max-age=63072000; includeSubDomains"
CORS_ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key"
CORS_EXPOSED_HEADERS = "X-Request-Id, Retry-After, RateLimit, RateLimit-Policy, Content-Disposition"
CORS_MAX_AGE_SECONDS = 600
API_PATH_PREFIX = "/v1/"


class InputRefused(ValueError):
    """A request body that is not acceptable, with the error code and message the client gets."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def media_type_of(content_type: str | None) -> str:
    """The media type of a Content-Type header, without parameters, lower case ("" if none)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise InputRefused("duplicate_json_key", f"the key {key!r} appears more than once")
        document[key] = value
    return document


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > JSON_NUMBER_DIGITS_MAX:
        raise InputRefused("number_too_long", f"a number has more than {JSON_NUMBER_DIGITS_MAX} digits")
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > JSON_NUMBER_DIGITS_MAX + 8:  # room for a sign, a point and an exponent
        raise InputRefused("number_too_long", f"a number has more than {JSON_NUMBER_DIGITS_MAX} digits")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise InputRefused("number_too_long", "a number is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise InputRefused("invalid_json", f"{name} is not valid JSON")


def _depth_of(document: Any) -> int:
    """How deeply `document` nests (a scalar is 0), walked without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            depth += 1
            if depth > JSON_DEPTH_MAX:
                return depth
            deepest = max(deepest, depth)
            stack.extend((item, depth) for item in value)
    return deepest


def _bracket_depth_exceeds(body: bytes) -> bool:
    """Whether brackets outside strings nest deeper than JSON_DEPTH_MAX: checked before parsing,
    since the parser itself recurses once per level."""
    if body.count(b"[") + body.count(b"{") <= JSON_DEPTH_MAX:
        return False
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > JSON_DEPTH_MAX:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def parse_strict_json(body: bytes) -> Any:
    """The JSON document in `body`, or InputRefused: not UTF-8 JSON, a repeated key, nesting
    deeper than JSON_DEPTH_MAX, a number longer than JSON_NUMBER_DIGITS_MAX digits, NaN or
    Infinity."""
    if _bracket_depth_exceeds(body):
        raise InputRefused("json_too_deep", f"the JSON document nests deeper than {JSON_DEPTH_MAX} levels")
    try:
        document = json.loads(
            body,
            object_pairs_hook=_object_without_duplicates,
            parse_int=_bounded_int,
            parse_float=_bounded_float,
            parse_constant=_no_constant,
        )
    except InputRefused:
        raise
    except RecursionError:
        raise InputRefused("json_too_deep", f"the JSON document nests deeper than {JSON_DEPTH_MAX} levels") from None
    except (UnicodeDecodeError, ValueError):  # JSONDecodeError is a ValueError
        raise InputRefused("invalid_json", "the request body is not valid JSON") from None
    if _depth_of(document) > JSON_DEPTH_MAX:
        raise InputRefused("json_too_deep", f"the JSON document nests deeper than {JSON_DEPTH_MAX} levels")
    return document


def security_headers(*, path: str, origin: str | None, web_origin: str) -> list[tuple[str, str]]:
    """The headers every response to a client carries, for a request to `path` from `origin`
    (the request's Origin header, if any)."""
    headers = [
        ("Strict-Transport-Security", HSTS_VALUE),
        ("X-Content-Type-Options", "nosniff"),
        ("Vary", "Origin"),
    ]
    if path.startswith(API_PATH_PREFIX):
        # Every answer of the versioned API is a token, a person's data or an error about
        # them: no shared or private cache may keep it.
        headers.append(("Cache-Control", "no-store"))
    if origin is not None and origin == web_origin:
        headers.append(("Access-Control-Allow-Origin", web_origin))
        headers.append(("Access-Control-Expose-Headers", CORS_EXPOSED_HEADERS))
    return headers


def preflight_headers(web_origin: str, methods: Iterable[str]) -> list[tuple[str, str]]:
    """The headers of a CORS preflight answered for the web wallet's origin."""
    return [
        ("Access-Control-Allow-Origin", web_origin),
        ("Access-Control-Allow-Methods", ", ".join(sorted(methods))),
        ("Access-Control-Allow-Headers", CORS_ALLOWED_HEADERS),
        ("Access-Control-Max-Age", str(CORS_MAX_AGE_SECONDS)),
    ]
