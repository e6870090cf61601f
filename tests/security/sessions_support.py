"""What the session and token tests share: a user signed up and signed in over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PASSWORD = "plum-Harbour-7-lantern"
NEW_PASSWORD = "quince-Meadow-4-compass"


@dataclass
class SignedIn:
    user_id: str
    access_token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def sign_up(users: Any, email: str, password: str = PASSWORD) -> str:
    answer = users.post("/v1/users", json={"email": email, "password": password, "full_name": "Ada", "country": "US"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()["id"]


def sign_in(users: Any, email: str, password: str = PASSWORD, user_agent: str = "pytest-device") -> SignedIn:
    answer = users.post(
        "/v1/oauth/token",
        data={"grant_type": "password", "username": email, "password": password},
        headers={"User-Agent": user_agent},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    me = users.get("/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    return SignedIn(me.get_json()["id"], body["access_token"], body["refresh_token"])
