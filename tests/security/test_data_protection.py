"""Personal data at rest: encrypted in the application under per-user keys, exported whole to its
owner, and erased by crypto-shredding (docs/security.md, "Data protection").

The flow is a realistic one, through every function's real binding, each recorded event handed
to each of its consumers as the bus would: sign-up, a card and a top-up, KYC, a payment by
e-mail address, a request for money, a refund, notifications and the audit trail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from shared.adapters.kyc_documents import DocumentStoreMissing
from shared.adapters.outbox import cloud_event_of
from shared.adapters.tables import (
    email_verifications,
    events,
    kyc_documents,
    metadata,
    mfa_recovery_codes,
    password_resets,
    personal_data_keys,
    users,
)
from shared.privacy import RETENTION
from shared.services.people import DELETED_USER_NAME
from shared.services.personal_data import shred_expired
from shared.topology import consumers_of
from tests.fixtures.idempotency import fresh_key
from tests.fixtures.keys import signed_access_token
from tests.fixtures.mail import reset_token, verify_email_over_http

PASSWORD = "plum-Harbour-7-lantern"
ALICE = {"email": "alice.liddell@example.com", "full_name": "Alice Liddell"}
BOB = {"email": "bob.builder@example.net", "full_name": "Bob Builder"}
LEGAL_NAME = "Alice Pleasance Liddell"
PHONE = "+447700900456"
DOCUMENT_NUMBER = "P98765432"
CARD = {"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
# Rounds of handing recorded events to their consumers: each round may record the next events.
DELIVERY_ROUNDS_MAX = 12


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))


class Platform:
    """The functions as a client and the bus reach them."""

    def __init__(self, client_of, runtime) -> None:
        self.client_of = client_of
        self.runtime = runtime
        self.delivered: set[str] = set()

    def sign_up(self, person: dict[str, str]) -> tuple[str, dict[str, str]]:
        users_function = self.client_of("users")
        answer = users_function.post("/v1/users", json={**person, "password": PASSWORD, "country": "US"})
        assert answer.status_code == 201, answer.get_data(as_text=True)
        token = users_function.post(
            "/v1/oauth/token", data={"grant_type": "password", "username": person["email"], "password": PASSWORD}
        )
        assert token.status_code == 200, token.get_data(as_text=True)
        return answer.get_json()["id"], {"Authorization": f"Bearer {token.get_json()['access_token']}"}

    def call(self, function: str, method: str, path: str, headers: dict[str, str], **kwargs: Any):
        return self.client_of(function).open(path, method=method, headers={**headers, **fresh_key()}, **kwargs)

    def deliver_everything(self) -> None:
        """Hand every recorded event to each of its consumers, until none is left."""
        for _ in range(DELIVERY_ROUNDS_MAX):
            with self.runtime.engine.connect() as conn:
                rows = [
                    row
                    for row in conn.execute(sa.select(events).order_by(events.c.occurred_at))
                    if row.id not in self.delivered
                ]
            if not rows:
                return
            for row in rows:
                self.delivered.add(row.id)
                structured = cloud_event_of(row)
                data = structured.pop("data")
                for consumer in consumers_of(row.type):
                    headers, body = to_binary(CloudEvent(structured, data))
                    answer = self.client_of(consumer).post("/", headers=headers, data=body)
                    assert answer.status_code == 200, (consumer, row.type, answer.get_data(as_text=True))
        raise AssertionError(f"events still recorded after {DELIVERY_ROUNDS_MAX} rounds")

    def balance(self, headers: dict[str, str]) -> int:
        wallets = self.client_of("wallets").get("/v1/wallets", headers=headers).get_json()["data"]
        return sum(wallet["available"] + wallet["pending"] for wallet in wallets)


@pytest.fixture
def platform(client_of, runtime) -> Platform:
    return Platform(client_of, runtime)


def _realistic_flow(platform: Platform) -> dict[str, Any]:
    """Alice and Bob sign up; Alice links a card, tops up, submits her KYC and a document, pays
    Bob by address; Bob asks her for money and refunds part of her payment."""
    alice_id, alice = platform.sign_up(ALICE)
    bob_id, bob = platform.sign_up(BOB)
    card = platform.call("accounts", "POST", "/v1/funding-sources", alice, json=CARD)
    assert card.status_code == 201, card.get_data(as_text=True)
    topup = platform.call(
        "wallets",
        "POST",
        "/v1/topups",
        alice,
        json={"funding_source_id": card.get_json()["id"], "amount": 10_000, "currency": "USD"},
    )
    assert topup.status_code == 201, topup.get_data(as_text=True)
    profile = {
        "legal_name": LEGAL_NAME,
        "date_of_birth": "1990-05-04",
        "address": {"line1": "7 Wonderland Lane", "city": "Oxford", "postal_code": "OX1 1AA", "country": "GB"},
        "phone": PHONE,
    }
    assert platform.call("accounts", "POST", "/v1/kyc", alice, json=profile).status_code == 200
    document = {
        "document_type": "passport",
        "document_number": DOCUMENT_NUMBER,
        "issuing_country": "GB",
        "expiry_date": (date.today() + timedelta(days=3 * 365)).isoformat(),
        "content_type": "image/png",
        "file": base64.b64encode(_png()).decode(),
    }
    uploaded = platform.call("accounts", "POST", "/v1/kyc/documents", alice, json=document)
    assert uploaded.status_code == 202, uploaded.get_data(as_text=True)
    payment = platform.call(
        "payments",
        "POST",
        "/v1/payments",
        alice,
        json={"to": BOB["email"], "amount": 2_500, "currency": "USD", "note": "tea"},
    )
    assert payment.status_code == 202, payment.get_data(as_text=True)
    requested = platform.call(
        "payments",
        "POST",
        "/v1/payment-requests",
        bob,
        json={"from": ALICE["email"], "amount": 500, "currency": "USD", "note": "cake"},
    )
    assert requested.status_code == 201, requested.get_data(as_text=True)
    platform.deliver_everything()
    payment_id = payment.get_json()["id"]
    refund = platform.call("payments", "POST", f"/v1/payments/{payment_id}/refunds", bob, json={"amount": 1_000})
    assert refund.status_code == 202, refund.get_data(as_text=True)
    platform.deliver_everything()
    assert platform.client_of("payments").get(f"/v1/payments/{payment_id}", headers=alice).get_json()["status"] == (
        "partially_refunded"
    )
    return {
        "alice_id": alice_id,
        "alice": alice,
        "bob_id": bob_id,
        "bob": bob,
        "payment_id": payment_id,
        "request_id": requested.get_json()["id"],
    }


def _personal_values() -> list[str]:
    """What must never be stored in clear: addresses, names (in any case) and the KYC details."""
    return [ALICE["email"], BOB["email"], ALICE["full_name"], BOB["full_name"], LEGAL_NAME, PHONE, DOCUMENT_NUMBER,
            "Liddell", "Builder", "Wonderland"]  # fmt: skip


def _text_of(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _found_in_clear(runtime) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text, JSON or binary cell of every table that holds a
    personal value, compared case-insensitively."""
    needles = [value.casefold() for value in _personal_values()]
    found: list[tuple[str, str, str]] = []
    with runtime.engine.connect() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, sa.String | sa.Text | sa.JSON | sa.LargeBinary)]
            if not columns:
                continue
            for row in conn.execute(sa.select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text = _text_of(value).casefold()
                    found.extend((table.name, column.name, needle) for needle in needles if needle in text)
    return found


def test_no_test_users_email_name_or_kyc_detail_is_stored_in_clear_anywhere(platform, runtime):
    # GIVEN a realistic flow: sign-up, funding, KYC, a payment by address, a request, a refund,
    # their notifications and audit records
    flow = _realistic_flow(platform)
    # THEN no text, JSON or binary column of any table holds an address, a name or a KYC detail
    assert _found_in_clear(runtime) == []
    # AND what is stored is sealed, and found by the blind index
    with runtime.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == flow["alice_id"])).one()
    assert row.email_encrypted.startswith("pd1:") and row.full_name_encrypted.startswith("pd1:")
    assert row.email_index == runtime.email_index.email("ALICE.Liddell@example.com")
    # AND the people still read their own names and their counterparties' in their notifications
    notes = platform.client_of("notifications").get("/v1/notifications", headers=flow["bob"]).get_json()["data"]
    assert any("Alice Liddell" in note["body"] for note in notes)


