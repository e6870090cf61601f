"""Know your customer through the HTTP bindings of `accounts` and `admin` and the CloudEvents
binding of `verify-kyc` (and `notify`): a user climbs none → basic → verified with the sandbox's
documents, a document is rejected or sent to review and decided by support, and what is refused
(too large, not what it claims to be, before `basic`) stores nothing."""

from __future__ import annotations

import base64
import struct
import zlib
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from schemas.api import KYC_DOCUMENT_BYTES_MAX, KYC_DOCUMENT_REQUEST_BYTES_MAX
from shared.adapters.aws import aws_client
from shared.adapters.kyc_documents import DocumentStore, DocumentStoreMissing
from shared.adapters.outbox import cloud_event_of
from shared.adapters.tables import events, kyc_documents
from shared.cli import main as cli_main
from shared.services.notifications import list_notifications
from shared.topology import KYC_DOCUMENTS_BUCKET, KYC_DOCUMENTS_KEY_ALIAS

PASSWORD = "a long enough password"
ADDRESS = {"line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"}
PROFILE = {"legal_name": "Ada Lovelace", "date_of_birth": "1990-12-10", "address": ADDRESS, "phone": "+447700900123"}
# The sandbox's document numbers (docs/operators.md, "KYC sandbox").
VERIFIED_NUMBER = "P12345678"
REJECTED_NUMBER = "P12340000"
REVIEW_NUMBER = "P12349999"


