"""The KYC rules: age, magic bytes, the sandbox verifier, and what an operator's decision does."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.kyc import (
    ALLOWED_CONTENT_TYPES,
    DocumentStatus,
    IllegalDocumentTransition,
    ReviewDecision,
    ReviewOutcome,
    age_in_years,
    check_transition,
    content_type_of,
    decide_review,
    number_last4,
    sandbox_decision,
)

TODAY = date(2026, 12, 5)
NEXT_YEAR = TODAY + timedelta(days=365)


def test_someone_turns_a_year_older_on_their_birthday_and_not_the_day_before():
    assert age_in_years(date(2008, 12, 5), TODAY) == 18
    assert age_in_years(date(2008, 12, 6), TODAY) == 17
    # Born on 29 February: a year older on 1 March in other years.
    assert age_in_years(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_in_years(date(2008, 2, 29), date(2026, 3, 1)) == 18


@given(st.dates(min_value=date(1890, 1, 1), max_value=TODAY))
def test_age_is_never_negative_and_grows_by_one_a_year(born):
    age = age_in_years(born, TODAY)
    assert age >= 0
    assert age_in_years(born, TODAY.replace(year=TODAY.year + 1)) == age + 1


def test_each_accepted_type_is_known_by_its_first_bytes_and_nothing_else_is():
    assert content_type_of(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert content_type_of(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert content_type_of(b"%PDF-1.7 rest") == "application/pdf"
    assert content_type_of(b"GIF89a") is None
    assert content_type_of(b"") is None
    assert set(ALLOWED_CONTENT_TYPES) == {"image/jpeg", "image/png", "application/pdf"}


@pytest.mark.parametrize(
    ("number", "status", "code"),
    [
        ("P12340000", DocumentStatus.REJECTED, "document_unverifiable"),
        ("P12349999", DocumentStatus.REVIEW, "manual_review_required"),
        ("P12345678", DocumentStatus.VERIFIED, None),
        ("00001", DocumentStatus.VERIFIED, None),
    ],
)
def test_the_sandbox_decides_by_the_end_of_the_number(number, status, code):
    decision = sandbox_decision(number, NEXT_YEAR, TODAY)
    assert (decision.status, decision.code) == (status, code)


def test_an_expired_document_is_rejected_whatever_its_number():
    for number in ("P12345678", "P12349999"):
        decision = sandbox_decision(number, TODAY - timedelta(days=1), TODAY)
        assert (decision.status, decision.code) == (DocumentStatus.REJECTED, "document_expired")


def test_only_the_last_four_characters_of_a_number_are_shown():
    assert number_last4("P12345678") == "5678"


@pytest.mark.parametrize(
    ("status", "by_operator", "decision", "outcome"),
    [
        (DocumentStatus.REVIEW, False, ReviewDecision.APPROVE, ReviewOutcome.APPLY),
        (DocumentStatus.REVIEW, False, ReviewDecision.REJECT, ReviewOutcome.APPLY),
        (DocumentStatus.VERIFIED, True, ReviewDecision.APPROVE, ReviewOutcome.REPLAY),
        (DocumentStatus.REJECTED, True, ReviewDecision.REJECT, ReviewOutcome.REPLAY),
        (DocumentStatus.VERIFIED, True, ReviewDecision.REJECT, ReviewOutcome.ALREADY_DECIDED),
        (DocumentStatus.REJECTED, True, ReviewDecision.APPROVE, ReviewOutcome.ALREADY_DECIDED),
        (DocumentStatus.VERIFIED, False, ReviewDecision.APPROVE, ReviewOutcome.NOT_IN_REVIEW),
        (DocumentStatus.PENDING, False, ReviewDecision.APPROVE, ReviewOutcome.NOT_IN_REVIEW),
    ],
)
def test_an_operator_decides_only_documents_in_review_and_the_same_decision_replays(
    status, by_operator, decision, outcome
):
    assert decide_review(status, decided_by_operator=by_operator, decision=decision) is outcome


def test_a_decided_document_never_moves_again():
    check_transition(DocumentStatus.PENDING, DocumentStatus.REVIEW)
    check_transition(DocumentStatus.REVIEW, DocumentStatus.VERIFIED)
    for decided in (DocumentStatus.VERIFIED, DocumentStatus.REJECTED):
        for target in DocumentStatus:
            with pytest.raises(IllegalDocumentTransition):
                check_transition(decided, target)
