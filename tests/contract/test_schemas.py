"""Contract tests of the request, response and event payload models, and of their JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from schemas.api import (
    AMOUNT_MINOR_MAX,
    ERROR_TYPES,
    FUNDING_SOURCE_REQUEST_ADAPTER,
    TOKEN_REQUEST_ADAPTER,
    BankAccountFundingSourceRequest,
    CardFundingSourceRequest,
    ErrorResponse,
    ListQuery,
    PasswordGrant,
    PaymentRequest,
    PaymentResponse,
    RefreshTokenGrant,
    SignUpRequest,
    TopupRequest,
    UserResponse,
)
from schemas.cloudevent import (
    CloudEventEnvelope,
    UnprefixedEventType,
    new_cloud_event,
    parse_cloud_event,
    short_type,
    wire_type,
)
from schemas.events import (
    EVENT_PAYLOADS,
    PaymentApproved,
    PaymentRequested,
    UnknownEventType,
    parse_payload,
)
from schemas.export import JSON_SCHEMA_DIR, REPO_ROOT, json_schemas, render_all, stale_files

SIGN_UP = {
    "email": "ada@example.com",
    "password": "correct horse battery",
    "full_name": "Ada Lovelace",
    "country": "GB",
}
TOPUP = {
    "funding_source_id": "fs_b4c99e5dce09481fbd7ec882a20ebe7f",
    "amount": 5000,
    "currency": "USD",
}
PAYMENT = {"to": "grace@example.com", "amount": 2500, "currency": "USD", "note": "Lunch"}
CARD = {
    "type": "card",
    "number": "4242424242424242",
    "exp_month": 12,
    "exp_year": 2030,
    "cvc": "123",
}
BANK_ACCOUNT = {
    "type": "bank_account",
    "routing_number": "110000000",
    "account_number": "000123456789",
}

MONEY_REQUESTS = [(TopupRequest, TOPUP), (PaymentRequest, PAYMENT)]


def _rejects(model: type[BaseModel], body: dict[str, object]) -> bool:
    """True when the body is refused both as a Python dict and as JSON text on the wire."""
    with pytest.raises(ValidationError):
        model.model_validate(body)
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps(body))
    return True


# --- the generated JSON Schema ---------------------------------------------------------------


def test_committed_json_schemas_equal_a_fresh_export() -> None:
    # GIVEN the files a fresh export would write
    expected = {p: c for p, c in render_all().items() if p.parent == JSON_SCHEMA_DIR}
    # WHEN they are compared with the committed ones (missing, different or orphaned)
    stale = [p for p in stale_files() if p.parent == JSON_SCHEMA_DIR]
    # THEN nothing has drifted
    assert expected, "the export produced no JSON Schema"
    assert not stale, "stale JSON Schema files (run `python -m schemas.export`): " + ", ".join(
        str(p.relative_to(REPO_ROOT)) for p in stale
    )


def test_every_event_payload_and_the_envelope_have_a_schema_file() -> None:
    names = set(json_schemas())
    assert {m.__name__ for m in EVENT_PAYLOADS.values()} <= names
    assert {"CloudEventEnvelope", "TokenRequest", "FundingSourceRequest"} <= names


# --- requests are strict ---------------------------------------------------------------------


@pytest.mark.parametrize(("model", "body"), MONEY_REQUESTS)
def test_a_valid_money_request_is_accepted(model: type[BaseModel], body: dict[str, object]) -> None:
    parsed = model.model_validate_json(json.dumps(body))
    assert parsed.amount == body["amount"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("model", "body"), MONEY_REQUESTS)
@pytest.mark.parametrize(
    "amount",
    [10.5, 10.0, "10", True, False, None, 0, -1, AMOUNT_MINOR_MAX + 1, [10], {"value": 10}],
    ids=repr,
)
def test_an_amount_that_is_not_a_positive_integer_of_minor_units_is_rejected(
    model: type[BaseModel], body: dict[str, object], amount: object
) -> None:
    assert _rejects(model, {**body, "amount": amount})


@pytest.mark.parametrize(("model", "body"), MONEY_REQUESTS)
def test_the_largest_amount_is_accepted(model: type[BaseModel], body: dict[str, object]) -> None:
    assert model.model_validate({**body, "amount": AMOUNT_MINOR_MAX}).amount == AMOUNT_MINOR_MAX  # type: ignore[attr-defined]


@pytest.mark.parametrize(("model", "body"), MONEY_REQUESTS)
@pytest.mark.parametrize("currency", ["usd", "US", "USDX", "", "U5D", 840])
def test_a_currency_that_is_not_three_upper_case_letters_is_rejected(
    model: type[BaseModel], body: dict[str, object], currency: object
) -> None:
    assert _rejects(model, {**body, "currency": currency})


def test_a_well_formed_but_unsupported_currency_is_left_to_the_function() -> None:
    # The function answers `currency_not_supported`; the schema only checks the shape.
    assert TopupRequest.model_validate({**TOPUP, "currency": "XYZ"}).currency == "XYZ"


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (SignUpRequest, SIGN_UP),
        (TopupRequest, TOPUP),
        (PaymentRequest, PAYMENT),
        (CardFundingSourceRequest, CARD),
        (BankAccountFundingSourceRequest, BANK_ACCOUNT),
        (PasswordGrant, {"grant_type": "password", "username": "ada@example.com", "password": "x"}),
        (RefreshTokenGrant, {"grant_type": "refresh_token", "refresh_token": "rt_123"}),
    ],
)
def test_an_unknown_field_is_rejected(model: type[BaseModel], body: dict[str, object]) -> None:
    model.model_validate(body)  # the body alone is valid...
    assert _rejects(model, {**body, "is_admin": True})  # ...and one extra field is not.


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "ada@",
        "@example.com",
        "ada lovelace@example.com",
        "ada@@example.com",
        "",
        42,
    ],
)
def test_a_bad_email_is_rejected_at_sign_up(email: object) -> None:
    assert _rejects(SignUpRequest, {**SIGN_UP, "email": email})


def test_sign_up_lower_cases_the_email_and_strips_text_but_keeps_the_password_as_typed() -> None:
    parsed = SignUpRequest.model_validate(
        {
            **SIGN_UP,
            "email": "  Ada@Example.COM ",
            "full_name": " Ada Lovelace ",
            "password": " spaced out pw ",
        }
    )
    assert parsed.email == "ada@example.com"
    assert parsed.full_name == "Ada Lovelace"
    assert parsed.password == " spaced out pw "


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # A short password is the password policy's to refuse (shared.domain.passwords): the
        # schema bounds only the length it will read.
        ("password", ""),
        ("password", "x" * 129),
        ("full_name", "   "),
        ("full_name", "x" * 201),
        ("country", "gb"),
        ("country", "GBR"),
    ],
)
def test_sign_up_rejects_out_of_bounds_fields(field: str, value: str) -> None:
    assert _rejects(SignUpRequest, {**SIGN_UP, field: value})


def test_a_payment_note_defaults_to_empty_and_is_bounded() -> None:
    body = {k: v for k, v in PAYMENT.items() if k != "note"}
    assert PaymentRequest.model_validate(body).note == ""
    assert _rejects(PaymentRequest, {**PAYMENT, "note": "x" * 501})
    assert _rejects(PaymentRequest, {**PAYMENT, "to": ""})


def test_the_token_request_is_chosen_by_grant_type() -> None:
    password = TOKEN_REQUEST_ADAPTER.validate_python(
        {"grant_type": "password", "username": "ada@example.com", "password": "pw"}
    )
    refresh = TOKEN_REQUEST_ADAPTER.validate_python({"grant_type": "refresh_token", "refresh_token": "rt_123"})
    assert isinstance(password, PasswordGrant)
    assert isinstance(refresh, RefreshTokenGrant)


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "client_credentials"},
        {"grant_type": "password", "username": "ada@example.com"},
        {"grant_type": "refresh_token"},
        {"username": "ada@example.com", "password": "pw"},
    ],
)
def test_a_token_request_with_an_unknown_grant_or_missing_fields_is_rejected(
    form: dict[str, str],
) -> None:
    with pytest.raises(ValidationError):
        TOKEN_REQUEST_ADAPTER.validate_python(form)


def test_the_funding_source_request_is_chosen_by_type() -> None:
    assert isinstance(FUNDING_SOURCE_REQUEST_ADAPTER.validate_python(CARD), CardFundingSourceRequest)
    assert isinstance(
        FUNDING_SOURCE_REQUEST_ADAPTER.validate_python(BANK_ACCOUNT),
        BankAccountFundingSourceRequest,
    )


@pytest.mark.parametrize(
    "body",
    [
        {**CARD, "number": "4242 4242 4242 4242"},
        {**CARD, "number": "42424242"},
        {**CARD, "exp_month": 13},
        {**CARD, "exp_month": "12"},
        {**CARD, "exp_year": 1999},
        {**CARD, "cvc": "12"},
        {**BANK_ACCOUNT, "routing_number": "11000000"},
        {**BANK_ACCOUNT, "account_number": "12"},
        {**CARD, "type": "paypal"},
    ],
    ids=repr,
)
def test_a_malformed_funding_source_is_rejected(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FUNDING_SOURCE_REQUEST_ADAPTER.validate_python(body)


def test_list_query_coerces_query_strings_and_bounds_the_page() -> None:
    assert ListQuery.model_validate({"limit": "25"}).limit == 25
    assert ListQuery.model_validate({}).limit == 10
    for bad in ({"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"sort": "amount"}):
        with pytest.raises(ValidationError):
            ListQuery.model_validate(bad)


def test_list_query_takes_one_cursor_at_most() -> None:
    with pytest.raises(ValidationError, match="cannot be used together"):
        ListQuery.model_validate({"starting_after": "txn_1", "ending_before": "txn_2"})


# --- responses -------------------------------------------------------------------------------


def test_response_datetimes_serialize_as_utc_even_from_a_naive_database_value() -> None:
    user = UserResponse.model_validate(
        {
            "id": "usr_1",
            "email": "ada@example.com",
            "full_name": "Ada Lovelace",
            "country": "GB",
            "kyc_status": "unverified",
            "kyc_level": "none",
            "created_at": datetime(2025, 3, 14, 9, 12, 7),
            "password_hash": "never shown",  # a wider row: ignored, never echoed
        }
    )
    dumped = user.model_dump(mode="json")
    assert dumped["created_at"] == "2025-03-14T09:12:07Z"
    assert "password_hash" not in dumped


def test_an_aware_datetime_in_another_zone_is_converted_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    payment = PaymentResponse(
        id="pay_1",
        status="pending",
        amount=2500,
        currency="USD",
        payer_id="usr_1",
        payee_id="usr_2",
        note="",
        failure_code=None,
        failure_message=None,
        created_at=datetime(2025, 3, 14, 11, 0, tzinfo=paris),
        updated_at=datetime(2025, 3, 14, 10, 0, tzinfo=UTC),
    )
    assert payment.model_dump(mode="json")["created_at"] == "2025-03-14T10:00:00Z"


def test_a_payment_status_outside_its_state_machine_is_rejected() -> None:
    with pytest.raises(ValidationError):
        PaymentResponse.model_validate(
            {
                "id": "pay_1",
                "status": "shipped",
                "amount": 1,
                "currency": "USD",
                "payer_id": "a",
                "payee_id": "b",
                "note": "",
                "failure_code": None,
                "failure_message": None,
                "created_at": datetime.now(UTC),
                "updated_at": datetime.now(UTC),
            }
        )


def test_errors_have_exactly_the_eight_types_of_the_contract() -> None:
    assert set(ERROR_TYPES) == {
        "invalid_request_error",
        "authentication_error",
        "authorization_error",
        "not_found_error",
        "idempotency_error",
        "card_error",
        "rate_limit_error",
        "api_error",
    }
    body = {"error": {"type": "card_error", "code": "card_declined", "message": "Declined."}}
    assert ErrorResponse.model_validate(body).model_dump(mode="json") == {"error": {**body["error"], "param": None}}
    with pytest.raises(ValidationError):
        ErrorResponse.model_validate({"error": {**body["error"], "type": "teapot_error"}})


# --- event payloads and the envelope ---------------------------------------------------------

REQUESTED: dict[str, Any] = {
    "payment_id": "pay_14f8dc3c70964ca597480180d27320d6",
    "payer_id": "usr_36378a2b54a84840b08d0d9e71002dbe",
    "payee_id": "usr_3d55a4c69449418cb817527baccb242d",
    "amount_minor": 2500,
    "currency": "USD",
    "note": "Dinner",
}


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(UnknownEventType) as raised:
        parse_payload("payment.teleported", REQUESTED)
    assert raised.value.event_type == "payment.teleported"
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "change",
    [
        {"amount_minor": 25.0},
        {"amount_minor": "2500"},
        {"amount_minor": True},
        {"amount_minor": 0},
        {"currency": "usd"},
        {"payment_id": ""},
        {"fee_minor": 30},
    ],
    ids=repr,
)
def test_a_payload_that_could_move_the_wrong_money_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_payload("payment.requested", {**REQUESTED, **change})


def test_a_missing_payload_field_is_refused() -> None:
    with pytest.raises(ValidationError):
        parse_payload("payment.requested", {k: v for k, v in REQUESTED.items() if k != "note"})


def test_fraud_scores_and_reasons_are_bounded() -> None:
    base = {**{k: v for k, v in REQUESTED.items() if k != "note"}, "fraud_score": 12, "reasons": []}
    assert parse_payload("payment.approved", base) == PaymentApproved(**base)
    for change in ({"fraud_score": 101}, {"fraud_score": -1}, {"reasons": ["r"] * 33}):
        with pytest.raises(ValidationError):
            parse_payload("payment.approved", {**base, **change})


def _requested_event(**overrides: object) -> dict[str, object]:
    arguments: dict[str, object] = {
        "event_type": "payment.requested",
        "source_function": "payments",
        "subject": REQUESTED["payment_id"],
        "data": PaymentRequested(**REQUESTED),
        "event_id": "evt_db59a5c96a4e40afae57a06f2cbb228c",
        "time": datetime(2025, 3, 14, 10, 2, 11, tzinfo=UTC),
        **overrides,
    }
    return new_cloud_event(**arguments)  # type: ignore[arg-type]


def test_a_new_cloud_event_is_structured_json_that_parses_back_to_its_payload() -> None:
    event = _requested_event(correlation_id="req_1")
    # It survives the wire: JSON text and back.
    envelope, payload = parse_cloud_event(json.loads(json.dumps(event)))
    assert event["specversion"] == "1.0"
    assert event["source"] == "/paystream/payments"
    assert event["time"] == "2025-03-14T10:02:11Z"
    assert event["datacontenttype"] == "application/json"
    assert event["correlationid"] == "req_1"
    assert "traceparent" not in event  # absent extensions are left out, not sent as null
    # The wire carries the prefixed type and the payload's published schema; code the short name.
    assert event["type"] == envelope.type == "com.paystream.payment.requested"
    assert event["dataschema"] == "https://paystream.com/schemas/PaymentRequested.json"
    assert envelope.event_type == "payment.requested"
    assert payload == PaymentRequested(**REQUESTED)


def test_publishing_a_payload_under_another_type_is_a_programmer_error() -> None:
    with pytest.raises(TypeError):
        _requested_event(event_type="payment.completed")
    with pytest.raises(UnknownEventType):
        _requested_event(event_type="payment.teleported")


def test_an_event_time_without_a_timezone_is_refused() -> None:
    with pytest.raises(ValidationError):
        _requested_event(time=datetime(2025, 3, 14, 10, 2, 11))


def test_event_types_are_short_in_code_and_prefixed_on_the_wire() -> None:
    # Every type maps to its wire type and back, through the one mapping.
    for event_type in EVENT_PAYLOADS:
        assert wire_type(event_type) == f"com.paystream.{event_type}"
        assert short_type(wire_type(event_type)) == event_type
    # A type prefixed twice, or not a Paystream type, has no wire type; an unprefixed one no
    # short name; and the envelope as published refuses a type without its prefix.
    with pytest.raises(UnknownEventType):
        wire_type("com.paystream.payment.requested")
    for unprefixed in ("payment.requested", "com.paystream.", "dev.knative.sources.ping", None):
        with pytest.raises(UnprefixedEventType):
            short_type(unprefixed)
    with pytest.raises(ValidationError):
        CloudEventEnvelope.model_validate({**_requested_event(), "type": "payment.requested"})


def test_the_envelope_tolerates_unknown_extensions_but_not_a_wrong_specversion() -> None:
    event = _requested_event()
    assert CloudEventEnvelope.model_validate({**event, "knativearrivaltime": "2025-03-14T10:02:11Z"})
    for change in (
        {"specversion": "0.3"},
        {"datacontenttype": "text/plain"},
        {"traceparent": "nope"},
    ):
        with pytest.raises(ValidationError):
            CloudEventEnvelope.model_validate({**event, **change})
