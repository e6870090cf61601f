"""Password reset: a one-time link e-mailed through SNS (read from the local mail outbox), the
same answer for an unknown address, a token stored hashed that expires and works once, the
policy applied, every session ended."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from shared.adapters.mail_outbox import MailOutbox
from shared.adapters.tables import password_resets
from tests.fixtures.mail import reset_token
from tests.security.sessions_support import NEW_PASSWORD, PASSWORD, sign_in, sign_up


def _ask(users, email: str):
    return users.post("/v1/users/password-reset", json={"email": email})


def _confirm(users, token: str, password: str = NEW_PASSWORD):
    return users.post("/v1/users/password-reset/confirm", json={"token": token, "new_password": password})


def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(client_of, runtime):
    # GIVEN a user signed in on a device
    users, wallets = client_of("users"), client_of("wallets")
    sign_up(users, "rita@example.com")
    device = sign_in(users, "rita@example.com")
    # WHEN they ask for a reset
    answer = _ask(users, "RITA@example.com")
    # THEN the answer is 202, and an e-mail with a link arrives
    assert answer.status_code == 202 and answer.get_json() == {"status": "accepted"}
    token = reset_token(runtime.settings.mail_outbox_file, "rita@example.com")
    # AND only the token's digest is stored
    with runtime.engine.connect() as conn:
        stored = conn.execute(sa.select(password_resets.c.token_hash)).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    # WHEN a weak password is sent with it: refused, and the token still works
    weak = _confirm(users, token, "password1234")
    assert (weak.status_code, weak.get_json()["error"]["code"]) == (400, "weak_password")
    # WHEN the token is confirmed with a strong password
    done = _confirm(users, token)
    # THEN the password is the new one, and every session has ended at once
    assert done.status_code == 200 and done.get_json() == {"status": "password_reset"}
    assert wallets.get("/v1/wallets", headers=device.auth).status_code == 401
    refreshed = users.post(
        "/v1/oauth/token", data={"grant_type": "refresh_token", "refresh_token": device.refresh_token}
    )
    assert refreshed.status_code == 401
    old = users.post(
        "/v1/oauth/token", data={"grant_type": "password", "username": "rita@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401
    fresh = sign_in(users, "rita@example.com", NEW_PASSWORD)
    # AND the link proved the address
    assert users.get("/v1/users/me", headers=fresh.auth).get_json()["email_verified"] is True
    # AND the token does not work a second time
    again = _confirm(users, token, "another-Strong-pw-42")
    assert (again.status_code, again.get_json()["error"]["code"]) == (400, "invalid_reset_token")


def test_an_unknown_address_gets_the_same_answer_in_about_the_same_time_and_no_mail(client_of, runtime):
    users = client_of("users")
    sign_up(users, "known@example.com")
    timings: dict[str, list[float]] = {"known@example.com": [], "unknown@example.com": []}
    answers = {}
    for _ in range(3):
        for email in timings:
            started = time.perf_counter()
            answer = _ask(users, email)
            timings[email].append(time.perf_counter() - started)
            answers[email] = (answer.status_code, answer.get_json())
    # THEN both answers are the same
    assert answers["known@example.com"] == answers["unknown@example.com"] == (202, {"status": "accepted"})
    # AND take about as long (the e-mail goes off the request's path): within 50 ms at the median
    known, unknown = (sorted(values)[1] for values in timings.values())
    assert abs(known - unknown) < 0.05, timings
    # AND only the known address gets mail, once per request
    reset_token(runtime.settings.mail_outbox_file, "known@example.com", after=2)
    assert MailOutbox(runtime.settings.mail_outbox_file).latest("unknown@example.com") == []


def test_an_expired_or_made_up_token_is_refused(client_of, runtime):
    users = client_of("users")
    sign_up(users, "exp@example.com")
    assert _ask(users, "exp@example.com").status_code == 202
    token = reset_token(runtime.settings.mail_outbox_file, "exp@example.com")
    # WHEN the link is older than its 30 minutes
    with runtime.engine.begin() as conn:
        conn.execute(password_resets.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    # THEN it is refused, as a made-up one is
    for candidate in (token, "made-up-token"):
        answer = _confirm(users, candidate)
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (400, "invalid_reset_token")
    sign_in(users, "exp@example.com")


def test_a_flood_of_requests_sends_at_most_five_mails_an_hour(client_of, runtime):
    users = client_of("users")
    sign_up(users, "flood@example.com")
    for _ in range(7):
        assert _ask(users, "flood@example.com").status_code == 202
    reset_token(runtime.settings.mail_outbox_file, "flood@example.com", after=4)
    time.sleep(0.5)  # the mailer thread has had time to send more, had it been asked to
    mails = MailOutbox(runtime.settings.mail_outbox_file).latest("flood@example.com")
    assert len([mail for mail in mails if "Reset" in mail.subject]) == 5