def test_the_export_holds_everything_about_the_caller_opened(platform, runtime):
    # GIVEN the realistic flow, after which Alice verifies her address
    flow = _realistic_flow(platform)
    verify_email_over_http(
        platform.client_of("users"), runtime.settings.mail_outbox_file, ALICE["email"], flow["alice"]
    )
    # WHEN Alice exports her data
    answer = platform.client_of("users").get("/v1/users/me/export", headers=flow["alice"])
    # THEN it holds her profile, her masked card, her wallet, her history, her notifications,
    # her sessions and her KYC, opened
    assert answer.status_code == 200, answer.get_data(as_text=True)
    exported = answer.get_json()
    assert exported["profile"]["email"] == ALICE["email"] and exported["profile"]["full_name"] == ALICE["full_name"]
    assert exported["profile"]["email_verified"] is True and exported["profile"]["mfa_enabled"] is False
    assert [(s["type"], s["last4"]) for s in exported["funding_sources"]] == [("card", "4242")]
    assert "number" not in json.dumps(exported["funding_sources"])
    assert {wallet["currency"] for wallet in exported["wallets"]} == {"USD"}
    assert {t["type"] for t in exported["transactions"]} >= {"topup", "payment", "refund"}
    assert any("Bob Builder" in note["body"] for note in exported["notifications"])
    assert len(exported["sessions"]) == 1 and exported["sessions"][0]["current"] is True
    assert exported["kyc"]["profile"]["legal_name"] == LEGAL_NAME
    assert exported["kyc"]["documents"][0]["number_last4"] == DOCUMENT_NUMBER[-4:]
    # AND it is another person's business only through what they already see: Bob's export
    # names Alice in his notifications, not her address
    bobs = platform.client_of("users").get("/v1/users/me/export", headers=flow["bob"]).get_json()
    assert ALICE["email"] not in json.dumps(bobs)