def _png() -> bytes:
    """A real one-pixel PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG = _png()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _document(number: str = VERIFIED_NUMBER, *, data: bytes = PNG, content_type: str = "image/png") -> dict:
    return {
        "document_type": "passport",
        "document_number": number,
        "issuing_country": "GB",
        "expiry_date": (date.today() + timedelta(days=3 * 365)).isoformat(),
        "content_type": content_type,
        "file": base64.b64encode(data).decode(),
    }


def _sign_up(users, email: str) -> dict[str, str]:
    answer = users.post("/v1/users", json={"email": email, "password": PASSWORD, "full_name": "A", "country": "GB"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    token = users.post("/v1/oauth/token", data={"grant_type": "password", "username": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {token.get_json()['access_token']}"}


def _operator(users, email: str, role: str) -> dict[str, str]:
    users.post("/v1/users", json={"email": email, "password": PASSWORD, "full_name": "Op", "country": "GB"})
    assert cli_main(["users", "grant-role", email, role]) == 0
    token = users.post("/v1/oauth/token", data={"grant_type": "password", "username": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {token.get_json()['access_token']}"}


def _basic_user(client_of, email: str) -> dict[str, str]:
    headers = _sign_up(client_of("users"), email)
    answer = client_of("accounts").post("/v1/kyc", json=PROFILE, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return headers


def _upload(client_of, headers, body: dict):
    return client_of("accounts").post("/v1/kyc/documents", json=body, headers=headers)


def _stored_event(runtime, document_id: str, event_type: str) -> CloudEvent:
    """The recorded event, as the bus would deliver it."""
    with runtime.engine.connect() as conn:
        row = conn.execute(sa.select(events).where(events.c.subject == document_id, events.c.type == event_type)).one()
    structured = cloud_event_of(row)
    data = structured.pop("data")
    return CloudEvent(structured, data)


def _deliver(client, event: CloudEvent):
    headers, body = to_binary(event)
    return client.post("/", headers=headers, data=body)


def _verify(client_of, runtime, document_id: str) -> None:
    answer = _deliver(client_of("verify-kyc"), _stored_event(runtime, document_id, "kyc.submitted"))
    assert answer.status_code == 200, answer.get_data(as_text=True)


def _event_types(runtime, document_id: str) -> list[str]:
    with runtime.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(events.c.type).where(events.c.subject == document_id).order_by(events.c.aggregate_sequence)
            ).scalars()
        )


def _me(client_of, headers) -> dict:
    return client_of("users").get("/v1/users/me", headers=headers).get_json()


def _objects_of(runtime, user_id: str) -> list[str]:
    s3 = aws_client("s3", endpoint_url=runtime.settings.aws_endpoint_url)
    listed = s3.list_objects_v2(Bucket=KYC_DOCUMENTS_BUCKET, Prefix=f"documents/{user_id}/")
    return [item["Key"] for item in listed.get("Contents", [])]


# --- the levels ------------------------------------------------------------------------------


def test_a_user_climbs_from_none_to_basic_to_verified_with_a_sandbox_passport(client_of, runtime):
    # GIVEN a new user, at level none
    headers = _sign_up(client_of("users"), "ada@example.com")
    me = _me(client_of, headers)
    assert (me["kyc_level"], me["kyc_status"]) == ("none", "unverified")
    # WHEN they give their legal name, date of birth, address and phone
    accounts = client_of("accounts")
    basic = accounts.post("/v1/kyc", json=PROFILE, headers=headers)
    # THEN they are at level basic, with the profile they gave
    assert basic.status_code == 200, basic.get_data(as_text=True)
    assert (basic.get_json()["level"], basic.get_json()["status"]) == ("basic", "unverified")
    assert basic.get_json()["profile"]["address"]["postal_code"] == "SW1Y 4JH"
    assert _me(client_of, headers)["kyc_level"] == "basic"
    # WHEN they upload a passport whose number the sandbox verifies
    uploaded = _upload(client_of, headers, _document(VERIFIED_NUMBER))
    assert uploaded.status_code == 202, uploaded.get_data(as_text=True)
    document = uploaded.get_json()
    assert document["status"] == "pending" and document["number_last4"] == "5678"
    # THEN it is pending, and the number is never shown in full
    view = accounts.get("/v1/kyc", headers=headers)
    assert view.get_json()["status"] == "pending" and VERIFIED_NUMBER not in view.get_data(as_text=True)
    # WHEN verify-kyc handles kyc.submitted, twice (a redelivery)
    _verify(client_of, runtime, document["id"])
    _verify(client_of, runtime, document["id"])
    # THEN the user is verified, once
    me = _me(client_of, headers)
    assert (me["kyc_level"], me["kyc_status"]) == ("verified", "verified")
    assert accounts.get("/v1/kyc", headers=headers).get_json()["documents"][0]["status"] == "verified"
    assert _event_types(runtime, document["id"]) == ["kyc.submitted", "kyc.verified"]
    # AND notify tells them
    verified = _stored_event(runtime, document["id"], "kyc.verified")
    assert _deliver(client_of("notify"), verified).status_code == 200
    with runtime.engine.connect() as conn:
        [notification] = list_notifications(conn, me["id"], limit=10)[:1]
    assert notification.title == "Identity verified" and "passport" in notification.body
    # AND a verified user uploads no more documents and keeps the profile that was verified
    assert _upload(client_of, headers, _document("P22222222")).get_json()["error"]["code"] == "kyc_already_verified"
    changed = accounts.post("/v1/kyc", json={**PROFILE, "legal_name": "Somebody Else"}, headers=headers)
    assert changed.status_code == 409 and changed.get_json()["error"]["code"] == "kyc_already_verified"


def test_a_number_ending_in_0000_is_rejected_and_the_user_stays_basic_and_may_try_again(client_of, runtime):
    headers = _basic_user(client_of, "rejected@example.com")
    document = _upload(client_of, headers, _document(REJECTED_NUMBER)).get_json()
    _verify(client_of, runtime, document["id"])
    me = _me(client_of, headers)
    assert (me["kyc_level"], me["kyc_status"]) == ("basic", "rejected")
    [shown] = client_of("accounts").get("/v1/kyc", headers=headers).get_json()["documents"]
    assert (shown["status"], shown["failure_code"]) == ("rejected", "document_unverifiable")
    assert _deliver(client_of("notify"), _stored_event(runtime, document["id"], "kyc.rejected")).status_code == 200
    # Another document may follow a rejection.
    assert _upload(client_of, headers, _document(VERIFIED_NUMBER)).status_code == 202
    assert _me(client_of, headers)["kyc_status"] == "pending"


def test_a_second_upload_waits_for_the_first_documents_outcome(client_of, runtime):
    headers = _basic_user(client_of, "twice@example.com")
    assert _upload(client_of, headers, _document()).status_code == 202
    second = _upload(client_of, headers, _document("P87654321"))
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "kyc_document_in_progress"
    assert len(_objects_of(runtime, _me(client_of, headers)["id"])) == 1


# --- review by support -----------------------------------------------------------------------


@pytest.fixture
def staff(client_of):
    users = client_of("users")
    return {role: _operator(users, f"{role}.kyc@example.com", role) for role in ("support", "admin", "auditor")}


def _in_review(client_of, runtime, email: str) -> tuple[dict[str, str], str]:
    headers = _basic_user(client_of, email)
    document_id = _upload(client_of, headers, _document(REVIEW_NUMBER)).get_json()["id"]
    _verify(client_of, runtime, document_id)
    return headers, document_id


def test_a_number_ending_in_9999_goes_to_review_and_support_approves_it(client_of, runtime, staff):
    # GIVEN a document the sandbox sent to review
    headers, document_id = _in_review(client_of, runtime, "review@example.com")
    me = _me(client_of, headers)
    assert (me["kyc_level"], me["kyc_status"]) == ("basic", "review")
    admin = client_of("admin")
    # THEN it waits in the queue, which auditors may read, without its full number
    queue = admin.get("/v1/admin/kyc-reviews", headers=staff["auditor"])
    assert queue.status_code == 200
    [item] = [item for item in queue.get_json()["data"] if item["id"] == document_id]
    assert item["review_reason"] == "manual_review_required" and REVIEW_NUMBER not in queue.get_data(as_text=True)
    # AND only support and admins see the document itself: its number, the profile and the file
    assert admin.get(f"/v1/admin/kyc-documents/{document_id}", headers=staff["auditor"]).status_code == 403
    detail = admin.get(f"/v1/admin/kyc-documents/{document_id}", headers=staff["support"])
    assert detail.status_code == 200, detail.get_data(as_text=True)
    shown = detail.get_json()
    assert shown["document_number"] == REVIEW_NUMBER and shown["profile"]["legal_name"] == "Ada Lovelace"
    assert base64.b64decode(shown["file"]["content_base64"]) == PNG and shown["file"]["content_type"] == "image/png"
    # WHEN support approves it
    approved = admin.post(f"/v1/admin/kyc-reviews/{document_id}/approve", json={}, headers=staff["support"])
    # THEN the user is verified, the decision is kyc.verified from admin naming the reviewer, and audited
    assert approved.status_code == 200 and approved.get_json()["status"] == "verified"
    support_id = approved.get_json()["decided_by"]
    me = _me(client_of, headers)
    assert (me["kyc_level"], me["kyc_status"]) == ("verified", "verified")
    verified = _stored_event(runtime, document_id, "kyc.verified")
    assert verified["source"] == "/paystream/admin" and (verified.get_data() or {})["reviewer_id"] == support_id
    with runtime.engine.connect() as conn:
        actions = [
            data
            for data in conn.execute(sa.select(events.c.data).where(events.c.type == "admin.action_taken")).scalars()
            if data["target_id"] == document_id
        ]
    assert [(a["action"], a["actor_id"]) for a in actions] == [("kyc.approve", support_id)]
    # AND the same decision again replays it; the opposite one is refused
    again = admin.post(f"/v1/admin/kyc-reviews/{document_id}/approve", headers=staff["admin"])
    assert again.status_code == 200 and again.get_json() == approved.get_json()
    opposite = admin.post(f"/v1/admin/kyc-reviews/{document_id}/reject", json={"reason": "x"}, headers=staff["admin"])
    assert opposite.status_code == 409 and opposite.get_json()["error"]["code"] == "review_already_decided"
    assert _event_types(runtime, document_id) == ["kyc.submitted", "kyc.review", "kyc.verified"]
    assert not any(
        item["id"] == document_id
        for item in admin.get("/v1/admin/kyc-reviews", headers=staff["support"]).get_json()["data"]
    )


def test_support_rejects_a_document_in_review_and_must_say_why(client_of, runtime, staff):
    headers, document_id = _in_review(client_of, runtime, "review.rejected@example.com")
    admin = client_of("admin")
    unexplained = admin.post(f"/v1/admin/kyc-reviews/{document_id}/reject", json={}, headers=staff["support"])
    assert unexplained.status_code == 400 and unexplained.get_json()["error"]["param"] == "reason"
    rejected = admin.post(
        f"/v1/admin/kyc-reviews/{document_id}/reject", json={"reason": "photo does not match"}, headers=staff["support"]
    )
    assert rejected.status_code == 200
    assert (rejected.get_json()["status"], rejected.get_json()["failure_code"]) == ("rejected", "rejected_in_review")
    assert rejected.get_json()["decision_reason"] == "photo does not match"
    me = _me(client_of, headers)
    assert (me["kyc_level"], me["kyc_status"]) == ("basic", "rejected")
    assert _event_types(runtime, document_id)[-1] == "kyc.rejected"
    again = admin.post(f"/v1/admin/kyc-reviews/{document_id}/reject", json={"reason": "again"}, headers=staff["admin"])
    assert again.status_code == 200 and again.get_json() == rejected.get_json()
    approve = admin.post(f"/v1/admin/kyc-reviews/{document_id}/approve", headers=staff["admin"])
    assert approve.status_code == 409 and approve.get_json()["error"]["code"] == "review_already_decided"


def test_a_document_the_verifier_decided_is_not_support_s_to_decide(client_of, runtime, staff):
    headers = _basic_user(client_of, "decided@example.com")
    document_id = _upload(client_of, headers, _document(REJECTED_NUMBER)).get_json()["id"]
    admin = client_of("admin")
    pending = admin.post(f"/v1/admin/kyc-reviews/{document_id}/approve", headers=staff["support"])
    assert pending.status_code == 409 and pending.get_json()["error"]["code"] == "kyc_document_not_in_review"
    _verify(client_of, runtime, document_id)
    decided = admin.post(f"/v1/admin/kyc-reviews/{document_id}/approve", headers=staff["support"])
    assert decided.status_code == 409 and decided.get_json()["error"]["code"] == "kyc_document_not_in_review"
    missing = admin.post("/v1/admin/kyc-reviews/kyd_nobody/approve", headers=staff["support"])
    assert missing.status_code == 404


def test_the_review_queue_pages_oldest_first(client_of, runtime, staff):
    waiting = [_in_review(client_of, runtime, f"queue{index}@example.com")[1] for index in range(3)]
    admin = client_of("admin")
    first = admin.get("/v1/admin/kyc-reviews?limit=2", headers=staff["support"]).get_json()
    assert [item["id"] for item in first["data"]] == waiting[:2] and first["has_more"] is True
    rest = admin.get(f"/v1/admin/kyc-reviews?limit=2&starting_after={waiting[1]}", headers=staff["support"])
    assert [item["id"] for item in rest.get_json()["data"]] == waiting[2:] and rest.get_json()["has_more"] is False
    unknown = admin.get("/v1/admin/kyc-reviews?starting_after=kyd_nobody", headers=staff["support"])
    assert unknown.status_code == 400 and unknown.get_json()["error"]["param"] == "starting_after"


# --- what is refused -------------------------------------------------------------------------


def test_an_upload_before_level_basic_is_refused_and_nothing_is_stored(client_of, runtime):
    headers = _sign_up(client_of("users"), "early@example.com")
    answer = _upload(client_of, headers, _document())
    assert answer.status_code == 409 and answer.get_json()["error"]["code"] == "kyc_basic_required"
    assert _objects_of(runtime, _me(client_of, headers)["id"]) == []


def test_a_file_over_5_mib_is_413_and_nothing_is_stored(client_of, runtime):
    headers = _basic_user(client_of, "large@example.com")
    too_large = PNG + b"\x00" * (KYC_DOCUMENT_BYTES_MAX + 1 - len(PNG))
    answer = _upload(client_of, headers, _document(data=too_large))
    assert answer.status_code == 413 and answer.get_json()["error"]["code"] == "document_too_large"
    assert answer.get_json()["error"]["param"] == "file"
    # A body larger than the route reads at all is refused before it is parsed.
    oversized = client_of("accounts").post(
        "/v1/kyc/documents",
        data=b"{" + b" " * KYC_DOCUMENT_REQUEST_BYTES_MAX + b"}",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert oversized.status_code == 413 and oversized.get_json()["error"]["code"] == "body_too_large"
    # Exactly 5 MiB is accepted.
    at_limit = _upload(client_of, headers, _document(data=PNG + b"\x00" * (KYC_DOCUMENT_BYTES_MAX - len(PNG))))
    assert at_limit.status_code == 202, at_limit.get_data(as_text=True)
    assert len(_objects_of(runtime, _me(client_of, headers)["id"])) == 1


@pytest.mark.parametrize(
    ("content_type", "data", "code", "param"),
    [
        ("image/png", PDF, "content_type_mismatch", "file"),  # a PDF that says it is a PNG
        ("image/jpeg", b"just some text, not a photo", "content_type_mismatch", "file"),
        ("image/gif", b"GIF89a\x01\x00\x01\x00", "content_type_unsupported", "content_type"),
    ],
)
def test_a_file_that_is_not_an_accepted_type_by_its_bytes_is_415(client_of, runtime, content_type, data, code, param):
    headers = _basic_user(client_of, "types@example.com")
    answer = _upload(client_of, headers, _document(data=data, content_type=content_type))
    assert answer.status_code == 415 and answer.get_json()["error"]["code"] == code
    assert answer.get_json()["error"]["param"] == param
    assert _objects_of(runtime, _me(client_of, headers)["id"]) == []


def test_a_pdf_and_a_jpeg_are_accepted_by_their_bytes(client_of, runtime):
    headers = _basic_user(client_of, "pdf@example.com")
    answer = _upload(client_of, headers, _document(data=PDF, content_type="application/pdf"))
    assert answer.status_code == 202 and answer.get_json()["content_type"] == "application/pdf"
    other = _basic_user(client_of, "jpeg@example.com")
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32 + b"\xff\xd9"
    assert _upload(client_of, other, _document(data=jpeg, content_type="image/jpeg")).status_code == 202


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"date_of_birth": (date.today() + timedelta(days=1)).isoformat()}, "date_of_birth", "parameter_invalid"),
        ({"date_of_birth": (date.today() - timedelta(days=17 * 365)).isoformat()}, "date_of_birth", "kyc_underage"),
        ({"date_of_birth": "1990-02-30"}, "date_of_birth", "parameter_invalid"),
        ({"date_of_birth": 0}, "date_of_birth", "parameter_invalid"),
        ({"phone": "07700 900123"}, "phone", "parameter_invalid"),
        ({"legal_name": ""}, "legal_name", "parameter_invalid"),
        (
            {"address": {"line1": "1 Road", "city": "London", "country": "GB"}},
            "address.postal_code",
            "parameter_missing",
        ),
        ({"address": {**ADDRESS, "country": "gb"}}, "address.country", "parameter_invalid"),
    ],
)
def test_a_profile_that_is_not_valid_is_a_400_naming_the_parameter(client_of, runtime, change, param, code):
    headers = _sign_up(client_of("users"), "invalid@example.com")
    answer = client_of("accounts").post("/v1/kyc", json={**PROFILE, **change}, headers=headers)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert (answer.get_json()["error"]["param"], answer.get_json()["error"]["code"]) == (param, code)
    assert _me(client_of, headers)["kyc_level"] == "none"


def test_an_expired_document_or_a_malformed_file_is_a_400(client_of, runtime):
    headers = _basic_user(client_of, "expired@example.com")
    expired = _upload(client_of, headers, {**_document(), "expiry_date": "2020-01-01"})
    assert expired.status_code == 400 and expired.get_json()["error"]["code"] == "document_expired"
    malformed = _upload(client_of, headers, {**_document(), "file": "not base64!"})
    assert malformed.status_code == 400 and malformed.get_json()["error"]["param"] == "file"
    unknown = _upload(client_of, headers, {**_document(), "document_type": "library_card"})
    assert unknown.status_code == 400 and unknown.get_json()["error"]["param"] == "document_type"


# --- the file in S3 ----------------------------------------------------------------------------


def test_the_stored_object_is_encrypted_with_sse_kms_under_the_platform_key(client_of, runtime):
    # GIVEN an uploaded document
    headers = _basic_user(client_of, "encrypted@example.com")
    document_id = _upload(client_of, headers, _document()).get_json()["id"]
    with runtime.engine.connect() as conn:
        object_key = conn.execute(
            sa.select(kyc_documents.c.object_key).where(kyc_documents.c.id == document_id)
        ).scalar_one()
    # THEN its object is encrypted with aws:kms under the key the alias names, and holds the file
    endpoint = runtime.settings.aws_endpoint_url
    head = aws_client("s3", endpoint_url=endpoint).head_object(Bucket=KYC_DOCUMENTS_BUCKET, Key=object_key)
    key_arn = aws_client("kms", endpoint_url=endpoint).describe_key(KeyId=KYC_DOCUMENTS_KEY_ALIAS)["KeyMetadata"]["Arn"]
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn
    assert head["ContentType"] == "image/png" and head["ContentLength"] == len(PNG)


def test_a_missing_key_or_bucket_fails_loudly_and_names_what_is_missing(runtime):
    endpoint = runtime.settings.aws_endpoint_url

    def client(service: str):
        return aws_client(service, endpoint_url=endpoint)

    no_key = DocumentStore(client, bucket=KYC_DOCUMENTS_BUCKET, key_id="alias/paystream-no-such-key")
    with pytest.raises(DocumentStoreMissing, match="alias/paystream-no-such-key"):
        no_key.put("documents/x/y", PNG, content_type="image/png")
    no_bucket = DocumentStore(client, bucket="paystream-no-such-bucket", key_id=KYC_DOCUMENTS_KEY_ALIAS)
    with pytest.raises(DocumentStoreMissing, match="paystream-no-such-bucket"):
        no_bucket.put("documents/x/y", PNG, content_type="image/png")


def test_verify_kyc_dead_letters_an_event_naming_no_document(client_of, runtime):
    event = CloudEvent(
        {
            "id": "evt_0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "type": "com.paystream.kyc.submitted",
            "source": "/paystream/accounts",
            "subject": "kyd_00000000000000000000000000000000",
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
        },
        {
            "document_id": "kyd_00000000000000000000000000000000",
            "user_id": "usr_nobody",
            "document_type": "passport",
            "issuing_country": "GB",
        },
    )
    assert _deliver(client_of("verify-kyc"), event).status_code == 422
