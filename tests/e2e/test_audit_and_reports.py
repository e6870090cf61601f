"""The audit trail, the archive and the reports end to end through `paystream up`, in both modes:
a payment's events reach the hash chain, an auditor reads them with their place in the chain and
verifies the chain, an admin archives the day (the export and the three reports in the archive
bucket, written once), and the reports show the payment."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime

import pytest

from tests.e2e.client import User, sign_up

pytestmark = pytest.mark.e2e

AUDIT_WAIT_SECONDS = 60
# Every event of a completed payment: requested, approved, debited, completed.
PAYMENT_EVENTS = 4


def _operator(platform_url: str, paystream_command, role: str) -> User:
    operator = sign_up(platform_url, role)
    done = paystream_command("users", "grant-role", operator.email, role)
    assert done.returncode == 0, done.stderr
    return operator


def _audited(auditor: User, entity_id: str, count: int) -> list[dict]:
    """The entity's audit records, once there are `count` of them (the audit function appends
    them as the events arrive)."""
    deadline = time.monotonic() + AUDIT_WAIT_SECONDS
    while True:
        answer = auditor.call("GET", f"/v1/admin/audit?entity_id={entity_id}&limit=100")
        assert answer.status_code == 200, answer.text
        records = answer.json()["data"]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def test_a_payment_is_audited_verified_archived_and_reported(platform_url, paystream_command):
    # GIVEN a completed payment of 12.34 USD
    payer, payee = sign_up(platform_url, "payer"), sign_up(platform_url, "payee")
    assert payer.top_up(payer.add_card(), 10_000).status_code == 201
    answer = payer.pay(payee.id, 1_234, note="=1+1 lunch")
    assert answer.status_code == 202, answer.text
    payment_id = answer.json()["id"]
    assert payer.wait_final(payment_id)["status"] == "completed"
    auditor = _operator(platform_url, paystream_command, "auditor")
    admin = _operator(platform_url, paystream_command, "admin")

    # WHEN an auditor reads the payment's audit records
    records = _audited(auditor, payment_id, PAYMENT_EVENTS)

    # THEN they are the saga's events, in chain order
    types = [record["event_type"].removeprefix("com.paystream.") for record in records]
    assert types == ["payment.requested", "payment.approved", "payment.debited", "payment.completed"], types
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
    # AND the chain verifies, whole and from the payment's first record on
    whole = auditor.call("GET", "/v1/admin/audit/verify").json()
    assert whole["ok"] and whole["checked"] >= PAYMENT_EVENTS and whole["head_seq"] >= records[-1]["seq"]
    part = auditor.call("GET", f"/v1/admin/audit/verify?from={records[0]['seq']}").json()
    assert part["ok"] and part["first_broken_seq"] is None

    # WHEN an admin archives today, twice
    today = datetime.now(UTC).date().isoformat()
    first = admin.call("POST", "/v1/admin/archive", json={"date": today})
    assert first.status_code == 200, first.text
    second = admin.call("POST", "/v1/admin/archive", json={"date": today}).json()

    # THEN the day's export and its three reports are in the archive bucket, the export holding
    # the payment's records, with the head hash; the reports of the same bytes are not rewritten
    objects = {obj["kind"]: obj for obj in first.json()["objects"]}
    assert set(objects) == {"audit", "daily-transactions", "large-transactions", "flagged-activity"}
    assert objects["audit"]["records"] >= PAYMENT_EVENTS and len(objects["audit"]["head_hash"]) == 64
    reports_again = [obj for obj in second["objects"] if obj["kind"] != "audit"]
    assert all(obj["written"] is False for obj in reports_again)
    stored = auditor.call("GET", f"/v1/admin/archive?date={today}")
    assert stored.status_code == 200 and len(stored.json()["objects"]) == 4

    # AND the daily report counts the payment, and an auditor reads it as CSV
    report = auditor.call("GET", f"/v1/admin/reports/daily-transactions?date={today}")
    assert report.status_code == 200 and report.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.text)))
    [payments] = [r for r in rows if (r["currency"], r["type"], r["status"]) == ("USD", "payment", "completed")]
    assert int(payments["count"]) >= 1 and int(payments["amount_minor"]) >= 1_234
    assert auditor.call("GET", f"/v1/admin/reports/flagged-activity?date={today}").status_code == 200
    assert auditor.call("GET", "/v1/admin/reports/nothing?date=" + today).status_code == 404
    assert auditor.call("GET", "/v1/admin/reports/daily-transactions?date=yesterday").status_code == 400
    # AND nobody without the role reads any of it
    assert payer.call("GET", f"/v1/admin/audit?entity_id={payment_id}").status_code == 403
