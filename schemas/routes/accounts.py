"""The routes of `accounts`: funding sources (cards and bank accounts)."""

from __future__ import annotations

from schemas.api import FUNDING_SOURCE_REQUEST_ADAPTER, FundingSourceList, FundingSourceResponse
from schemas.routing import Route, RouteTable

__all__ = ["ADD_FUNDING_SOURCE", "LIST_FUNDING_SOURCES", "ROUTES"]

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
)
LIST_FUNDING_SOURCES = Route(
    method="GET",
    path="/v1/funding-sources",
    operation_id="listFundingSources",
    summary="The caller's funding sources",
    response_model=FundingSourceList,
)

ROUTES = RouteTable("accounts", (ADD_FUNDING_SOURCE, LIST_FUNDING_SOURCES))
