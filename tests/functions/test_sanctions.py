"""Sanctions screening through the real HTTP bindings: a sign-up that matches the list is
recorded on the user with `sanctions.matched`; a payment to that user is held by
score-fraud with `sanctions_match`; KYC screens the legal name; `paystream sanctions refresh`
replaces the list."""

from __future__ import annotations

import sqlalchemy as sa

from shared.adapters.tables import events, payment_reviews, payments, sanctions_entries, users
from shared.cli import main as cli_main
from shared.domain.sanctions import screening_key
from tests.functions.test_event_functions import _fund, _next_event, _post

PASSWORD = "a long enough password"


def _sign_up(client, email: str, full_name: str, country: str = "US") -> dict:
    answer = client.post(
        "/v1/users", json={"email": email, "password": PASSWORD, "full_name": full_name, "country": country}
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _auth(client, email: str) -> dict[str, str]:
    answer = client.post("/v1/oauth/token", data={"grant_type": "password", "username": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def _user(runtime, user_id: str):
    with runtime.engine.connect() as conn:
        return conn.execute(sa.select(users).where(users.c.id == user_id)).one()


def _matches(runtime, user_id: str) -> list[dict]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(sa.select(events.c.data).where(events.c.type == "sanctions.matched")).scalars()
        return [data for data in rows if data["user_id"] == user_id]


def test_a_sign_up_matching_the_list_is_recorded_and_payments_to_it_are_held(client_of, runtime):
    users_api, payments_api = client_of("users"), client_of("payments")
    # GIVEN an ordinary user, and one signing up as a listed person, accents and word order changed
    payer = _sign_up(users_api, "payer@example.com", "Alice Example")
    listed = _sign_up(users_api, "listed@example.com", "María José Morales Santos")
    # THEN only the listed one is recorded as a match, with an event naming the entry
    assert _user(runtime, payer["id"]).sanctions_matched_at is None and _matches(runtime, payer["id"]) == []
    row = _user(runtime, listed["id"])
    assert row.sanctions_matched_at is not None and "9640" in row.sanctions_match
    [event] = _matches(runtime, listed["id"])
    assert event["screened_at"] == "sign_up" and event["match_kind"] == "name" and event["entry_ids"] == [9640]
    # WHEN the ordinary user pays the listed one a small amount
    _fund(runtime, payer["id"], 10_000)
    answer = payments_api.post(
        "/v1/payments",
        json={"to": listed["id"], "amount": 500, "currency": "USD", "note": "x"},
        headers={**_auth(users_api, "payer@example.com"), "Idempotency-Key": "k1"},
    )
    assert answer.status_code == 202, answer.get_json()
    payment_id = answer.get_json()["id"]
    scored = _post(client_of("score-fraud"), _next_event(runtime, payment_id, "payment.requested"), "binary")
    assert scored.status_code == 200
    # THEN it is held for review with the sanctions reason; the payer sees a coarse reason only
    with runtime.engine.connect() as conn:
        assert conn.execute(sa.select(payments.c.status).where(payments.c.id == payment_id)).scalar_one() == "held"
        review = conn.execute(sa.select(payment_reviews).where(payment_reviews.c.payment_id == payment_id)).one()
    assert "sanctions_match" in review.reasons and review.review_reason == "compliance_check"
    seen = payments_api.get(f"/v1/payments/{payment_id}", headers=_auth(users_api, "payer@example.com")).get_json()
    assert seen["status"] == "held" and "sanctions" not in str(seen.get("review_reason"))


def test_a_payee_from_a_sanctioned_country_is_held_and_an_ordinary_payee_is_not(client_of, runtime):
    users_api, payments_api = client_of("users"), client_of("payments")
    payer = _sign_up(users_api, "p2@example.com", "Bob Example")
    ordinary = _sign_up(users_api, "o@example.com", "Carol Example")
    embargoed = _sign_up(users_api, "c@example.com", "Dan Example", country="CU")
    assert _matches(runtime, embargoed["id"])[0]["match_kind"] == "country"
    _fund(runtime, payer["id"], 10_000)
    statuses = {}
    for payee, key in ((ordinary, "a"), (embargoed, "b")):
        answer = payments_api.post(
            "/v1/payments",
            json={"to": payee["id"], "amount": 300, "currency": "USD", "note": "x"},
            headers={**_auth(users_api, "p2@example.com"), "Idempotency-Key": key},
        )
        payment_id = answer.get_json()["id"]
        _post(client_of("score-fraud"), _next_event(runtime, payment_id, "payment.requested"), "binary")
        with runtime.engine.connect() as conn:
            statuses[key] = conn.execute(sa.select(payments.c.status).where(payments.c.id == payment_id)).scalar_one()
    # An ordinary new user's first small payment to a new payee is approved; the embargoed one held.
    assert statuses == {"a": "pending", "b": "held"}


def test_kyc_screens_the_legal_name(client_of, runtime):
    users_api, accounts_api = client_of("users"), client_of("accounts")
    user = _sign_up(users_api, "k@example.com", "Ivan Example")
    assert _matches(runtime, user["id"]) == []
    answer = accounts_api.post(
        "/v1/kyc",
        json={
            "legal_name": "Ivan Petrovich KARDANOV",
            "date_of_birth": "1971-03-12",
            "address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
            "phone": "+15555550100",
        },
        headers=_auth(users_api, "k@example.com"),
    )
    assert answer.status_code == 200, answer.get_json()
    [event] = _matches(runtime, user["id"])
    assert event["screened_at"] == "kyc" and event["entry_ids"] == [7681]


def test_the_refresh_command_replaces_the_list(runtime, tmp_path, capsys):
    # GIVEN a list of one entry, in the SDN files' shape
    (tmp_path / "sdn.csv").write_text('1,"DOE, John Q",individual,"SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n')
    (tmp_path / "alt.csv").write_text('1,2,"aka","DOE, Johnny",-0- \n')
    (tmp_path / "countries.csv").write_text("program,country\n")
    # WHEN it is loaded
    assert cli_main(["sanctions", "refresh", "--from", str(tmp_path)]) == 0
    # THEN it replaces the bundled sample whole
    with runtime.engine.connect() as conn:
        keys = set(conn.execute(sa.select(sanctions_entries.c.name_key)).scalars())
    # (stored as digests of the names' normal forms, as users' screening keys are)
    assert keys == {screening_key("DOE, John Q"), screening_key("DOE, Johnny")}
    # AND a malformed list is refused, leaving the stored one
    (tmp_path / "sdn.csv").write_text("not,a,list\n")
    try:
        cli_main(["sanctions", "refresh", "--from", str(tmp_path)])
    except SystemExit as exit_:
        assert "unchanged" in str(exit_.code)
    with runtime.engine.connect() as conn:
        assert set(conn.execute(sa.select(sanctions_entries.c.name_key)).scalars()) == keys
