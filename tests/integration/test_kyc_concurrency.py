"""KYC under contention, on PostgreSQL: the user's row lock lets one document at a time be checked,
and the document's lets one operator decision stand."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from schemas.api import KycDocumentRequest, KycProfileRequest
from shared.adapters.database import create_engine
from shared.adapters.tables import events, kyc_documents, users
from shared.domain.kyc import ReviewDecision
from shared.http import ApiError
from shared.services import kyc
from shared.services.context import EventContext
from tests.fixtures.users import insert_user, local_vault

pytestmark = pytest.mark.integration

CONTENDERS = 8
JOIN_TIMEOUT_SECONDS = 60
# The users' data keys, under a key-encryption key of this module's own.
VAULT = local_vault()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def engine(migrated_postgres_url):
    engine = create_engine(migrated_postgres_url)
    yield engine
    engine.dispose()


def _context(producer: str) -> EventContext:
    return EventContext(producer=producer, now=datetime.now(UTC), correlation_id=None)


def _basic_user(engine) -> str:
    user_id = f"usr_{uuid.uuid4().hex}"
    with engine.begin() as conn:
        insert_user(conn, user_id, now=datetime.now(UTC), full_name="K", country="GB", privacy=VAULT)
        kyc.submit_profile(
            conn,
            user_id=user_id,
            request=KycProfileRequest.model_validate(
                {
                    "legal_name": "K Y C",
                    "date_of_birth": "1980-01-01",
                    "address": {"line1": "1 Road", "city": "Leeds", "postal_code": "LS1 1AA", "country": "GB"},
                    "phone": "+447700900123",
                }
            ),
            context=_context("accounts"),
            privacy=VAULT,
        )
    return user_id


def _request(number: str) -> KycDocumentRequest:
    return KycDocumentRequest.model_validate(
        {
            "document_type": "national_id",
            "document_number": number,
            "issuing_country": "GB",
            "expiry_date": (date.today() + timedelta(days=365)).isoformat(),
            "content_type": "image/png",
            "file": "iVBORw0KGgo=",
        }
    )


def _race(work) -> list[object]:
    """Run `work(index)` in CONTENDERS threads released at once; each result or ApiError."""
    start, results, lock = threading.Barrier(CONTENDERS), [], threading.Lock()

    def contender(index: int):
        start.wait()
        try:
            outcome = work(index)
        except ApiError as refused:
            outcome = refused
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=contender, args=(index,)) for index in range(CONTENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_SECONDS)
    assert len(results) == CONTENDERS
    return results


def test_concurrent_uploads_of_one_user_record_one_document(engine):
    # GIVEN a user at level basic
    user_id = _basic_user(engine)
    upload = kyc.DocumentUpload(PNG, "image/png")

    # WHEN eight documents are recorded at the same instant
    def record(index: int):
        with engine.begin() as conn:
            return kyc.record_document(
                conn,
                user_id=user_id,
                document_id=kyc.new_document_id(),
                request=_request(f"N{index}2345678"),
                upload=upload,
                context=_context("accounts"),
                privacy=VAULT,
            )[0].id

    results = _race(record)
    # THEN one is pending and the others were told to wait for it
    refused = [r for r in results if isinstance(r, ApiError)]
    assert len(results) - len(refused) == 1
    assert {r.code for r in refused} == {"kyc_document_in_progress"}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(kyc_documents.c.user_id == user_id)).scalar_one() == 1


def test_concurrent_decisions_on_a_document_in_review_let_one_stand(engine):
    # GIVEN a document in review
    user_id = _basic_user(engine)
    document_id = kyc.new_document_id()
    with engine.begin() as conn:
        kyc.record_document(
            conn,
            user_id=user_id,
            document_id=document_id,
            request=_request("R12349999"),
            upload=kyc.DocumentUpload(PNG, "image/png"),
            context=_context("accounts"),
            privacy=VAULT,
        )
        kyc.verify_document(conn, document_id, context=_context("verify-kyc"), privacy=VAULT)

    # WHEN four operators approve it and four reject it at the same instant
    def decide(index: int):
        decision = ReviewDecision.APPROVE if index % 2 else ReviewDecision.REJECT
        with engine.begin() as conn:
            row, _ = kyc.decide_document_review(
                conn,
                document_id,
                decision=decision,
                actor_id=f"usr_operator{index}",
                reason="checked",
                context=_context("admin"),
            )
            return row.status

    results = _race(decide)
    # THEN one decision stands: those like it replay it, the others are refused
    statuses = {r for r in results if not isinstance(r, ApiError)}
    refused = [r for r in results if isinstance(r, ApiError)]
    assert len(statuses) == 1 and len(refused) == CONTENDERS // 2
    assert {r.code for r in refused} == {"review_already_decided"}
    with engine.connect() as conn:
        decisions = conn.execute(
            sa.select(sa.func.count()).where(
                events.c.subject == document_id, events.c.type.in_(("kyc.verified", "kyc.rejected"))
            )
        ).scalar_one()
        user = conn.execute(sa.select(users.c.kyc_status).where(users.c.id == user_id)).scalar_one()
    assert decisions == 1 and user == statuses.pop()
