"""The audit trail and the reports through the functions' real bindings: an entity's records and
the chain's verification through `admin` (and `paystream audit verify`), the daily export by
`archive-audit`, the reconciliation by `reconcile`, and the three CSV reports."""

from __future__ import annotations

import csv
import gzip
import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from shared.adapters.archive_store import ArchiveStore, ArchiveStoreMissing
from shared.adapters.audit_chain import AuditChain, audit_table_definition, chain_hash
from shared.adapters.aws import aws_client
from shared.adapters.outbox import cloud_event_of
from shared.adapters.tables import events, flagged_activity, transactions
from shared.cli import main as cli_main
from shared.domain.audit_archive import archive_key
from shared.domain.reports import report_key
from shared.services.reconciliation import reconcile_day
from shared.topology import AUDIT_ARCHIVE_BUCKET, AUDIT_ARCHIVE_KEY_ALIAS, AUDIT_TABLE_NAME
from tests.functions.test_reviews import HELD_AMOUNT_MINOR, OPENING_BALANCE_MINOR, Desk

PAYMENT_MINOR = 1_500


@pytest.fixture
def desk(client_of, runtime) -> Desk:
    return Desk(client_of, runtime)


def _completed_payment(desk: Desk, amount: int = PAYMENT_MINOR) -> str:
    """A payment from `payer` to `payee`, through score-fraud, debit-wallet and settle."""
    payment_id = desk.pay("payer", amount)
    desk.deliver("debit-wallet", payment_id, "payment.approved")
    desk.deliver("settle", payment_id, "payment.debited")
    assert desk.payment("payer", payment_id)["status"] == "completed"
    return payment_id


def _stored_events(desk: Desk, subject: str) -> list[tuple[str, str]]:
    with desk.runtime.engine.connect() as conn:
        rows = conn.execute(
            sa.select(events.c.id, events.c.type)
            .where(events.c.subject == subject)
            .order_by(events.c.aggregate_sequence)
        ).all()
    return [(row.id, row.type) for row in rows]


def _audit_everything_about(desk: Desk, subject: str) -> None:
    for _, event_type in _stored_events(desk, subject):
        desk.deliver("audit", subject, event_type)


def _ping(desk: Desk, function: str) -> int:
    ping = CloudEvent(
        {
            "id": str(uuid.uuid4()),
            "type": "dev.knative.sources.ping",
            "source": f"/apis/v1/namespaces/paystream/pingsources/{function}",
        },
        {},
    )
    headers, body = to_binary(ping)
    return desk.client_of(function).post("/", headers=headers, data=body).status_code


def _dynamodb(runtime) -> Any:
    return aws_client("dynamodb", endpoint_url=runtime.settings.aws_endpoint_for("dynamodb"))


def _s3(runtime) -> Any:
    return aws_client("s3", endpoint_url=runtime.settings.aws_endpoint_for("s3"))


# --- an entity's records -------------------------------------------------------------------------