def test_a_remaining_balance_is_a_409_that_says_so(platform):
    # GIVEN Alice, who holds money
    flow = _realistic_flow(platform)
    # WHEN she asks to be erased
    answer = platform.client_of("users").delete("/v1/users/me", headers=flow["alice"])
    # THEN the answer is a 409 `balance_remaining` naming the currency, and nothing changed
    assert answer.status_code == 409
    error = answer.get_json()["error"]
    assert error["code"] == "balance_remaining" and "USD" in error["message"]
    assert platform.client_of("users").get("/v1/users/me", headers=flow["alice"]).status_code == 200


def _withdraw_everything(platform: Platform, headers: dict[str, str]) -> None:
    bank = platform.call(
        "accounts",
        "POST",
        "/v1/funding-sources",
        headers,
        json={"type": "bank_account", "routing_number": "110000000", "account_number": "000123456789"},
    )
    assert bank.status_code == 201, bank.get_data(as_text=True)
    amount = platform.balance(headers)
    answer = platform.call(
        "wallets",
        "POST",
        "/v1/withdrawals",
        headers,
        json={"funding_source_id": bank.get_json()["id"], "amount": amount, "currency": "USD"},
    )
    assert answer.status_code == 202, answer.get_data(as_text=True)
    platform.deliver_everything()
    assert platform.balance(headers) == 0


def test_after_erasure_nothing_can_be_recovered_the_tokens_stop_and_the_ledger_still_balances(platform, runtime):
    # GIVEN the realistic flow, and Bob, who withdrew everything he held
    flow = _realistic_flow(platform)
    _withdraw_everything(platform, flow["bob"])
    users_function = platform.client_of("users")
    # WHEN Bob erases his account
    answer = users_function.delete("/v1/users/me", headers=flow["bob"])
    # THEN it is closed, and the records the law requires stay until the retention period ends
    assert answer.status_code == 200, answer.get_data(as_text=True)
    erased = answer.get_json()
    assert erased["status"] == "erased" and erased["id"] == flow["bob_id"]
    # AND his access token is refused at once, everywhere, and he cannot sign in again
    assert users_function.get("/v1/users/me", headers=flow["bob"]).status_code == 401
    assert platform.client_of("wallets").get("/v1/wallets", headers=flow["bob"]).status_code == 401
    signed_in = users_function.post(
        "/v1/oauth/token", data={"grant_type": "password", "username": BOB["email"], "password": PASSWORD}
    )
    assert signed_in.status_code == 401
    # AND his personal data key is gone, so nothing sealed under it opens again, in any process
    runtime.privacy.forget_cached()
    with runtime.engine.connect() as conn:
        keys = {
            row.purpose: row
            for row in conn.execute(sa.select(personal_data_keys).where(personal_data_keys.c.user_id == flow["bob_id"]))
        }
        assert keys["personal"].wrapped_key is None and keys["personal"].destroyed_at is not None
        assert runtime.privacy.key(conn, flow["bob_id"]) is None
    # AND no table holds his address or his name
    assert [
        hit for hit in _found_in_clear(runtime) if hit[2] in ("bob.builder@example.net", "bob builder", "builder")
    ] == []
    # AND Alice's history and notifications show a deleted user where Bob was
    notes = platform.client_of("notifications").get("/v1/notifications", headers=flow["alice"]).get_json()["data"]
    bodies = " ".join(note["body"] for note in notes)
    assert DELETED_USER_NAME in bodies and "Bob Builder" not in bodies
    # AND a payment to his address or his id finds no one
    pay = platform.call(
        "payments",
        "POST",
        "/v1/payments",
        flow["alice"],
        json={"to": BOB["email"], "amount": 1, "currency": "USD", "note": ""},
    )
    assert pay.status_code == 404
    # AND his open request for money is cancelled: nobody pays a closed account
    request = platform.client_of("payments").get(f"/v1/payment-requests/{flow['request_id']}", headers=flow["alice"])
    assert request.get_json()["status"] == "cancelled"
    # AND the ledger still balances: every currency sums to zero, every account within its floor
    with runtime.engine.connect() as conn:
        runtime.ledger.check_invariants(conn)
    # AND the address is free again: someone may sign up with it
    assert platform.sign_up(BOB)[0] != flow["bob_id"]


