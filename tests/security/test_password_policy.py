"""The password policy (PCI DSS 8.3.6, NIST 800-63B): at least 12 characters, not a common
password, not the user's own e-mail or name; as a pure rule, and where it applies over HTTP
(sign-up, password change, reset)."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.passwords import PASSWORD_LENGTH_MIN, PasswordRule, password_problem
from shared.passwords import common_passwords
from tests.security.sessions_support import PASSWORD, sign_in, sign_up

COMMON = common_passwords()
EMAIL = "ada.lovelace@example.com"
NAME = "Ada Lovelace"


def _problem(password: str, email: str = EMAIL, full_name: str = NAME) -> PasswordRule | None:
    return password_problem(password, email=email, full_name=full_name, common_passwords=COMMON)


def test_the_bundled_list_holds_thousands_of_common_passwords_including_long_ones():
    assert len(COMMON) >= 10_000
    assert {"123456", "password", "qwerty"} <= COMMON
    assert "1qaz2wsx3edc" in COMMON and len("1qaz2wsx3edc") >= PASSWORD_LENGTH_MIN


def test_each_rule_is_named():
    assert _problem("plum-7-short") is None
    assert _problem("short-pw") is PasswordRule.TOO_SHORT
    assert _problem("1QAZ2WSX3EDC") is PasswordRule.COMMON
    assert _problem("  qwerty123456 ") is PasswordRule.COMMON
    assert _problem("my-ADA.LOVELACE@example.com-pw") is PasswordRule.CONTAINS_EMAIL
    assert _problem("lovelace-harbour-77") is PasswordRule.CONTAINS_EMAIL
    assert _problem("harbour-lovelace-77", email="a1@example.com") is PasswordRule.CONTAINS_NAME
    assert _problem("adalovelace-harbour", email="a1@example.com") is PasswordRule.CONTAINS_NAME
    # A one-letter name, or digits in an address, do not refuse every password.
    assert _problem("harbour-lantern-7", email="p@example.com", full_name="P") is None
    assert _problem("harbour-123-lantern", email="x.123@example.com", full_name="Xu") is None


# Passwords of lower-case letters from a set that spells no part of the e-mail or the name
# ("ada", "lovelace", "example" all need a letter outside it) and, at this length, no common one.
_SAFE_LETTERS = "bfghjkmnqrstuwyz"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=_SAFE_LETTERS + string.digits + "-_!", min_size=PASSWORD_LENGTH_MIN, max_size=64))
def test_a_long_password_unrelated_to_the_user_and_not_common_is_accepted(password):
    if password.strip().casefold() in COMMON:
        return
    assert _problem(password) is None


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=PASSWORD_LENGTH_MIN - 1))
def test_every_password_shorter_than_twelve_characters_is_refused(password):
    assert _problem(password) is PasswordRule.TOO_SHORT


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=_SAFE_LETTERS, max_size=10),
    st.sampled_from(["ada.lovelace", "LoveLace", "LOVELACE"]),
    st.text(alphabet=_SAFE_LETTERS, max_size=10),
)
def test_a_password_holding_the_email_in_any_case_is_refused(before, identity, after):
    password = (before + identity + after).ljust(PASSWORD_LENGTH_MIN, "z")
    assert _problem(password) is PasswordRule.CONTAINS_EMAIL


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(p for p in COMMON if len(p) >= PASSWORD_LENGTH_MIN)), st.booleans())
def test_a_common_password_is_refused_in_any_case(common, upper):
    assert _problem(common.upper() if upper else common.title(), email="z@example.com", full_name="Z") is (
        PasswordRule.COMMON
    )


def _error(answer):
    return answer.status_code, answer.get_json()["error"]["code"], answer.get_json()["error"]["message"]


def test_sign_up_refuses_a_weak_password_naming_the_rule(client_of):
    users = client_of("users")
    for password, rule in [
        ("eleven-char", "too_short"),
        ("Qwerty123456", "common"),
        ("gh.navy-harbour-7", "contains_email"),
        ("the-Hopper-lantern", "contains_name"),
    ]:
        answer = users.post(
            "/v1/users",
            json={"email": "gh.navy@example.com", "password": password, "full_name": "Grace Hopper", "country": "US"},
        )
        status, code, message = _error(answer)
        assert (status, code) == (400, "weak_password"), password
        assert rule in message and answer.get_json()["error"]["param"] == "password"
    # AND nobody was signed up
    signed_in = users.post(
        "/v1/oauth/token", data={"grant_type": "password", "username": "gh.navy@example.com", "password": "eleven-char"}
    )
    assert signed_in.status_code == 401


def test_a_password_change_applies_the_policy_and_keeps_the_old_password_when_refused(client_of):
    users = client_of("users")
    sign_up(users, "kay@example.com")
    session = sign_in(users, "kay@example.com")
    answer = users.post(
        "/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "kay@example.com-2026"},
        headers=session.auth,
    )
    status, code, message = _error(answer)
    assert (status, code) == (400, "weak_password") and "contains_email" in message
    assert answer.get_json()["error"]["param"] == "new_password"
    # The session and the password are as they were.
    assert users.get("/v1/users/me", headers=session.auth).status_code == 200
    sign_in(users, "kay@example.com")