def test_an_auditor_reads_a_payments_records_with_their_place_in_the_chain_a_page_at_a_time(desk):
    # GIVEN a completed payment whose every event the audit function appended
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payment_id = _completed_payment(desk)
    _audit_everything_about(desk, payment_id)
    stored = _stored_events(desk, payment_id)

    # WHEN an auditor asks for the payment's records, two at a time
    pages, cursor = [], ""
    while True:
        answer = desk.admin.get(f"/v1/admin/audit?entity_id={payment_id}&limit=2{cursor}", headers=desk.auth("auditor"))
        assert answer.status_code == 200, answer.get_json()
        pages.append(answer.get_json())
        if not pages[-1]["has_more"]:
            break
        cursor = f"&starting_after={pages[-1]['data'][-1]['seq']}"

    # THEN they are the payment's events in order, each a sound link at its seq
    records = [record for page in pages for record in page["data"]]
    assert [record["event_id"] for record in records] == [event_id for event_id, _ in stored]
    assert [record["event_type"] for record in records] == [event_type for _, event_type in stored]
    assert [len(page["data"]) for page in pages] == [2, 2]
    seqs = [record["seq"] for record in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for record in records:
        assert record["hash"] == chain_hash(record["prev_hash"], record["event_json"])
        assert record["event"]["data"]["payment_id"] == payment_id
    # AND the payer's own records include the payment's; an admin reads them too; support may not
    payer = desk.admin.get(f"/v1/admin/audit?entity_id={desk.id('payer')}&limit=100", headers=desk.auth("admin"))
    assert {r["event_id"] for r in records} <= {r["event_id"] for r in payer.get_json()["data"]}
    refused = desk.admin.get(f"/v1/admin/audit?entity_id={payment_id}", headers=desk.auth("support"))
    assert refused.status_code == 403 and refused.get_json()["error"]["type"] == "authorization_error"
    missing = desk.admin.get("/v1/admin/audit", headers=desk.auth("auditor"))
    assert missing.status_code == 400 and missing.get_json()["error"]["param"] == "entity_id"


def test_a_reviews_decision_is_among_the_held_payments_records_with_its_reviewer(desk):
    # GIVEN a held payment that support declined, and every event about it audited
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payment_id = desk.pay("payer", HELD_AMOUNT_MINOR)
    assert desk.decide("support", payment_id, "decline", "could not reach the payer").status_code == 200
    _audit_everything_about(desk, payment_id)
    with desk.runtime.engine.connect() as conn:
        action = conn.execute(
            sa.select(events).where(events.c.type == "admin.action_taken").order_by(events.c.occurred_at.desc())
        ).first()
    assert action is not None
    desk.runtime.audit_chain.append(cloud_event_of(action))

    # WHEN an auditor reads the payment's records
    answer = desk.admin.get(f"/v1/admin/audit?entity_id={payment_id}", headers=desk.auth("auditor"))

    # THEN the decision is there, naming the reviewer, after the hold
    types = [record["event_type"].removeprefix("com.paystream.") for record in answer.get_json()["data"]]
    assert types[:2] == ["payment.requested", "payment.held"] and "admin.action_taken" in types
    decision = next(r for r in answer.get_json()["data"] if r["event_type"].endswith("admin.action_taken"))
    assert decision["event"]["data"]["actor_id"] == desk.id("support")


# --- verification ---------------------------------------------------------------------------------


def test_verify_passes_an_untouched_chain_and_names_a_tampered_record_by_route_and_command(desk, capsys):
    # GIVEN a chain holding a completed payment
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payment_id = _completed_payment(desk)
    _audit_everything_about(desk, payment_id)
    chain = desk.runtime.audit_chain
    untouched = desk.admin.get("/v1/admin/audit/verify", headers=desk.auth("auditor"))
    assert untouched.status_code == 200, untouched.get_json()
    head_seq = untouched.get_json()["head_seq"]
    assert untouched.get_json() | {"verified_at": None} == {
        "ok": True,
        "from_seq": 1,
        "to_seq": None,
        "checked": head_seq,
        "head_seq": head_seq,
        "head_hash": chain.head()[1],
        "first_broken_seq": None,
        "reason": None,
        "verified_at": None,
    }
    assert cli_main(["audit", "verify"]) == 0
    assert f"audit chain sound: {head_seq} records checked" in capsys.readouterr().out

    # WHEN the payment.debited record's amount is changed in the table
    [debited] = [r for r in chain.records_of_entity(payment_id, limit=10)[0] if r.event_type.endswith(".debited")]
    forged = debited.event_json.replace(f'"amount_minor":{PAYMENT_MINOR}', '"amount_minor":1')
    assert forged != debited.event_json
    dynamodb = _dynamodb(desk.runtime)
    key = {"pk": {"S": "record"}, "sk": {"N": str(debited.seq)}}

    def set_event(text: str) -> None:
        dynamodb.update_item(
            TableName=AUDIT_TABLE_NAME,
            Key=key,
            UpdateExpression="SET #event = :event",
            ExpressionAttributeNames={"#event": "event"},
            ExpressionAttributeValues={":event": {"S": text}},
        )

    set_event(forged)
    try:
        # THEN the route and the command name that record and what is wrong with it
        broken = desk.admin.get("/v1/admin/audit/verify", headers=desk.auth("admin")).get_json()
        assert (broken["ok"], broken["first_broken_seq"]) == (False, debited.seq)
        assert broken["reason"] == "its hash is not sha256(prev_hash + its event)"
        with pytest.raises(SystemExit) as failed:
            cli_main(["audit", "verify"])
        assert f"BROKEN at record {debited.seq}" in str(failed.value.code)
        # AND a part of the chain that ends before it, or starts after it, still verifies
        before = desk.admin.get(f"/v1/admin/audit/verify?to={debited.seq - 1}", headers=desk.auth("auditor"))
        assert before.get_json()["ok"] and before.get_json()["checked"] == debited.seq - 1
        assert cli_main(["audit", "verify", "--from", str(debited.seq + 1)]) == 0
    finally:
        # (the chain is the session's: put the record back for the other tests)
        set_event(debited.event_json)
    assert chain.verify().ok


@pytest.mark.parametrize("query", ["from=0", "from=x", "from=5&to=4", "to=-1", "since=1"])
def test_a_bad_range_to_verify_is_a_400(desk, query):
    answer = desk.admin.get(f"/v1/admin/audit/verify?{query}", headers=desk.auth("auditor"))
    assert answer.status_code == 400 and answer.get_json()["error"]["type"] == "invalid_request_error"


# --- the daily export ------------------------------------------------------------------------------


def _event_on(day: date, n: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": "com.paystream.user.signed_up",
        "source": "/paystream/users",
        "subject": f"usr_{uuid.uuid4().hex}",
        "time": f"{day.isoformat()}T{n:02d}:00:00Z",
        "datacontenttype": "application/json",
        "data": {"n": n},
    }


def test_a_days_export_is_gzipped_json_lines_with_the_head_hash_and_written_once(desk, capsys):
    # GIVEN three records of a day (a day no other test uses) and one of the next day
    day = date(2001, 1, 1) + timedelta(days=uuid.uuid4().int % 7000)
    chain = desk.runtime.audit_chain
    records = chain.append_all([_event_on(day, 1), _event_on(day, 2), _event_on(day + timedelta(days=1), 3)])
    records.append(chain.append(_event_on(day, 23)))

    # WHEN the day is exported twice
    assert cli_main(["audit", "archive", "--date", day.isoformat()]) == 0
    assert cli_main(["audit", "archive", "--date", day.isoformat()]) == 0
    out = capsys.readouterr().out

    # THEN the first run wrote it and the second found it there: one object, one version
    assert f"3 audit records of {day} written to" in out and f"3 audit records of {day} already in" in out
    s3 = _s3(desk.runtime)
    key = archive_key(day)
    versions = s3.list_object_versions(Bucket=AUDIT_ARCHIVE_BUCKET, Prefix=key).get("Versions", [])
    assert len(versions) == 1
    stored = s3.get_object(Bucket=AUDIT_ARCHIVE_BUCKET, Key=key)
    body = stored["Body"].read()
    # AND it is deterministic gzip (mtime 0), encrypted under the archive's key
    assert body[:2] == b"\x1f\x8b" and body[4:8] == b"\x00\x00\x00\x00"
    assert stored["ServerSideEncryption"] == "aws:kms"
    # AND its lines are the day's records in chain order, each checkable against its neighbour
    lines = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
    day_records = [records[0], records[1], records[3]]
    assert [line["seq"] for line in lines] == [record.seq for record in day_records]
    for line in lines:
        assert line["hash"] == chain_hash(line["prev_hash"], line["event"])
    # AND its metadata holds the chain's head hash as of the day's last record
    assert stored["Metadata"]["head-hash"] == records[3].hash
    assert stored["Metadata"]["records"] == "3" and stored["Metadata"]["last-seq"] == str(records[3].seq)


def test_the_scheduled_export_runs_on_its_ping_only(desk):
    assert _ping(desk, "archive-audit") == 200
    yesterday = datetime.now(UTC).date() - timedelta(days=2)
    listed = _s3(desk.runtime).list_objects_v2(Bucket=AUDIT_ARCHIVE_BUCKET, Prefix=archive_key(yesterday))
    assert listed.get("KeyCount", 0) == 1
    event = CloudEvent({"id": "1", "type": "com.paystream.user.signed_up", "source": "/paystream/users"}, {})
    headers, body = to_binary(event)
    assert desk.client_of("archive-audit").post("/", headers=headers, data=body).status_code == 422


# --- reconciliation ----------------------------------------------------------------------------------


@pytest.fixture
def own_chain(runtime) -> AuditChain:
    """An audit chain of this test only: the session's chain holds other tests' payments, which
    this test's database has never seen."""
    dynamodb = _dynamodb(runtime)
    table = f"audit-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(**audit_table_definition(table))
    return AuditChain(dynamodb, table)


def _audit_into(desk: Desk, chain: AuditChain, subject: str, *, leave_out: str | None = None) -> None:
    with desk.runtime.engine.connect() as conn:
        rows = conn.execute(sa.select(events).where(events.c.subject == subject)).all()
    chain.append_all([cloud_event_of(row) for row in rows if row.type != leave_out])


def test_a_sound_day_reconciles_and_each_difference_is_flagged_once(desk, own_chain):
    # GIVEN two completed payments of today, audited in this test's chain (the second without
    # its payment.completed record)
    desk.fund("payer", OPENING_BALANCE_MINOR)
    sound, unaudited = _completed_payment(desk), _completed_payment(desk, 2_000)
    _audit_into(desk, own_chain, sound)
    today = datetime.now(UTC).date()
    runtime = desk.runtime
    with runtime.engine.begin() as conn:
        only_sound = reconcile_day(conn, own_chain, today, now=datetime.now(UTC))
    assert only_sound.movements_checked == 2
    [missing] = only_sound.findings
    assert (missing.finding, missing.subject_id, missing.expected_minor) == ("audit_mismatch", unaudited, 2_000)
    _audit_into(desk, own_chain, unaudited)
    with runtime.engine.begin() as conn:
        assert reconcile_day(conn, own_chain, today, now=datetime.now(UTC)).ok

    # WHEN the history's payee row of the first payment is changed, and the day reconciled twice
    with runtime.engine.begin() as conn:
        conn.execute(
            transactions.update()
            .where(transactions.c.id == sound, transactions.c.direction == "credit")
            .values(amount_minor=1)
        )
    with runtime.engine.begin() as conn:
        first = reconcile_day(conn, own_chain, today, now=datetime.now(UTC))
    with runtime.engine.begin() as conn:
        second = reconcile_day(conn, own_chain, today, now=datetime.now(UTC))

    # THEN the difference is found each time, and flagged once
    assert [(f.finding, f.subject_id, f.expected_minor, f.actual_minor) for f in first.findings] == [
        ("projection_mismatch", sound, PAYMENT_MINOR, 1)
    ]
    assert (first.recorded, second.recorded, len(second.findings)) == (1, 0, 1)
    with runtime.engine.connect() as conn:
        flagged = conn.execute(sa.select(flagged_activity.c.finding, flagged_activity.c.subject_id)).all()
    assert sorted(flagged) == sorted([("audit_mismatch", unaudited), ("projection_mismatch", sound)])


def test_an_unbalanced_ledger_is_flagged_per_currency(desk, own_chain):
    # GIVEN money that appeared in a wallet without its other half (written around the ledger)
    desk.fund("payer", OPENING_BALANCE_MINOR)
    from shared.adapters.ledger_store import wallet_account_id
    from shared.adapters.tables import accounts

    with desk.runtime.engine.begin() as conn:
        conn.execute(
            accounts.update()
            .where(accounts.c.id == wallet_account_id(desk.id("payer"), "USD"))
            .values(credits_posted=accounts.c.credits_posted + 7)
        )
        found = reconcile_day(conn, own_chain, datetime.now(UTC).date(), now=datetime.now(UTC))
    assert [(f.finding, f.currency, f.actual_minor) for f in found.findings] == [("ledger_unbalanced", "USD", 7)]


def test_the_scheduled_reconciliation_stores_yesterdays_three_reports(desk):
    assert _ping(desk, "reconcile") == 200
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    s3 = _s3(desk.runtime)
    for kind in ("daily-transactions", "large-transactions", "flagged-activity"):
        stored = s3.get_object(Bucket=AUDIT_ARCHIVE_BUCKET, Key=report_key(kind, yesterday))
        assert stored["ServerSideEncryption"] == "aws:kms"
        assert stored["Body"].read().decode().startswith("date,")


# --- reports -----------------------------------------------------------------------------------------


def _report(desk: Desk, kind: str, day: date, who: str = "auditor") -> list[dict[str, str]]:
    answer = desk.admin.get(f"/v1/admin/reports/{kind}?date={day.isoformat()}", headers=desk.auth(who))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def test_the_daily_and_large_transaction_reports_count_each_transaction_once(desk, runtime, monkeypatch):
    # GIVEN payments of 15.00 and 20.00 USD today, and a reporting threshold of 18 USD
    monkeypatch.setenv("PAYSTREAM_REPORT_LARGE_TRANSACTION_USD", "18")
    from shared.bootstrap import platform, reset_platform

    reset_platform()
    desk.runtime = platform()
    desk.fund("payer", OPENING_BALANCE_MINOR)
    small, large = _completed_payment(desk), _completed_payment(desk, 2_000)
    today = datetime.now(UTC).date()

    # WHEN the reports of today are read
    daily = _report(desk, "daily-transactions", today)
    listed = _report(desk, "large-transactions", today, who="admin")

    # THEN the payments are summed once each (not once per party), and only the large one listed
    assert {
        "date": today.isoformat(),
        "currency": "USD",
        "type": "payment",
        "status": "completed",
        "count": "2",
        "amount_minor": "3500",
        "amount": "35.00",
    } in daily
    assert [(row["transaction_id"], row["usd_equivalent_minor"]) for row in listed] == [(large, "2000")]
    assert listed[0]["debited_user_id"] == desk.id("payer") and listed[0]["credited_user_id"] == desk.id("payee")
    assert small not in {row["transaction_id"] for row in listed}
    # AND another day has none
    assert _report(desk, "daily-transactions", today - timedelta(days=3)) == []


def test_flagged_activity_lists_holds_and_decisions_with_reviewer_ids_with_formula_cells_defused(desk):
    # GIVEN a held payment that support declined with a reason that a spreadsheet would run
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payment_id = desk.pay("payer", HELD_AMOUNT_MINOR)
    reason = '=HYPERLINK("http://example.com","click")'
    assert desk.decide("support", payment_id, "decline", reason).status_code == 200

    # WHEN the flagged-activity report of today is read
    rows = _report(desk, "flagged-activity", datetime.now(UTC).date())

    # THEN the hold and the decision are there, with the reviewer, and the reason cannot run
    by_kind = {row["kind"]: row for row in rows}
    assert by_kind["hold"]["subject_id"] == payment_id and by_kind["hold"]["amount_minor"] == str(HELD_AMOUNT_MINOR)
    decision = by_kind["review_decision"]
    assert (decision["status"], decision["decided_by"]) == ("declined", desk.id("support"))
    # Reports at rest name people by id, never by address (docs/security.md, "Data protection").
    assert "decided_by_email" not in decision
    assert decision["detail"] == "'" + reason


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/admin/reports/monthly-fun?date=2026-12-01", 404, "report_kind_unknown"),
        ("/v1/admin/reports/daily-transactions?date=2026-13-01", 400, "parameter_invalid"),
        ("/v1/admin/reports/daily-transactions?date=20261201", 400, "parameter_invalid"),
        ("/v1/admin/reports/daily-transactions", 400, "parameter_missing"),
    ],
)
def test_an_unknown_report_is_a_404_and_a_bad_date_a_400(desk, path, status, code):
    answer = desk.admin.get(path, headers=desk.auth("admin"))
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["error"]["code"] == code


