"""A small client of the public HTTP contract, as a user's program would call it."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.fixtures.mail import verification_code

FINAL_STATUSES = frozenset({"completed", "declined", "failed", "refunded", "partially_refunded"})
REFUND_FINAL_STATUSES = frozenset({"completed", "failed"})
REQUEST_TIMEOUT_SECONDS = 30
# The mail outbox of each running platform, by its URL (set where it is started): where a test
# user reads the verification code e-mailed to them.
MAIL_OUTBOXES: dict[str, Path] = {}


def new_password() -> str:
    """A strong password of digits: no name or address of a test user is inside it."""
    return f"pw-{uuid.uuid4().int}"


@dataclass
class User:
    base_url: str
    email: str
    password: str
    id: str = ""
    access_token: str = ""
    refresh_token: str = ""
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return self.session.request(
            method, self.base_url + path, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS, **kwargs
        )

    def add_card(self, number: str = "4242424242424242") -> str:
        answer = self.call(
            "POST",
            "/v1/funding-sources",
            json={"type": "card", "number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def top_up(self, card_id: str, amount: int, currency: str = "USD") -> requests.Response:
        return self.call(
            "POST",
            "/v1/topups",
            json={"funding_source_id": card_id, "amount": amount, "currency": currency},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )

    def pay(
        self, to: str, amount: int, currency: str = "USD", key: str | None = None, note: str = ""
    ) -> requests.Response:
        # A payment moves money: it always carries an Idempotency-Key, a fresh one unless given.
        headers = {"Idempotency-Key": key or str(uuid.uuid4())}
        return self.call(
            "POST",
            "/v1/payments",
            json={"to": to, "amount": amount, "currency": currency, "note": note},
            headers=headers,
        )

    def add_bank_account(self, account_number: str = "000123456789") -> str:
        answer = self.call(
            "POST",
            "/v1/funding-sources",
            json={"type": "bank_account", "routing_number": "110000000", "account_number": account_number},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def convert(self, body: dict) -> requests.Response:
        return self.call("POST", "/v1/conversions", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})

    def withdraw(self, funding_source_id: str, amount: int, currency: str = "USD") -> requests.Response:
        return self.call(
            "POST",
            "/v1/withdrawals",
            json={"funding_source_id": funding_source_id, "amount": amount, "currency": currency},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )

    def wait_withdrawal(self, withdrawal_id: str, seconds: float = 30) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            answer = self.call("GET", f"/v1/withdrawals/{withdrawal_id}")
            assert answer.status_code == 200, answer.text
            withdrawal = answer.json()
            if withdrawal["status"] != "pending" or time.monotonic() > deadline:
                return withdrawal
            time.sleep(0.1)

    def wallets(self) -> dict[str, dict]:
        answer = self.call("GET", "/v1/wallets")
        assert answer.status_code == 200, answer.text
        return {wallet["currency"]: wallet for wallet in answer.json()["data"]}

    def refund(self, payment_id: str, amount: int | None = None, key: str | None = None) -> requests.Response:
        headers = {"Idempotency-Key": key or str(uuid.uuid4())}
        body = {} if amount is None else {"amount": amount}
        return self.call("POST", f"/v1/payments/{payment_id}/refunds", json=body, headers=headers)

    def request_money(self, payer: str, amount: int, currency: str = "USD", note: str = "") -> requests.Response:
        return self.call(
            "POST", "/v1/payment-requests", json={"from": payer, "amount": amount, "currency": currency, "note": note}
        )

    def wallet(self, currency: str = "USD") -> dict:
        answer = self.call("GET", "/v1/wallets")
        assert answer.status_code == 200, answer.text
        for wallet in answer.json()["data"]:
            if wallet["currency"] == currency:
                return wallet
        return {"currency": currency, "available": 0, "pending": 0}

    def wait_final(self, payment_id: str, seconds: float = 30) -> dict:
        return self.wait_for(f"/v1/payments/{payment_id}", FINAL_STATUSES, seconds)

    def wait_for(self, path: str, statuses: frozenset[str], seconds: float = 30) -> dict:
        """GET `path` until its `status` is one of `statuses` (or the time is up); the last answer."""
        deadline = time.monotonic() + seconds
        while True:
            answer = self.call("GET", path)
            assert answer.status_code == 200, answer.text
            found = answer.json()
            if found["status"] in statuses or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def sign_up(base_url: str, name: str, country: str = "US") -> User:
    email = f"{name}-{uuid.uuid4().hex[:10]}@example.com"
    user = User(base_url=base_url, email=email, password=new_password())
    answer = requests.post(
        base_url + "/v1/users",
        json={"email": email, "password": user.password, "full_name": name.title(), "country": country},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert answer.status_code == 201, answer.text
    user.id = answer.json()["id"]
    log_in(user)
    verify_email(user)
    return user


def verify_email(user: User) -> None:
    """Verify the user's address with the code e-mailed to it, read from the platform's mail
    outbox as `paystream mail` reads it: until then a user sends at most 100 USD."""
    code = verification_code(MAIL_OUTBOXES[user.base_url], user.email)
    answer = user.call("POST", "/v1/users/me/email/verify", json={"code": code})
    assert answer.status_code == 200, answer.text


def log_in(user: User) -> None:
    answer = requests.post(
        user.base_url + "/v1/oauth/token",
        data={"grant_type": "password", "username": user.email, "password": user.password},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    user.access_token, user.refresh_token = tokens["access_token"], tokens["refresh_token"]
