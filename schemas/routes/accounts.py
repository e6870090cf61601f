"""The routes of `accounts`: funding sources (cards and bank accounts), and know your customer."""

from __future__ import annotations

from schemas.api import (
    FUNDING_SOURCE_REQUEST_ADAPTER,
    KYC_DOCUMENT_REQUEST_BYTES_MAX,
    FundingSourceList,
    FundingSourceResponse,
    KycDocumentRequest,
    KycDocumentResponse,
    KycProfileRequest,
    KycResponse,
)
from schemas.routing import RateClass, Route, RouteTable

__all__ = ["ADD_FUNDING_SOURCE", "GET_KYC", "LIST_FUNDING_SOURCES", "ROUTES", "SUBMIT_KYC", "UPLOAD_KYC_DOCUMENT"]

ADD_FUNDING_SOURCE = Route(
    method="POST",
    path="/v1/funding-sources",
    operation_id="createFundingSource",
    summary="Link a card or a bank account",
    request_model=FUNDING_SOURCE_REQUEST_ADAPTER,
    response_model=FundingSourceResponse,
    response_status=201,
    error_statuses=(402,),
    description="Card numbers are tokenized by the gateway and never stored; only the brand "
    "and last four digits are returned.",
    rate_class=RateClass.WRITE,
)
LIST_FUNDING_SOURCES = Route(
    method="GET",
    path="/v1/funding-sources",
    operation_id="listFundingSources",
    summary="The caller's funding sources",
    response_model=FundingSourceList,
    rate_class=RateClass.READ,
)

SUBMIT_KYC = Route(
    method="POST",
    path="/v1/kyc",
    operation_id="submitKyc",
    summary="Give your legal name, date of birth, address and phone (KYC level basic)",
    request_model=KycProfileRequest,
    response_model=KycResponse,
    error_statuses=(409,),
    description="Raises the caller's `kyc_level` from `none` to `basic`, and replaces the profile if "
    "it was given before. The date of birth must be a real date in the past and the caller 18 or "
    "older (`kyc_underage` otherwise); the phone is E.164 (`+447700900123`). A verified user's "
    "profile is what was verified: 409 `kyc_already_verified`.",
    rate_class=RateClass.WRITE,
)
UPLOAD_KYC_DOCUMENT = Route(
    method="POST",
    path="/v1/kyc/documents",
    operation_id="uploadKycDocument",
    summary="Upload an identity document to be verified (KYC level verified)",
    request_model=KycDocumentRequest,
    request_body_bytes_max=KYC_DOCUMENT_REQUEST_BYTES_MAX,
    response_model=KycDocumentResponse,
    response_status=202,
    error_statuses=(409, 413, 415),
    description="A JSON body with the document's type, number, issuing country and expiry date, and "
    "the file itself base64-encoded in `file`: a JPEG, PNG or PDF of at most 5 MiB decoded (413 "
    "`document_too_large` over it). The file's first bytes must be those of the `content_type` "
    "given (415 `content_type_unsupported` or `content_type_mismatch` otherwise). The caller must "
    "be at level `basic` first (409 `kyc_basic_required`), and have no other document being "
    "checked (409 `kyc_document_in_progress`). The file is stored encrypted (SSE-KMS). Accepted as "
    "`pending`; the outcome arrives as a notification and in `GET /v1/kyc`.\n\n"
    "In the sandbox the document number decides the outcome, whatever the file shows: a number "
    "ending in `0000` is rejected (`document_unverifiable`), one ending in `9999` goes to manual "
    "review by support (status `review`), any other is verified.",
    rate_class=RateClass.WRITE,
)
GET_KYC = Route(
    method="GET",
    path="/v1/kyc",
    operation_id="getKyc",
    summary="Your KYC level, status, profile and documents",
    response_model=KycResponse,
    description="Documents are listed newest first, each with its status; a document number is "
    "never shown in full (`number_last4`).",
    rate_class=RateClass.READ,
)

ROUTES = RouteTable("accounts", (ADD_FUNDING_SOURCE, LIST_FUNDING_SOURCES, SUBMIT_KYC, UPLOAD_KYC_DOCUMENT, GET_KYC))