def test_the_retention_key_is_destroyed_once_its_period_ends(platform, runtime):
    # GIVEN Alice, verified, who withdrew everything and erased her account
    flow = _realistic_flow(platform)
    _withdraw_everything(platform, flow["alice"])
    assert platform.client_of("users").delete("/v1/users/me", headers=flow["alice"]).status_code == 200
    with runtime.engine.connect() as conn:
        kept_until = conn.execute(
            sa.select(personal_data_keys.c.shred_after).where(
                personal_data_keys.c.user_id == flow["alice_id"], personal_data_keys.c.purpose == RETENTION
            )
        ).scalar_one()
    with runtime.engine.connect() as conn:
        (document_key,) = conn.execute(
            sa.select(kyc_documents.c.object_key).where(kyc_documents.c.user_id == flow["alice_id"])
        ).scalars()
    # THEN her KYC records and document stay for the retention period (5 years by default)
    assert kept_until.replace(tzinfo=UTC) - datetime.now(UTC) > timedelta(days=5 * 365 - 1)
    with runtime.engine.begin() as conn:
        assert _shred(runtime, conn, datetime.now(UTC)) == []
        assert runtime.privacy.key(conn, flow["alice_id"], RETENTION) is not None
    assert runtime.kyc_documents.get(document_key).data
    # WHEN the period has ended and the sweep runs
    with runtime.engine.begin() as conn:
        assert _shred(runtime, conn, kept_until + timedelta(seconds=1)) == [flow["alice_id"]]
    # THEN the retention key is gone too, and the document's file with it
    runtime.privacy.forget_cached()
    with runtime.engine.connect() as conn:
        assert runtime.privacy.key(conn, flow["alice_id"], RETENTION) is None
    with pytest.raises(DocumentStoreMissing):
        runtime.kyc_documents.get(document_key)


def _shred(runtime, conn, now: datetime) -> list[str]:
    return shred_expired(conn, privacy=runtime.privacy, documents=runtime.kyc_documents, now=now)


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("support", 403), ("auditor", 403), (None, 403)])
def test_only_an_admin_may_erase_an_account_and_the_audit_trail_names_the_admin(platform, runtime, role, status):
    # GIVEN a user with nothing in their wallet, and a caller of `role`
    target_id, target = platform.sign_up(BOB)
    actor_id, _ = platform.sign_up(ALICE)
    token = signed_access_token(runtime, actor_id, roles=[role] if role else [])
    if role is not None:
        with runtime.engine.begin() as conn:
            from shared.services import operators
            from shared.services.context import EventContext

            operators.grant_role(
                conn, user_id=actor_id, role=role, actor_id=operators.CLI_ACTOR,
                context=EventContext(producer="admin", now=datetime.now(UTC), correlation_id=None),
            )  # fmt: skip
    # WHEN they erase the user
    answer = platform.client_of("admin").post(
        f"/v1/admin/users/{target_id}/erase",
        headers={"Authorization": f"Bearer {token}"},
        json={"reason": "data subject request 42"},
    )
    # THEN only an admin may, and then the user's tokens are refused at once
    assert answer.status_code == status, answer.get_data(as_text=True)
    if status != 200:
        return
    assert platform.client_of("users").get("/v1/users/me", headers=target).status_code == 401
    # AND the audit trail records the erasure with the admin's id and the user's, ids only
    with runtime.engine.connect() as conn:
        recorded = [
            row.data for row in conn.execute(sa.select(events).where(events.c.type == "admin.action_taken"))
            if row.data["action"] == "user.erase"
        ]  # fmt: skip
    assert [(r["actor_id"], r["target_id"]) for r in recorded] == [(actor_id, target_id)]
    assert BOB["email"] not in json.dumps(recorded) and BOB["full_name"] not in json.dumps(recorded)
    # AND erasing it again finds no open account
    again = platform.client_of("admin").post(
        f"/v1/admin/users/{target_id}/erase", headers={"Authorization": f"Bearer {token}"}, json={"reason": "again"}
    )
    assert again.status_code == 404


