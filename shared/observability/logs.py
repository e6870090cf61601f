"""JSON logs: one line per record, through Powertools' Logger and its JSON formatter.

Every line carries `service`, `env`, `version`, the correlation id (the X-Request-Id of the
request that started the work, carried by events as the `correlationid` extension), and
`dd.trace_id` / `dd.span_id` of the active span, so Datadog joins a log line to its trace.

No secret or personal data reaches a line: the code logs ids, never credentials or addresses,
and as a second line of defence every message and traceback is redacted of what looks like a
bearer or JSON Web Token, a card number (a Luhn-valid run of 13 to 19 digits), a
`password=`-style pair, an e-mail address, a payment gateway's token (`tok_…`, `btok_…`) or a
sealed value (`pd1:…`). SQL parameters never reach a line either: the engines are created with
`hide_parameters` (shared.adapters.database).
"""

from __future__ import annotations

import logging
import re
import sys

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from shared.observability import context

__all__ = ["configure_logging", "redact", "SECURITY_EVENT_KEY"]

# The key of a security event's kind on its log line (`login_failed`, `authorization_denied`...).
SECURITY_EVENT_KEY = "security_event"
_HANDLER_NAME = "paystream-json"
REDACTED = "[redacted]"

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_SECRET_PAIR = re.compile(
    r"(?i)\b(password|passwd|secret|secret_key|token|access_token|refresh_token|cvc|cvv"
    r"|card_number|account_number|routing_number|document_number|authorization)"
    r"(\"?'?\s*[:=]\s*\"?'?)([^\s\"'&,;}]+)"
)
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_GATEWAY_TOKEN = re.compile(r"\b(?:b?tok)_[0-9a-f]{32}\b")
_SEALED = re.compile(r"pd1:[A-Za-z0-9_=-]+")
_DIGIT_RUN = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d.])")
_NOT_DIGIT = re.compile(r"\D")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = _NOT_DIGIT.sub("", match.group(0))
    return REDACTED if _luhn_valid(digits) else match.group(0)


def redact(text: str) -> str:
    """`text` without tokens, card numbers, secret-looking `key=value` pairs, e-mail addresses,
    gateway tokens and sealed values."""
    text = _JWT.sub(REDACTED, text)
    text = _SEALED.sub(REDACTED, text)
    text = _EMAIL.sub(REDACTED, text)
    text = _GATEWAY_TOKEN.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _SECRET_PAIR.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    return _DIGIT_RUN.sub(_mask_card, text)


class _RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, with messages and tracebacks redacted."""

    def formatException(self, exc_info) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(exc_info))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return redact(super().formatStack(stack_info))


class _StandardErrorHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of the record (a test runner or a server
    may replace it after the handler was installed)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _ContextFilter(logging.Filter):
    """Adds the work's service, correlation id and trace ids to a record; redacts its message."""

    def __init__(self, *, environment: str, version: str) -> None:
        super().__init__()
        self._environment = environment
        self._version = version

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        service = context.function_name()
        record.service = service
        record.env = self._environment
        record.version = self._version
        record.correlation_id = context.correlation_id()
        trace_id, span_id = _trace_ids()
        setattr(record, "dd.trace_id", trace_id)
        setattr(record, "dd.span_id", span_id)
        setattr(record, "dd.service", service)
        setattr(record, "dd.env", self._environment)
        setattr(record, "dd.version", self._version)
        return True


def _trace_ids() -> tuple[str, str]:
    from ddtrace.trace import tracer

    ids = tracer.get_log_correlation_context()
    return ids.get("dd.trace_id", "0"), ids.get("dd.span_id", "0")


def configure_logging(*, environment: str, version: str, level: str = "INFO", service: str | None = None) -> None:
    """Send every record of the process (Paystream's, libraries') as one JSON line to standard
    error (where a container's logs are collected), at `level`, tagged with the process's
    `service` (None: paystream). Safe to call again: installed once."""
    context.name_process(service)
    root = logging.getLogger()
    root.setLevel(level.upper())
    if any(handler.get_name() == _HANDLER_NAME for handler in root.handlers):
        return
    handler = _StandardErrorHandler()
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_ContextFilter(environment=environment, version=version))
    # Powertools Logger's JSON formatter on a handler of the root logger (not a Logger object of
    # its own, which would stop propagation under its name): every library's records, ddtrace's
    # and botocore's included, come out in the same shape.
    handler.setFormatter(_RedactingFormatter(utc=True, use_rfc3339=True, serialize_stacktrace=False))
    root.addHandler(handler)
    # Plain-text handlers a launcher installed (logging.basicConfig) would print each line twice.
    for other in list(root.handlers):
        if other is not handler and type(other) is logging.StreamHandler:
            root.removeHandler(other)
