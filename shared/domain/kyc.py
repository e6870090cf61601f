"""Know your customer: the levels a user climbs, the document checks, and the sandbox verifier.

    none      at sign-up
    basic     the user gave a legal name, a date of birth, an address and a phone number
    verified  an identity document of theirs was verified (by the sandbox, or by support)

The level only rises. Beside it, `KycStatus` says where the user's identity check stands:
`unverified` until a document is uploaded, `pending` while it is checked, then `verified`,
`rejected` (the level stays basic; another document may be uploaded) or `review` (support
decides).

A document moves along its own small state machine:

    pending -> verified | rejected | review      the sandbox verifier decides
    review  -> verified | rejected               support decides

The sandbox verifier decides by the document number, as the sandbox card gateway does by the card
number (docs/operators.md, "KYC sandbox"). Everything here is pure: today's date is an argument.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

__all__ = [
    "ADULT_AGE_YEARS",
    "AGE_YEARS_MAX",
    "ALLOWED_CONTENT_TYPES",
    "DOCUMENT_NUMBER_VISIBLE_CHARS",
    "SANDBOX_REJECTED_SUFFIX",
    "SANDBOX_REVIEW_SUFFIX",
    "DocumentStatus",
    "DocumentType",
    "IllegalDocumentTransition",
    "KycDecision",
    "KycLevel",
    "KycStatus",
    "ReviewDecision",
    "ReviewOutcome",
    "age_in_years",
    "check_transition",
    "content_type_of",
    "decide_review",
    "number_last4",
    "sandbox_decision",
]

# A user must be an adult to hold a verified account, and nobody alive is older than this: a
# date of birth beyond it is a typing mistake.
ADULT_AGE_YEARS = 18
AGE_YEARS_MAX = 130
# The part of a document number shown back to the user (like a card's last four digits).
DOCUMENT_NUMBER_VISIBLE_CHARS = 4

# The sandbox verifier's rules, by the end of the document number.
SANDBOX_REJECTED_SUFFIX = "0000"
SANDBOX_REVIEW_SUFFIX = "9999"


class KycLevel(str, enum.Enum):
    NONE = "none"
    BASIC = "basic"
    VERIFIED = "verified"


class KycStatus(str, enum.Enum):
    UNVERIFIED = "unverified"
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"
    REVIEW = "review"


class DocumentType(str, enum.Enum):
    PASSPORT = "passport"
    NATIONAL_ID = "national_id"
    DRIVING_LICENCE = "driving_licence"

    @property
    def label(self) -> str:
        """How a person names it, in a notification."""
        return _DOCUMENT_LABELS[self]


_DOCUMENT_LABELS = {
    DocumentType.PASSPORT: "passport",
    DocumentType.NATIONAL_ID: "national identity card",
    DocumentType.DRIVING_LICENCE: "driving licence",
}


class DocumentStatus(str, enum.Enum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"
    REVIEW = "review"

    @property
    def user_status(self) -> KycStatus:
        """The user's KYC status while this document is their newest."""
        return KycStatus(self.value)


class IllegalDocumentTransition(Exception):
    """A move the document state machine does not allow: a bug in the caller."""


# The file types accepted, each known by the bytes it starts with (its "magic number"): what the
# client says a file is counts for nothing until its first bytes agree.
ALLOWED_CONTENT_TYPES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
}


def content_type_of(data: bytes) -> str | None:
    """The accepted content type whose magic bytes `data` starts with, or None."""
    for content_type, signatures in ALLOWED_CONTENT_TYPES.items():
        if any(data.startswith(signature) for signature in signatures):
            return content_type
    return None


def age_in_years(date_of_birth: date, today: date) -> int:
    """Full years lived on `today` (someone born on 29 February turns a year older on 1 March)."""
    had_birthday = (today.month, today.day) >= (date_of_birth.month, date_of_birth.day)
    return today.year - date_of_birth.year - (0 if had_birthday else 1)


def number_last4(document_number: str) -> str:
    """The end of a document number that may be shown back; never the whole number."""
    return document_number[-DOCUMENT_NUMBER_VISIBLE_CHARS:]


@dataclass(frozen=True)
class KycDecision:
    """What the verifier decided about a document, and the code that says why."""

    status: DocumentStatus
    code: str | None = None


def sandbox_decision(document_number: str, expiry_date: date, today: date) -> KycDecision:
    """The sandbox verifier's decision: a document that has expired is rejected; otherwise a
    number ending in 0000 is rejected, one ending in 9999 goes to manual review, any other passes."""
    if expiry_date < today:
        return KycDecision(DocumentStatus.REJECTED, "document_expired")
    if document_number.endswith(SANDBOX_REJECTED_SUFFIX):
        return KycDecision(DocumentStatus.REJECTED, "document_unverifiable")
    if document_number.endswith(SANDBOX_REVIEW_SUFFIX):
        return KycDecision(DocumentStatus.REVIEW, "manual_review_required")
    return KycDecision(DocumentStatus.VERIFIED)


class ReviewDecision(str, enum.Enum):
    APPROVE = "approve"
    REJECT = "reject"

    @property
    def status(self) -> DocumentStatus:
        return DocumentStatus.VERIFIED if self is ReviewDecision.APPROVE else DocumentStatus.REJECTED


class ReviewOutcome(enum.Enum):
    """What an operator's decision on a document does."""

    APPLY = "apply"  # the document is in review: decide it
    REPLAY = "replay"  # the same decision was made already: answer as then, change nothing
    ALREADY_DECIDED = "already_decided"  # the opposite decision was made already
    NOT_IN_REVIEW = "not_in_review"  # the verifier decided it (or has not yet): no review to decide


def decide_review(status: DocumentStatus, *, decided_by_operator: bool, decision: ReviewDecision) -> ReviewOutcome:
    """What `decision` does to a document in `status`; `decided_by_operator` says whether an
    operator (rather than the verifier) made the decision the document carries."""
    if status is DocumentStatus.REVIEW:
        return ReviewOutcome.APPLY
    if not decided_by_operator or status is DocumentStatus.PENDING:
        return ReviewOutcome.NOT_IN_REVIEW
    return ReviewOutcome.REPLAY if status is decision.status else ReviewOutcome.ALREADY_DECIDED


# The document state machine (module docstring).
_ALLOWED_TRANSITIONS: frozenset[tuple[DocumentStatus, DocumentStatus]] = frozenset(
    {
        (DocumentStatus.PENDING, DocumentStatus.VERIFIED),
        (DocumentStatus.PENDING, DocumentStatus.REJECTED),
        (DocumentStatus.PENDING, DocumentStatus.REVIEW),
        (DocumentStatus.REVIEW, DocumentStatus.VERIFIED),
        (DocumentStatus.REVIEW, DocumentStatus.REJECTED),
    }
)


def check_transition(source: DocumentStatus, target: DocumentStatus) -> None:
    """Raise IllegalDocumentTransition unless a document may move from `source` to `target`."""
    if (source, target) not in _ALLOWED_TRANSITIONS:
        raise IllegalDocumentTransition(f"a KYC document cannot move from {source.value} to {target.value}")