def test_a_sealed_value_moved_to_another_user_does_not_open(runtime):
    # GIVEN two users' keys and a value sealed for the first
    now = datetime.now(UTC)
    with runtime.engine.begin() as conn:
        for user_id in ("usr_a", "usr_b"):
            runtime.privacy.create_keys(conn, user_id, now=now)
        sealed = runtime.privacy.seal(conn, "usr_a", "email", "a@example.com")
        # THEN it opens for its owner and field only
        assert runtime.privacy.open(conn, "usr_a", "email", sealed) == "a@example.com"
        from shared.privacy import PersonalDataError

        with pytest.raises(PersonalDataError):
            runtime.privacy.open(conn, "usr_b", "email", sealed)
        with pytest.raises(PersonalDataError):
            runtime.privacy.open(conn, "usr_a", "full_name", sealed)


def test_a_failed_sign_in_is_a_security_event_with_the_client_address_and_no_address_of_the_user(platform, caplog):
    # GIVEN a user
    platform.sign_up(ALICE)
    # WHEN someone signs in with a wrong password from 203.0.113.9 (as the gateway names it)
    with caplog.at_level("WARNING", logger="paystream.security"):
        answer = platform.client_of("users").post(
            "/v1/oauth/token",
            data={"grant_type": "password", "username": ALICE["email"], "password": "wrong-Password-99"},
            headers={"X-Real-IP": "203.0.113.9"},
        )
    # THEN it is refused, and the security event names the client's address, never the e-mail's
    assert answer.status_code == 401
    (record,) = [r for r in caplog.records if r.name == "paystream.security"]
    assert record.client_ip == "203.0.113.9"
    assert ALICE["email"] not in record.getMessage()


def test_an_erasure_deletes_the_second_factor_and_the_codes_and_resets_of_the_account(platform, runtime):
    # GIVEN Carol, who has not verified her address yet, has the second factor on, and asked for a
    # password reset (e-mailed to her address, opened from its seal)
    carol = {"email": "carol.danvers@example.org", "full_name": "Carol Danvers"}
    carol_id, carol_auth = platform.sign_up(carol)
    users_function = platform.client_of("users")
    enrolment = users_function.post("/v1/users/me/mfa", headers=carol_auth)
    assert enrolment.status_code == 200 and carol["email"] in enrolment.get_json()["otpauth_uri"].replace("%40", "@")
    code = pyotp.TOTP(enrolment.get_json()["secret"]).now()
    confirmed = users_function.post("/v1/users/me/mfa/confirm", json={"code": code}, headers=carol_auth)
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    assert users_function.post("/v1/users/password-reset", json={"email": carol["email"].upper()}).status_code == 202
    token = reset_token(runtime.settings.mail_outbox_file, carol["email"])
    with runtime.engine.connect() as conn:
        index = conn.execute(sa.select(users.c.email_index).where(users.c.id == carol_id)).scalar_one()
        assert conn.execute(sa.select(password_resets.c.email_digest)).scalars().all() == [index]
    # WHEN she erases her account
    assert users_function.delete("/v1/users/me", headers=carol_auth).status_code == 200
    # THEN the factor's secret, its recovery codes, her verification code and her resets are gone
    with runtime.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == carol_id)).one()
        assert (row.mfa_secret, row.mfa_enabled_at) == (None, None)
        for table in (mfa_recovery_codes, email_verifications, password_resets):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0, table.name
    # AND the reset link no longer works
    confirm = users_function.post(
        "/v1/users/password-reset/confirm", json={"token": token, "new_password": "a fresh long passphrase"}
    )
    assert (confirm.status_code, confirm.get_json()["error"]["code"]) == (400, "invalid_reset_token")


def test_the_sign_in_backoff_counts_an_account_by_its_blind_index_never_by_its_address(platform, runtime):
    # GIVEN a user
    platform.sign_up(ALICE)
    # WHEN someone signs in with a wrong password
    answer = platform.client_of("users").post(
        "/v1/oauth/token", data={"grant_type": "password", "username": ALICE["email"], "password": "wrong-Password-9"}
    )
    assert answer.status_code == 401
    # THEN the cache's counts name no digest of the address that anyone could compute from it
    keys = " ".join(str(key) for key in runtime.redis.keys("*sign-in*"))
    assert "failures" in keys
    assert hashlib.sha256(ALICE["email"].encode()).hexdigest()[:32] not in keys
    assert ALICE["email"] not in keys
