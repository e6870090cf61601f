"""The optional second factor (TOTP): enrolment, confirmation with recovery codes, sign-in and
large payments that need a code, replay refused, turning it off."""

from __future__ import annotations

import time

import pyotp
import sqlalchemy as sa

from shared.adapters.tables import users as users_table
from shared.observability.security import LOGIN_FAILED, security_event_of_refusal
from shared.services.mfa import TOTP_STEP_SECONDS
from tests.fixtures.idempotency import fresh_key
from tests.fixtures.mail import verify_email_over_http
from tests.security.sessions_support import PASSWORD, SignedIn, sign_in, sign_up

# A test spends up to three codes, of the steps before, at and after the current one (the
# window the platform accepts): it starts no later than this long before a step ends, so that
# the window does not move under it.
_STEP_MARGIN_SECONDS = 8


def _steps_ahead() -> int:
    """The current time step, after waiting out the end of a step if it is near."""
    remaining = TOTP_STEP_SECONDS - time.time() % TOTP_STEP_SECONDS
    if remaining < _STEP_MARGIN_SECONDS:
        time.sleep(remaining + 0.1)
    return int(time.time()) // TOTP_STEP_SECONDS


def _code(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def _password_grant(users, email: str, **extra: str):
    return users.post(
        "/v1/oauth/token", data={"grant_type": "password", "username": email, "password": PASSWORD, **extra}
    )


def _enrolled(users, email: str) -> tuple[SignedIn, str, list[str], int]:
    """A signed-up user with the factor on: (session, secret, recovery codes, the step the
    confirmation spent)."""
    sign_up(users, email)
    session = sign_in(users, email)
    enrolment = users.post("/v1/users/me/mfa", headers=session.auth)
    assert enrolment.status_code == 200, enrolment.get_data(as_text=True)
    secret = enrolment.get_json()["secret"]
    step = _steps_ahead() - 1
    confirmed = users.post("/v1/users/me/mfa/confirm", json={"code": _code(secret, step)}, headers=session.auth)
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    return session, secret, confirmed.get_json()["recovery_codes"], step


def test_enrolment_shows_the_secret_once_and_stores_it_sealed(client_of, runtime):
    # GIVEN a signed-in user
    users = client_of("users")
    sign_up(users, "ena@example.com")
    session = sign_in(users, "ena@example.com")
    # WHEN they enrol
    answer = users.post("/v1/users/me/mfa", headers=session.auth)
    # THEN they get a base32 secret and its otpauth URI, and the factor is not on yet
    body = answer.get_json()
    assert answer.status_code == 200
    assert (
        body["otpauth_uri"].startswith("otpauth://totp/Paystream:")
        and f"secret={body['secret']}" in body["otpauth_uri"]
    )
    assert users.get("/v1/users/me", headers=session.auth).get_json()["mfa_enabled"] is False
    assert _password_grant(users, "ena@example.com").status_code == 200
    # AND the database holds the secret sealed, never as it was shown
    with runtime.engine.connect() as conn:
        stored = conn.execute(
            sa.select(users_table.c.mfa_secret).where(
                users_table.c.email_index == runtime.email_index.email("ena@example.com")
            )
        ).scalar()
    assert stored and body["secret"] not in stored
    # AND a wrong first code does not turn it on
    wrong = users.post("/v1/users/me/mfa/confirm", json={"code": "000000"}, headers=session.auth)
    assert (wrong.status_code, wrong.get_json()["error"]["code"]) == (400, "invalid_otp")


def test_once_on_the_password_grant_needs_a_current_code_used_once(client_of):
    # GIVEN a user with the factor on, confirmed with the previous step's code
    users = client_of("users")
    _, secret, recovery_codes, step = _enrolled(users, "otto@example.com")
    assert len(recovery_codes) == 10 and len(set(recovery_codes)) == 10
    # WHEN they sign in with the password alone
    missing = _password_grant(users, "otto@example.com")
    # THEN it is a 401 mfa_required
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (401, "mfa_required")
    # AND a wrong code is a 401 invalid_otp, as is the code the confirmation spent (replay)
    for code in ("123456" if _code(secret, step + 1) != "123456" else "654321", _code(secret, step)):
        wrong = _password_grant(users, "otto@example.com", otp=code)
        assert (wrong.status_code, wrong.get_json()["error"]["code"]) == (401, "invalid_otp")
    # AND the current code works once, and not a second time within its window
    assert _password_grant(users, "otto@example.com", otp=_code(secret, step + 1)).status_code == 200
    replay = _password_grant(users, "otto@example.com", otp=_code(secret, step + 1))
    assert (replay.status_code, replay.get_json()["error"]["code"]) == (401, "invalid_otp")
    # AND a recovery code stands in for a code, once
    assert _password_grant(users, "otto@example.com", otp=recovery_codes[0].upper()).status_code == 200
    assert _password_grant(users, "otto@example.com", otp=recovery_codes[0]).status_code == 401
    # AND the profile says the factor is on
    me = users.get("/v1/users/me", headers=sign_in_with(users, "otto@example.com", recovery_codes[1]))
    assert me.get_json()["mfa_enabled"] is True


def sign_in_with(users, email: str, otp: str) -> dict[str, str]:
    answer = _password_grant(users, email, otp=otp)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def test_turning_it_off_needs_a_code(client_of):
    users = client_of("users")
    session, secret, recovery_codes, step = _enrolled(users, "ida@example.com")
    # WHEN turning it off without a good code
    refused = users.delete("/v1/users/me/mfa", json={"code": "999999"}, headers=session.auth)
    # THEN it is a 403 invalid_otp, and it stays on
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (403, "invalid_otp")
    assert _password_grant(users, "ida@example.com").status_code == 401
    # WHEN turned off with a recovery code
    answer = users.delete("/v1/users/me/mfa", json={"code": recovery_codes[3]}, headers=session.auth)
    # THEN the password alone signs in again, and a second turning off is a 409
    assert answer.status_code == 200 and answer.get_json() == {"mfa_enabled": False}
    assert _password_grant(users, "ida@example.com").status_code == 200
    again = users.delete("/v1/users/me/mfa", json={"code": _code(secret, step + 1)}, headers=session.auth)
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "mfa_not_enabled")