def test_support_cannot_read_reports(desk):
    answer = desk.admin.get("/v1/admin/reports/daily-transactions?date=2026-12-01", headers=desk.auth("support"))
    assert answer.status_code == 403


# --- a day's archive on demand ---------------------------------------------------------------------


def test_an_admin_archives_a_day_now_once_and_an_auditor_reads_what_is_stored(desk):
    # GIVEN a completed payment of today, audited
    desk.fund("payer", OPENING_BALANCE_MINOR)
    payment_id = _completed_payment(desk)
    _audit_everything_about(desk, payment_id)
    today = datetime.now(UTC).date().isoformat()
    assert desk.admin.get(f"/v1/admin/archive?date={today}", headers=desk.auth("auditor")).status_code in (200, 404)

    # WHEN an admin archives today twice
    first = desk.admin.post("/v1/admin/archive", json={"date": today}, headers=desk.auth("admin"))
    assert first.status_code == 200, first.get_json()
    desk.deliver("audit", payment_id, "payment.completed")  # a redelivery: the chain is unchanged
    second = desk.admin.post("/v1/admin/archive", json={"date": today}, headers=desk.auth("admin")).get_json()

    # THEN the export and the three reports are stored; the second time nothing is rewritten
    kinds = [obj["kind"] for obj in first.get_json()["objects"]]
    assert kinds == ["audit", "daily-transactions", "large-transactions", "flagged-activity"]
    assert all(obj["written"] is False for obj in second["objects"])
    audit_export = second["objects"][0]
    assert audit_export["records"] >= 4 and len(audit_export["head_hash"]) == 64
    stored = _s3(desk.runtime).get_object(Bucket=AUDIT_ARCHIVE_BUCKET, Key=audit_export["key"])
    assert stored["Metadata"]["sha256"] == audit_export["sha256"]
    # AND an auditor reads the same, and may not archive; a bad date is a 400, a day with nothing a 404
    read = desk.admin.get(f"/v1/admin/archive?date={today}", headers=desk.auth("auditor")).get_json()
    assert [(o["key"], o["sha256"]) for o in read["objects"]] == [(o["key"], o["sha256"]) for o in second["objects"]]
    assert desk.admin.post("/v1/admin/archive", json={"date": today}, headers=desk.auth("auditor")).status_code == 403
    bad = desk.admin.post("/v1/admin/archive", json={"date": "05/12/2026"}, headers=desk.auth("admin"))
    assert bad.status_code == 400 and bad.get_json()["error"]["param"] == "date"
    assert desk.admin.get("/v1/admin/archive?date=1990-01-01", headers=desk.auth("admin")).status_code == 404
    # AND the action is in the audit trail with its actor
    with desk.runtime.engine.connect() as conn:
        actions = [
            data
            for data in conn.execute(sa.select(events.c.data).where(events.c.type == "admin.action_taken")).scalars()
            if data["action"] == "archive.write"
        ]
    assert len(actions) == 2 and actions[0]["actor_id"] == desk.id("admin")


