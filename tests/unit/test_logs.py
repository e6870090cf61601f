"""JSON log lines: their fields, and what never reaches them."""

from __future__ import annotations

import io
import json
import logging

import pytest
from ddtrace.trace import TraceFilter, tracer
from hypothesis import given
from hypothesis import strategies as st

from shared.observability import bound, configure_logging, redact
from shared.observability.logs import _ContextFilter, _RedactingFormatter
from shared.observability.security import LOGIN_FAILED, security_event


def _luhn_complete(prefix: str) -> str:
    """`prefix` plus the check digit that makes it Luhn-valid."""
    for check in "0123456789":
        candidate = prefix + check
        total = 0
        for index, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if index % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


@pytest.fixture
def json_lines():
    """Records of the 'paystream.test' logger, as the platform formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(_ContextFilter(environment="test", version="9.9.9"))
    handler.setFormatter(_RedactingFormatter(utc=True, use_rfc3339=True, serialize_stacktrace=False))
    logger = logging.getLogger("paystream.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


class _DropEveryTrace(TraceFilter):
    def process_trace(self, trace):
        return None


@pytest.fixture
def spans_kept_local():
    """Spans are made but never sent: no agent is needed for their ids."""
    tracer.configure(trace_processors=[_DropEveryTrace()])
    yield
    tracer.configure(trace_processors=[])


def test_a_line_carries_service_env_version_correlation_id_and_the_active_span(json_lines, spans_kept_local):
    # GIVEN work of the payments function for request req_abcdefgh, inside a span
    with bound(function="payments", correlation="req_abcdefgh"), tracer.trace("test.work") as span:
        # WHEN it logs
        logging.getLogger("paystream.test").info("payment %s accepted", "pay_1")
    # THEN the line is JSON with the unified service tags, the correlation id and the trace
    (line,) = json_lines()
    assert line["message"] == "payment pay_1 accepted"
    assert (line["service"], line["env"], line["version"]) == ("payments", "test", "9.9.9")
    assert line["correlation_id"] == "req_abcdefgh"
    assert int(line["dd.span_id"]) == span.span_id
    assert int(line["dd.trace_id"], 16) == span.trace_id


def test_a_security_event_is_logged_as_such(json_lines):
    logging.getLogger("paystream.security").addHandler(logging.getLogger("paystream.test").handlers[-1])
    try:
        security_event(LOGIN_FAILED, "POST /v1/oauth/token refused", path="/v1/oauth/token")
    finally:
        logging.getLogger("paystream.security").removeHandler(logging.getLogger("paystream.test").handlers[-1])
    (line,) = json_lines()
    assert line["security_event"] == "login_failed" and line["level"] == "WARNING"


def test_an_unknown_security_event_kind_is_a_programmer_error():
    with pytest.raises(ValueError, match="unknown security event kind"):
        security_event("something_else", "no")


def test_a_traceback_is_redacted_too(json_lines):
    try:
        raise RuntimeError("login with password=hunter2-hunter2 failed")
    except RuntimeError:
        logging.getLogger("paystream.test").exception("boom")
    (line,) = json_lines()
    assert "hunter2" not in json.dumps(line)
    assert "RuntimeError" in line["exception"]


@given(
    prefix=st.sampled_from(["4", "51", "37", "6011"]),
    body=st.text(alphabet="0123456789", min_size=11, max_size=14),
    before=st.text(alphabet=st.characters(categories=["L", "Zs"]), max_size=20),
)
def test_a_card_number_never_survives_redaction(prefix, body, before):
    number = _luhn_complete((prefix + body)[:18])
    assert number not in redact(f"{before} {number} end")


@given(secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=40))
def test_password_and_token_pairs_lose_their_values(secret):
    for key in ("password", "refresh_token", "access_token", "cvc", "document_number"):
        assert redact(f"{key}={secret}") == f"{key}=[redacted]"
        assert redact(f'"{key}": "{secret}"') == f'"{key}": "[redacted]"'


def test_ids_and_amounts_are_left_alone():
    text = "payment pay_0f3a amount 2500 USD trace 1234567890123 (not Luhn-valid: 4242424242424241)"
    assert redact(text) == text
    assert redact("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig") == "Bearer [redacted]"


def test_configuring_twice_installs_one_handler():
    configure_logging(environment="test", version="1")
    configure_logging(environment="test", version="1")
    names = [h.get_name() for h in logging.getLogger().handlers]
    assert names.count("paystream-json") == 1
