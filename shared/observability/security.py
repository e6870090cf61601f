"""Security events: logged as such (a `security_event` key on the line), so that a monitor
or a SIEM can select them without parsing messages."""

from __future__ import annotations

import logging

from shared.observability.logs import SECURITY_EVENT_KEY
from shared.observability.metrics import emit

__all__ = [
    "AUTHENTICATION_FAILED",
    "AUTHORIZATION_DENIED",
    "LOGIN_FAILED",
    "RATE_LIMITED",
    "REFRESH_TOKEN_REUSE",
    "SECURITY_EVENT_KINDS",
    "security_event",
    "security_event_of_refusal",
]

logger = logging.getLogger("paystream.security")

LOGIN_FAILED = "login_failed"
AUTHENTICATION_FAILED = "authentication_failed"
REFRESH_TOKEN_REUSE = "refresh_token_reuse"  # noqa: S105 - an event kind, not a token
AUTHORIZATION_DENIED = "authorization_denied"
RATE_LIMITED = "rate_limited"
SECURITY_EVENT_KINDS = frozenset(
    {LOGIN_FAILED, AUTHENTICATION_FAILED, REFRESH_TOKEN_REUSE, AUTHORIZATION_DENIED, RATE_LIMITED}
)
# The contract's error codes that mean a wrong email or password, or a wrong second-factor code
# with the right password (a sign-in failure too: someone may hold the password).
_LOGIN_FAILURE_CODES = frozenset({"invalid_credentials", "invalid_otp"})


def security_event(kind: str, message: str, **fields: object) -> None:
    """Log one security event of `kind` (one of SECURITY_EVENT_KINDS) with its fields (ids,
    paths, codes: never a credential)."""
    if kind not in SECURITY_EVENT_KINDS:
        raise ValueError(f"unknown security event kind {kind!r}")
    logger.warning("security: %s", message, extra={SECURITY_EVENT_KEY: kind, **fields})
    emit("paystream.security.events", 1, {"kind": kind})


def security_event_of_refusal(status: int, code: str) -> str | None:
    """The kind of security event an HTTP refusal is, or None for an ordinary error."""
    if status == 401:
        return LOGIN_FAILED if code in _LOGIN_FAILURE_CODES else AUTHENTICATION_FAILED
    if status == 403:
        return AUTHORIZATION_DENIED
    if status == 429:
        return RATE_LIMITED
    return None
