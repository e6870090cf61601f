"""Contract tests of the event catalogue: every type routed, described, shown by a real sample."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import jsonschema
import pytest

from events.catalogue import (
    CATALOGUE,
    EVENT_TYPES,
    SAMPLES_DIR,
    consumers_of,
    event_types_consumed_by,
    event_types_produced_by,
    render_table,
)
from schemas.cloudevent import (
    SCHEMA_BASE_URI,
    CloudEventEnvelope,
    new_cloud_event,
    parse_cloud_event,
    short_type,
    source_for,
    wire_type,
)
from schemas.events import EVENT_PAYLOADS, parse_payload
from schemas.export import EVENTS_README_PATH, JSON_SCHEMA_DIR, render_events_readme

FUNCTION_NAME = re.compile(r"^[a-z]+(-[a-z]+)*$")
# The subject of each event is the aggregate it is about; this names that field in the payload.
SUBJECT_FIELD = {"user": "user_id", "funding_source": "funding_source_id", "topup": "topup_id",
                 "payment": "payment_id", "conversion": "conversion_id",
                 "withdrawal": "withdrawal_id", "refund": "refund_id",
                 "payment_request": "payment_request_id", "admin": "action_id",
                 "kyc": "document_id", "sanctions": "screening_id"}  # fmt: skip


def _sample(event_type: str) -> dict[str, Any]:
    return json.loads((SAMPLES_DIR / f"{event_type}.json").read_text(encoding="utf-8"))


# --- the catalogue is complete ---------------------------------------------------------------


def test_every_payload_model_is_catalogued_and_every_catalogued_type_has_a_model() -> None:
    assert set(CATALOGUE) == set(EVENT_PAYLOADS)
    for event_type, info in CATALOGUE.items():
        assert info.type == event_type
        assert info.payload_model is EVENT_PAYLOADS[event_type]
        assert info.description.strip()


def test_every_catalogued_type_has_exactly_one_sample_and_no_sample_is_orphaned() -> None:
    sample_types = {p.name.removesuffix(".json") for p in SAMPLES_DIR.glob("*.json")}
    assert sample_types == set(CATALOGUE)
    for info in CATALOGUE.values():
        assert info.sample_path == SAMPLES_DIR / f"{info.type}.json"
        assert info.sample_path.is_file()


def test_producers_and_consumers_are_function_names() -> None:
    for info in CATALOGUE.values():
        assert info.producers, f"{info.type} has no producer"
        for name in (*info.producers, *info.consumers):
            assert FUNCTION_NAME.match(name), f"{info.type}: {name!r} is not a function name"
        assert len(set(info.consumers)) == len(info.consumers)


def test_the_saga_routes_each_fact_to_the_step_that_acts_on_it() -> None:
    # GIVEN who produces and who consumes each event type (audit aside)
    expected = {
        "user.signed_up": (("users",), {"notify"}),
        "sanctions.matched": (("users", "accounts"), set()),
        "funding_source.added": (("accounts",), set()),
        "topup.succeeded": (("wallets",), {"notify"}),
        "topup.declined": (("wallets",), {"notify"}),
        "payment.requested": (("payments",), {"score-fraud"}),
        "payment.approved": (("score-fraud",), {"debit-wallet"}),
        "payment.held": (("score-fraud",), {"notify"}),
        "payment.released": (("admin",), {"settle", "notify"}),
        "payment.declined": (("score-fraud", "admin", "sweep-sagas"), {"notify"}),
        "payment.debited": (("debit-wallet",), {"settle"}),
        "payment.failed": (("score-fraud", "debit-wallet", "settle", "sweep-sagas"), {"notify"}),
        "payment.completed": (("settle",), {"notify"}),
        "conversion.completed": (("wallets",), {"notify"}),
        "conversion.failed": (("wallets",), {"notify"}),
        "withdrawal.requested": (("wallets",), {"payout"}),
        "withdrawal.succeeded": (("payout",), {"notify"}),
        "withdrawal.failed": (("payout", "sweep-sagas"), {"notify"}),
        "payment.partially_refunded": (("settle",), set()),
        "payment.refunded": (("settle",), set()),
        "refund.requested": (("payments",), {"debit-wallet"}),
        "refund.debited": (("debit-wallet",), {"settle"}),
        "refund.completed": (("settle",), {"notify"}),
        "refund.failed": (("debit-wallet", "settle", "sweep-sagas"), {"notify"}),
        "payment_request.created": (("payments",), {"notify"}),
        "payment_request.accepted": (("payments",), set()),
        "payment_request.paid": (("settle",), {"notify"}),
        "payment_request.reopened": (("score-fraud", "debit-wallet", "settle", "sweep-sagas"), {"notify"}),
        "payment_request.declined": (("payments",), {"notify"}),
        "payment_request.cancelled": (("payments",), {"notify"}),
        "payment_request.expired": (("sweep-sagas",), {"notify"}),
        "admin.action_taken": (("admin",), set()),
        "kyc.submitted": (("accounts",), {"verify-kyc"}),
        "kyc.verified": (("verify-kyc", "admin"), {"notify"}),
        "kyc.rejected": (("verify-kyc", "admin"), {"notify"}),
        "kyc.review": (("verify-kyc",), {"notify"}),
    }
    # THEN the catalogue says the same, and audit hears everything
    actual = {t: (info.producers, set(info.consumers) - {"audit"}) for t, info in CATALOGUE.items()}
    assert actual == expected
    assert all("audit" in consumers_of(t) for t in EVENT_TYPES)
    assert event_types_consumed_by("audit") == EVENT_TYPES


def test_lookups_by_function_agree_with_the_catalogue() -> None:
    assert event_types_consumed_by("score-fraud") == ("payment.requested",)
    assert event_types_consumed_by("settle") == ("payment.released", "payment.debited", "refund.debited")
    assert event_types_produced_by("settle") == (
        "payment.failed",
        "payment.completed",
        "payment.partially_refunded",
        "payment.refunded",
        "refund.completed",
        "refund.failed",
        "payment_request.paid",
        "payment_request.reopened",
    )
    assert event_types_produced_by("score-fraud") == (
        "payment.approved",
        "payment.held",
        "payment.declined",
        "payment.failed",
        "payment_request.reopened",
    )
    assert event_types_consumed_by("nobody") == ()


# --- every sample is a real event ------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_sample_is_a_valid_cloud_event_with_a_valid_payload(event_type: str) -> None:
    # GIVEN the committed sample
    raw = _sample(event_type)
    # WHEN it is parsed as a consumer would, envelope first and payload second
    envelope, payload = parse_cloud_event(raw)
    # THEN it is an event of that type (prefixed, as on the wire), from one of its producers,
    # about its own aggregate
    assert isinstance(envelope, CloudEventEnvelope)
    assert envelope.type == f"com.paystream.{event_type}" == wire_type(event_type)
    assert envelope.event_type == event_type
    assert type(payload) is CATALOGUE[event_type].payload_model
    assert envelope.source in {source_for(p) for p in CATALOGUE[event_type].producers}
    subject_field = SUBJECT_FIELD[event_type.split(".")[0]]
    assert envelope.subject == getattr(payload, subject_field)
    # Realistic ids: prefixed, as the platform issues them.
    assert re.match(r"^evt_[0-9a-f]{32}$", envelope.id)
    assert re.match(r"^(usr|fs|top|pay|cnv|wdr|ref|prq|adm|kyd|scr)_[0-9a-f]{32}$", envelope.subject)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_sample_is_exactly_what_a_producer_publishes(event_type: str) -> None:
    raw = _sample(event_type)
    rebuilt = new_cloud_event(
        event_type=short_type(raw["type"]),
        source_function=raw["source"].removeprefix("/paystream/"),
        subject=raw["subject"],
        data=parse_payload(event_type, raw["data"]),
        event_id=raw["id"],
        time=datetime.fromisoformat(raw["time"]),
        correlation_id=raw.get("correlationid"),
        traceparent=raw.get("traceparent"),
    )
    assert rebuilt == raw


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_dataschema_names_the_published_json_schema_of_the_payload(event_type: str) -> None:
    # GIVEN the sample and the committed JSON Schema of its payload model
    sample = _sample(event_type)
    model = CATALOGUE[event_type].payload_model
    schema = json.loads((JSON_SCHEMA_DIR / f"{model.__name__}.json").read_text(encoding="utf-8"))
    # THEN the event's dataschema is that file's published URI, and its data follows it
    assert sample["dataschema"] == f"{SCHEMA_BASE_URI}{model.__name__}.json" == schema["$id"]
    jsonschema.validate(sample["data"], schema)


def test_sample_amounts_are_integers_of_minor_units() -> None:
    for event_type in EVENT_TYPES:
        data = _sample(event_type)["data"]
        if "amount_minor" in data:
            assert type(data["amount_minor"]) is int and data["amount_minor"] > 0


def test_the_payment_samples_tell_one_consistent_story() -> None:
    # The happy-path samples follow one payment through the saga, so a reader can trace it.
    saga = ["payment.requested", "payment.approved", "payment.debited", "payment.completed"]
    samples = [_sample(t) for t in saga]
    assert len({s["data"]["payment_id"] for s in samples}) == 1
    assert len({s["data"]["amount_minor"] for s in samples}) == 1
    assert len({s["correlationid"] for s in samples}) == 1
    times = [s["time"] for s in samples]
    assert times == sorted(times)
    payment_id = samples[0]["data"]["payment_id"]
    assert _sample("payment.debited")["data"]["transfer_id"] == f"{payment_id}:debit"


# --- the README ------------------------------------------------------------------------------


def test_the_readme_table_is_generated_from_the_catalogue() -> None:
    current = EVENTS_README_PATH.read_text(encoding="utf-8")
    assert render_events_readme(current) == current, "events/README.md is out of date: run `python -m schemas.export`"
    assert render_table() in current


def test_the_readme_names_every_type_and_links_files_that_exist() -> None:
    readme = EVENTS_README_PATH.read_text(encoding="utf-8")
    for event_type in EVENT_TYPES:
        assert f"`{event_type}`" in readme
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        if link.startswith("http"):
            continue
        assert (EVENTS_README_PATH.parent / link).resolve().exists(), f"broken link: {link}"