def _funded_payer(client_of, runtime, email: str, amount: int):
    """A verified user with the factor on and `amount` cents in USD; (auth, secret, step)."""
    users, accounts, wallets = client_of("users"), client_of("accounts"), client_of("wallets")
    session, secret, _, step = _enrolled(users, email)
    verify_email_over_http(users, runtime.settings.mail_outbox_file, email, session.auth)
    card = accounts.post(
        "/v1/funding-sources",
        headers=session.auth,
        json={"type": "card", "number": "4242424242424242", "exp_month": 1, "exp_year": 2040, "cvc": "999"},
    )
    assert card.status_code == 201
    topup = wallets.post(
        "/v1/topups",
        headers={**session.auth, **fresh_key()},
        json={"funding_source_id": card.get_json()["id"], "amount": amount, "currency": "USD"},
    )
    assert topup.status_code == 201, topup.get_data(as_text=True)
    return session.auth, secret, step


def test_a_payment_above_the_threshold_needs_a_code(client_of, runtime):
    # GIVEN a payer with the factor on and 3,000 USD, and a payee
    users, payments = client_of("users"), client_of("payments")
    payee = sign_up(users, "pam@example.com")
    auth, secret, step = _funded_payer(client_of, runtime, "olga@example.com", 300_000)

    def pay(amount: int, key: str, **extra: str):
        return payments.post(
            "/v1/payments",
            headers={**auth, "Idempotency-Key": key},
            json={"to": payee, "amount": amount, "currency": "USD", "note": "", **extra},
        )

    # WHEN paying 1,000 USD (not above the threshold) without a code: accepted
    assert pay(100_000, "at-threshold").status_code == 202
    # WHEN paying 1,000.01 USD without a code, or with a wrong one: 403
    missing = pay(100_001, "above-1")
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (403, "mfa_required")
    wrong = pay(100_001, "above-2", otp=_code(secret, step))  # the code the confirmation spent
    assert (wrong.status_code, wrong.get_json()["error"]["code"]) == (403, "invalid_otp")
    # WHEN paying it with a current code: accepted
    accepted = pay(100_001, "above-3", otp=_code(secret, step + 1))
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    # AND a retry with the same key and a newer code is the same payment, not a second one
    retried = pay(100_001, "above-3", otp=_code(secret, step + 2))
    assert retried.status_code == 202 and retried.get_json()["id"] == accepted.get_json()["id"]
    # AND the used code cannot pay again under another key
    replay = pay(100_001, "above-4", otp=_code(secret, step + 1))
    assert (replay.status_code, replay.get_json()["error"]["code"]) == (403, "invalid_otp")


def test_paying_a_large_request_needs_a_code_too(client_of, runtime):
    users, payments = client_of("users"), client_of("payments")
    sign_up(users, "rex@example.com")
    requester = sign_in(users, "rex@example.com")
    auth, secret, step = _funded_payer(client_of, runtime, "pia@example.com", 250_000)
    asked = payments.post(
        "/v1/payment-requests",
        headers={**requester.auth, **fresh_key()},
        json={"from": "pia@example.com", "amount": 200_000, "currency": "USD", "note": "rent"},
    )
    assert asked.status_code == 201, asked.get_data(as_text=True)
    path = f"/v1/payment-requests/{asked.get_json()['id']}/pay"
    # WHEN paid without a body: 403 mfa_required
    missing = payments.post(path, headers={**auth, **fresh_key()})
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (403, "mfa_required")
    # WHEN paid with a current code: accepted
    paid = payments.post(path, headers={**auth, **fresh_key()}, json={"otp": _code(secret, step + 1)})
    assert paid.status_code == 202, paid.get_data(as_text=True)


def test_a_wrong_code_with_the_right_password_is_a_failed_sign_in():
    # A wrong second-factor code is counted where wrong passwords are: a login_failed event.
    assert security_event_of_refusal(401, "invalid_otp") == LOGIN_FAILED
    assert security_event_of_refusal(401, "invalid_credentials") == LOGIN_FAILED
