"""A user's walk through the KYC levels with the sandbox's documents, on the running platform in
both local modes: the document goes to the encrypted bucket, `kyc.submitted` travels the bus to
verify-kyc, and the outcome comes back as the user's level, status and a notification."""

from __future__ import annotations

import base64
import time
from datetime import date, timedelta

import pytest

from tests.e2e.client import User, sign_up

pytestmark = pytest.mark.e2e

PROFILE = {
    "legal_name": "Grace Hopper",
    "date_of_birth": "1986-12-09",
    "address": {
        "line1": "1 Navy Yard",
        "line2": "Suite 3",
        "city": "Arlington",
        "postal_code": "22202",
        "country": "US",
    },
    "phone": "+12025550123",
}
# Enough of a PDF for the magic-byte check; the sandbox decides by the document number.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
DECIDED = frozenset({"verified", "rejected", "review"})
NOTIFICATION_SECONDS_MAX = 30


def _upload(user: User, number: str):
    return user.call(
        "POST",
        "/v1/kyc/documents",
        json={
            "document_type": "driving_licence",
            "document_number": number,
            "issuing_country": "US",
            "expiry_date": (date.today() + timedelta(days=700)).isoformat(),
            "content_type": "application/pdf",
            "file": base64.b64encode(PDF).decode(),
        },
    )


def _me(user: User) -> dict:
    answer = user.call("GET", "/v1/users/me")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _wait_notification(user: User, title: str) -> list[str]:
    deadline = time.monotonic() + NOTIFICATION_SECONDS_MAX
    while True:
        titles = [item["title"] for item in user.call("GET", "/v1/notifications").json()["data"]]
        if title in titles or time.monotonic() > deadline:
            return titles
        time.sleep(0.2)


def test_a_user_walks_from_none_to_basic_to_verified_with_the_sandbox_documents(platform_url):
    # GIVEN a new user: level none
    user = sign_up(platform_url, "grace")
    assert (_me(user)["kyc_level"], _me(user)["kyc_status"]) == ("none", "unverified")
    # WHEN they upload a document before giving their details, it is refused
    early = _upload(user, "D12345678")
    assert early.status_code == 409 and early.json()["error"]["code"] == "kyc_basic_required"
    # WHEN they give their legal name, date of birth, address and phone: level basic
    basic = user.call("POST", "/v1/kyc", json=PROFILE)
    assert basic.status_code == 200, basic.text
    assert _me(user)["kyc_level"] == "basic"
    # WHEN their first document is one the sandbox rejects (a number ending in 0000)
    rejected = _upload(user, "D12340000")
    assert rejected.status_code == 202 and rejected.json()["status"] == "pending"
    outcome = user.wait_for("/v1/kyc", DECIDED)
    # THEN it is rejected and they stay at basic, and are told
    assert (outcome["level"], outcome["status"]) == ("basic", "rejected"), outcome
    assert outcome["documents"][0]["failure_code"] == "document_unverifiable"
    assert "Identity document not accepted" in _wait_notification(user, "Identity document not accepted")
    # WHEN they upload one the sandbox verifies
    verified = _upload(user, "D12345678")
    assert verified.status_code == 202, verified.text
    outcome = user.wait_for("/v1/kyc", frozenset({"verified"}))
    # THEN they are verified, the number never shown in full, and told so
    assert (outcome["level"], outcome["status"]) == ("verified", "verified"), outcome
    assert [document["status"] for document in outcome["documents"]] == ["verified", "rejected"]
    assert outcome["documents"][0]["number_last4"] == "5678"
    assert "D12345678" not in user.call("GET", "/v1/kyc").text
    assert (_me(user)["kyc_level"], _me(user)["kyc_status"]) == ("verified", "verified")
    assert "Identity verified" in _wait_notification(user, "Identity verified")


def test_a_document_numbered_for_review_waits_for_support(platform_url):
    user = sign_up(platform_url, "reviewed")
    assert user.call("POST", "/v1/kyc", json=PROFILE).status_code == 200
    assert _upload(user, "D12349999").status_code == 202
    outcome = user.wait_for("/v1/kyc", DECIDED)
    assert (outcome["level"], outcome["status"]) == ("basic", "review"), outcome
    # Another document waits for this one's outcome.
    again = _upload(user, "D12345678")
    assert again.status_code == 409 and again.json()["error"]["code"] == "kyc_document_in_progress"
    assert "Identity document under review" in _wait_notification(user, "Identity document under review")
