"""Fraud thresholds through `admin`'s HTTP binding: admins change them, auditors read them,
support neither; every change is validated and audited, and score-fraud applies it."""

from __future__ import annotations

import sqlalchemy as sa

from shared.adapters.tables import events
from tests.functions.test_admin import operators  # noqa: F401 (a fixture)

ROUTE = "/v1/admin/fraud-thresholds"


def test_admins_change_thresholds_auditors_read_them_support_does_neither(client_of, runtime, operators):  # noqa: F811
    admin = client_of("admin")
    # GIVEN the defaults from the settings
    read = admin.get(ROUTE, headers=operators["auditor"])
    assert read.status_code == 200
    body = read.get_json()
    assert body["thresholds"] == body["defaults"] and body["updated_at"] is None
    assert body["thresholds"]["review_above_usd"] == 10_000
    # WHEN support or an auditor tries to change one, THEN 403
    for role in ("support", "auditor", "user"):
        denied = admin.post(ROUTE, json={"review_points": 40}, headers=operators[role])
        assert denied.status_code == 403 and denied.get_json()["error"]["type"] == "authorization_error"
    assert admin.get(ROUTE, headers=operators["support"]).status_code == 403
    # WHEN an admin changes two
    changed = admin.post(
        ROUTE, json={"review_points": 40, "review_above_usd": 5_000, "reason": "tighter"}, headers=operators["admin"]
    )
    # THEN they are in force, the others and the defaults unchanged, and the change is audited
    assert changed.status_code == 200, changed.get_json()
    after = changed.get_json()
    assert after["thresholds"]["review_points"] == 40 and after["thresholds"]["review_above_usd"] == 5_000
    assert after["thresholds"]["decline_above_usd"] == 50_000 and after["defaults"]["review_points"] == 50
    assert after["updated_at"] is not None and after["updated_by"]
    assert admin.get(ROUTE, headers=operators["admin"]).get_json() == after
    with runtime.engine.connect() as conn:
        recorded = conn.execute(
            sa.select(events.c.data).where(events.c.type == "admin.action_taken").order_by(events.c.occurred_at)
        ).scalars().all()  # fmt: skip
    assert recorded[-1]["action"] == "fraud_thresholds.update" and recorded[-1]["reason"] == "tighter"
    assert recorded[-1]["details"] == {"review_above_usd": "10000 -> 5000", "review_points": "50 -> 40"}


def test_bad_threshold_changes_are_400s_and_change_nothing(client_of, runtime, operators):  # noqa: F811
    admin = client_of("admin")
    for body, code in (
        ({"review_above_usd": 60_000}, "fraud_thresholds_inconsistent"),  # above the decline limit
        ({"review_points": 0}, "fraud_thresholds_inconsistent"),
        ({"review_points": -1}, None),
        ({"review_points": "many"}, None),
        ({"no_such_threshold": 1}, None),
        ({}, None),
        ({"reason": "nothing named"}, None),
    ):
        answer = admin.post(ROUTE, json=body, headers=operators["admin"])
        assert answer.status_code == 400, (body, answer.get_json())
        assert answer.get_json()["error"]["type"] == "invalid_request_error"
        if code:
            assert answer.get_json()["error"]["code"] == code
    body = admin.get(ROUTE, headers=operators["admin"]).get_json()
    assert body["thresholds"] == body["defaults"]