def test_a_top_up_reconciles_once_audited_and_is_flagged_until_then(desk, own_chain):
    # GIVEN a card top-up of 50.00 USD through the functions, not yet in this test's chain
    card = desk.client_of("accounts").post(
        "/v1/funding-sources",
        json={"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
        headers=desk.auth("payer"),
    )
    assert card.status_code == 201, card.get_json()
    topup = desk.client_of("wallets").post(
        "/v1/topups",
        json={"funding_source_id": card.get_json()["id"], "amount": 5_000, "currency": "USD"},
        headers={**desk.auth("payer"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert topup.status_code == 201, topup.get_json()
    topup_id = topup.get_json()["id"]
    today = datetime.now(UTC).date()

    # WHEN the day is reconciled before and after its event is audited
    with desk.runtime.engine.begin() as conn:
        before = reconcile_day(conn, own_chain, today, now=datetime.now(UTC))
    _audit_into(desk, own_chain, topup_id)
    with desk.runtime.engine.begin() as conn:
        after = reconcile_day(conn, own_chain, today, now=datetime.now(UTC))

    # THEN the missing record is the one difference, and none is left once it is there
    assert [(f.finding, f.subject_id, f.expected_minor) for f in before.findings] == [
        ("audit_mismatch", topup_id, 5_000)
    ]
    assert after.ok and after.movements_checked == 1


def test_a_missing_archive_key_or_bucket_fails_loudly_and_names_the_setting(runtime):
    def client(service: str):
        return aws_client(service, endpoint_url=runtime.settings.aws_endpoint_url)

    no_key = ArchiveStore(client, bucket=AUDIT_ARCHIVE_BUCKET, key_id="alias/paystream-no-such-key")
    with pytest.raises(ArchiveStoreMissing, match="alias/paystream-no-such-key.*PAYSTREAM_AUDIT_ARCHIVE_KMS_KEY_ID"):
        no_key.put("audit/x", b"{}", content_type="application/json")
    no_bucket = ArchiveStore(client, bucket="paystream-no-such-bucket", key_id=AUDIT_ARCHIVE_KEY_ALIAS)
    with pytest.raises(ArchiveStoreMissing, match="paystream-no-such-bucket.*PAYSTREAM_AUDIT_ARCHIVE_BUCKET"):
        no_bucket.put("audit/x", b"{}", content_type="application/json")
    # Nothing was written on the way: the bucket reads back empty at that key.
    assert ArchiveStore(client, bucket=AUDIT_ARCHIVE_BUCKET, key_id=AUDIT_ARCHIVE_KEY_ALIAS).get("audit/x") is None
