"""Ending a session, one way or another, stops its tokens at once: revocation (RFC 7009),
ending one session from the list, and a password change, which ends every session."""

from __future__ import annotations

from tests.security.sessions_support import NEW_PASSWORD, PASSWORD, sign_in, sign_up


def _refresh(users, refresh_token: str):
    return users.post("/v1/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def test_revoking_a_refresh_token_ends_its_session_and_its_access_token_is_refused_at_once(client_of):
    # GIVEN a user signed in on two devices, whose first access token works
    users, wallets = client_of("users"), client_of("wallets")
    sign_up(users, "ada@example.com")
    phone, laptop = sign_in(users, "ada@example.com"), sign_in(users, "ada@example.com")
    assert wallets.get("/v1/wallets", headers=phone.auth).status_code == 200
    # WHEN the phone signs out by revoking its refresh token
    answer = users.post("/v1/oauth/revoke", data={"token": phone.refresh_token, "token_type_hint": "refresh_token"})
    # THEN the answer is 200, and the phone's access token is refused by every function at once
    assert answer.status_code == 200
    assert wallets.get("/v1/wallets", headers=phone.auth).status_code == 401
    refused = users.get("/v1/users/me", headers=phone.auth)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "session_ended"
    # AND its refresh token cannot be used again
    assert _refresh(users, phone.refresh_token).status_code == 401
    # AND the laptop's session goes on
    assert wallets.get("/v1/wallets", headers=laptop.auth).status_code == 200
    assert _refresh(users, laptop.refresh_token).status_code == 200


def test_revoking_a_rotated_refresh_token_revokes_its_whole_family(client_of):
    # GIVEN a session whose refresh token was rotated once
    users = client_of("users")
    sign_up(users, "ben@example.com")
    session = sign_in(users, "ben@example.com")
    rotated = _refresh(users, session.refresh_token).get_json()
    # WHEN the spent, first refresh token is revoked
    assert users.post("/v1/oauth/revoke", data={"token": session.refresh_token}).status_code == 200
    # THEN the newest refresh token of the family is revoked too, and its access token refused
    assert _refresh(users, rotated["refresh_token"]).status_code == 401
    headers = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert users.get("/v1/users/me", headers=headers).status_code == 401


def test_revoking_an_access_token_ends_its_session(client_of):
    users, payments = client_of("users"), client_of("payments")
    sign_up(users, "cy@example.com")
    session = sign_in(users, "cy@example.com")
    # WHEN the access token itself is revoked (with a wrong hint, which only orders the lookup)
    answer = users.post("/v1/oauth/revoke", data={"token": session.access_token, "token_type_hint": "refresh_token"})
    # THEN the session has ended: a write with the token is refused, and so is its refresh token
    assert answer.status_code == 200
    paid = payments.post(
        "/v1/payments",
        json={"to": "nobody@example.com", "amount": 100, "currency": "USD", "note": ""},
        headers={**session.auth, "Idempotency-Key": "revoked-1"},
    )
    assert paid.status_code == 401
    assert _refresh(users, session.refresh_token).status_code == 401


def test_revoking_an_unknown_or_garbage_token_answers_200_and_a_bad_hint_400(client_of):
    users = client_of("users")
    assert users.post("/v1/oauth/revoke", data={"token": "not-a-token-we-issued"}).status_code == 200
    assert users.post("/v1/oauth/revoke", data={"token": "a.b.c", "token_type_hint": "access_token"}).status_code == 200
    missing = users.post("/v1/oauth/revoke", data={})
    assert missing.status_code == 400 and missing.get_json()["error"]["param"] == "token"
    bad_hint = users.post("/v1/oauth/revoke", data={"token": "x", "token_type_hint": "id_token"})
    assert bad_hint.status_code == 400 and bad_hint.get_json()["error"]["param"] == "token_type_hint"


def test_the_session_list_shows_device_address_and_last_use_and_ending_one_refuses_its_token(client_of):
    # GIVEN a user signed in from two devices
    users, transactions = client_of("users"), client_of("transactions")
    sign_up(users, "dee@example.com")
    phone = sign_in(users, "dee@example.com", user_agent="Paystream-iOS/3.1")
    laptop = sign_in(users, "dee@example.com", user_agent="Firefox/133.0")
    # WHEN the laptop lists the sessions
    listed = users.get("/v1/users/me/sessions", headers=laptop.auth)
    # THEN both are there, with device, address and last use, the laptop's marked current
    assert listed.status_code == 200
    by_agent = {session["user_agent"]: session for session in listed.get_json()["data"]}
    assert set(by_agent) == {"Paystream-iOS/3.1", "Firefox/133.0"}
    assert by_agent["Firefox/133.0"]["current"] and not by_agent["Paystream-iOS/3.1"]["current"]
    assert all(session["ip_address"] and session["last_used_at"] for session in by_agent.values())
    # WHEN the laptop ends the phone's session
    phone_session = by_agent["Paystream-iOS/3.1"]["id"]
    ended = users.delete(f"/v1/users/me/sessions/{phone_session}", headers=laptop.auth)
    # THEN it is ended, the phone's access token is refused at once, and the list no longer has it
    assert ended.status_code == 200 and ended.get_json()["ended_at"] is not None
    assert transactions.get("/v1/transactions", headers=phone.auth).status_code == 401
    assert transactions.get("/v1/transactions", headers=laptop.auth).status_code == 200
    remaining = users.get("/v1/users/me/sessions", headers=laptop.auth).get_json()["data"]
    assert [session["user_agent"] for session in remaining] == ["Firefox/133.0"]


def test_another_user_s_session_cannot_be_ended(client_of):
    users = client_of("users")
    sign_up(users, "eve@example.com")
    sign_up(users, "fay@example.com")
    eve, fay = sign_in(users, "eve@example.com"), sign_in(users, "fay@example.com")
    fay_session = users.get("/v1/users/me/sessions", headers=fay.auth).get_json()["data"][0]["id"]
    refused = users.delete(f"/v1/users/me/sessions/{fay_session}", headers=eve.auth)
    assert refused.status_code == 404 and refused.get_json()["error"]["code"] == "session_not_found"
    assert users.get("/v1/users/me", headers=fay.auth).status_code == 200


def test_a_password_change_ends_every_session_at_once_and_answers_a_fresh_pair(client_of):
    # GIVEN a user signed in on two devices
    users, wallets = client_of("users"), client_of("wallets")
    sign_up(users, "gus@example.com")
    phone, laptop = sign_in(users, "gus@example.com"), sign_in(users, "gus@example.com")
    # WHEN the laptop changes the password
    changed = users.post(
        "/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=laptop.auth,
    )
    # THEN the answer is a fresh token pair that works
    assert changed.status_code == 200, changed.get_data(as_text=True)
    fresh = {"Authorization": f"Bearer {changed.get_json()['access_token']}"}
    assert wallets.get("/v1/wallets", headers=fresh).status_code == 200
    # AND every token issued before is refused at once, the laptop's own included
    for old in (phone, laptop):
        assert wallets.get("/v1/wallets", headers=old.auth).status_code == 401
        assert _refresh(users, old.refresh_token).status_code == 401
    # AND only the new password signs in
    old_password = users.post(
        "/v1/oauth/token", data={"grant_type": "password", "username": "gus@example.com", "password": PASSWORD}
    )
    assert old_password.status_code == 401
    sign_in(users, "gus@example.com", NEW_PASSWORD)


def test_a_password_change_needs_the_current_password(client_of):
    users = client_of("users")
    sign_up(users, "hal@example.com")
    session = sign_in(users, "hal@example.com")
    wrong = users.post(
        "/v1/users/me/password",
        json={"current_password": "not-my-password-at-all", "new_password": NEW_PASSWORD},
        headers=session.auth,
    )
    assert wrong.status_code == 400
    assert wrong.get_json()["error"] == {
        "type": "invalid_request_error",
        "code": "current_password_wrong",
        "message": "the current password is wrong",
        "param": "current_password",
    }
    assert users.get("/v1/users/me", headers=session.auth).status_code == 200
