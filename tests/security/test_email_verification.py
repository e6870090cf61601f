"""E-mail verification: a new address gets a 6-digit code by e-mail (read from the local mail
outbox); until it is verified, the account sends at most 100 USD in all."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from shared.adapters.tables import email_verifications
from shared.cli import main
from tests.fixtures.idempotency import fresh_key
from tests.fixtures.mail import verification_code, verify_email_over_http
from tests.security.sessions_support import sign_in, sign_up


def _error(answer):
    return answer.status_code, answer.get_json()["error"]["code"]


def test_a_new_address_is_verified_with_the_emailed_code(client_of, runtime):
    # GIVEN a new user
    users = client_of("users")
    sign_up(users, "vera@example.com")
    session = sign_in(users, "vera@example.com")
    outbox = runtime.settings.mail_outbox_file
    # THEN they are not verified, and a code was e-mailed (stored only as a keyed digest)
    assert users.get("/v1/users/me", headers=session.auth).get_json()["email_verified"] is False
    code = verification_code(outbox, "vera@example.com")
    with runtime.engine.connect() as conn:
        digest = conn.execute(sa.select(email_verifications.c.code_digest)).scalar_one()
    assert code not in digest
    # WHEN a wrong code is sent: 400, counted
    wrong = users.post(
        "/v1/users/me/email/verify", json={"code": "000000" if code != "000000" else "111111"}, headers=session.auth
    )
    assert _error(wrong) == (400, "invalid_verification_code")
    # WHEN the right one is sent: verified
    right = users.post("/v1/users/me/email/verify", json={"code": code}, headers=session.auth)
    assert right.status_code == 200 and right.get_json()["email_verified"] is True
    # AND a second time is a 409, as is asking for a new code
    assert _error(users.post("/v1/users/me/email/verify", json={"code": code}, headers=session.auth)) == (
        409,
        "email_already_verified",
    )
    assert _error(users.post("/v1/users/me/email/verification-code", headers=session.auth)) == (
        409,
        "email_already_verified",
    )


def test_five_wrong_tries_spend_the_code_and_a_new_one_is_throttled(client_of, runtime):
    users = client_of("users")
    sign_up(users, "wes@example.com")
    session = sign_in(users, "wes@example.com")
    code = verification_code(runtime.settings.mail_outbox_file, "wes@example.com")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        users.post("/v1/users/me/email/verify", json={"code": wrong}, headers=session.auth)
    # THEN even the right code no longer works
    spent = users.post("/v1/users/me/email/verify", json={"code": code}, headers=session.auth)
    assert _error(spent) == (400, "verification_code_expired")
    # AND a new code cannot be asked for within a minute of the last
    throttled = users.post("/v1/users/me/email/verification-code", headers=session.auth)
    assert _error(throttled) == (429, "verification_code_throttled")
    # WHEN the minute has passed, a new code is sent, and it verifies
    with runtime.engine.begin() as conn:
        conn.execute(email_verifications.update().values(sent_at=datetime(2000, 1, 1, tzinfo=UTC)))
    assert users.post("/v1/users/me/email/verification-code", headers=session.auth).status_code == 202
    verify_email_over_http(users, runtime.settings.mail_outbox_file, "wes@example.com", session.auth)


def test_an_unverified_account_sends_at_most_100_usd_in_all(client_of, runtime):
    # GIVEN an unverified user with 500 USD, and a payee
    users, accounts, wallets, payments = (client_of(n) for n in ("users", "accounts", "wallets", "payments"))
    payee = sign_up(users, "una-payee@example.com")
    sign_up(users, "una@example.com")
    session = sign_in(users, "una@example.com")
    card = accounts.post(
        "/v1/funding-sources",
        headers=session.auth,
        json={"type": "card", "number": "4242424242424242", "exp_month": 1, "exp_year": 2040, "cvc": "999"},
    )
    topup = wallets.post(
        "/v1/topups",
        headers={**session.auth, **fresh_key()},
        json={"funding_source_id": card.get_json()["id"], "amount": 50_000, "currency": "USD"},
    )
    assert topup.status_code == 201

    def pay(amount: int):
        return payments.post(
            "/v1/payments",
            headers={**session.auth, **fresh_key()},
            json={"to": payee, "amount": amount, "currency": "USD", "note": ""},
        )

    # WHEN they send 60 USD, then 40 USD: both accepted (100 USD in all)
    assert pay(6_000).status_code == 202
    assert pay(4_000).status_code == 202
    # WHEN they send one cent more: 403 email_unverified
    assert _error(pay(1)) == (403, "email_unverified")
    # WHEN they verify: the payment goes through
    verify_email_over_http(users, runtime.settings.mail_outbox_file, "una@example.com", session.auth)
    assert pay(20_000).status_code == 202


def test_paystream_mail_shows_the_code_as_a_local_user_reads_it(client_of, runtime, capsys):
    # GIVEN a user signed up on the local platform
    users = client_of("users")
    sign_up(users, "lola@example.com")
    code = verification_code(runtime.settings.mail_outbox_file, "lola@example.com")
    # WHEN they read their mail with `paystream mail`
    assert main(["mail", "LOLA@example.com", "--file", str(runtime.settings.mail_outbox_file)]) == 0
    # THEN they see the e-mail with its code
    shown = capsys.readouterr().out
    assert "subject: Your Paystream verification code" in shown and code in shown
