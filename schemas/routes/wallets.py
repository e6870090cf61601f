"""The routes of `wallets`: balances, top-ups, currency conversions and withdrawals."""

from __future__ import annotations

from schemas.api import (
    ConversionQuoteRequest,
    ConversionQuoteResponse,
    ConversionRequest,
    ConversionResponse,
    TopupRequest,
    TopupResponse,
    WalletList,
    WithdrawalRequest,
    WithdrawalResponse,
)
from schemas.routing import RateClass, Route, RouteTable

__all__ = [
    "CONVERT",
    "CREATE_QUOTE",
    "GET_CONVERSION",
    "GET_WITHDRAWAL",
    "LIST_WALLETS",
    "ROUTES",
    "TOPUP",
    "WITHDRAW",
]

LIST_WALLETS = Route(
    method="GET",
    path="/v1/wallets",
    operation_id="listWallets",
    summary="The caller's balances, one per currency",
    response_model=WalletList,
    rate_class=RateClass.READ,
)
TOPUP = Route(
    method="POST",
    path="/v1/topups",
    operation_id="createTopup",
    summary="Fund a wallet from a linked funding source",
    request_model=TopupRequest,
    response_model=TopupResponse,
    response_status=201,
    error_statuses=(402, 404, 422),
    idempotency_key=True,
    idempotency_key_required=True,
    description="In the sandbox, card 4242424242424242 succeeds and 4000000000000002 is "
    "declined (402 `card_error`, nothing credited).",
    rate_class=RateClass.MONEY,
)
CREATE_QUOTE = Route(
    method="POST",
    path="/v1/conversions/quotes",
    operation_id="createConversionQuote",
    summary="Price a conversion between two currencies",
    request_model=ConversionQuoteRequest,
    response_model=ConversionQuoteResponse,
    response_status=201,
    error_statuses=(422, 503),
    description="The quote fixes the rate and amounts for 60 seconds (PAYSTREAM_FX_QUOTE_TTL_"
    "SECONDS) and is honoured once. Rates are the ECB's euro reference rates; the customer rate "
    "is the mid rate less the spread. The customer receives the amount at the customer rate "
    "rounded down to a minor unit; the spread and the remainder are the fee, in the target "
    "currency. 503 `fx_rates_stale` when the rates are older than the platform accepts.",
    rate_class=RateClass.WRITE,
)
CONVERT = Route(
    method="POST",
    path="/v1/conversions",
    operation_id="createConversion",
    summary="Convert between two of the caller's balances",
    request_model=ConversionRequest,
    response_model=ConversionResponse,
    response_status=201,
    error_statuses=(402, 404, 422, 503),
    idempotency_key=True,
    idempotency_key_required=True,
    description="Either `{quote_id}` (at the quoted rate while the quote is live and unused: "
    "400 `quote_expired`, 409 `quote_already_used`) or `{from_currency, to_currency, amount}` "
    "(at the current rate). The wallet debit, the credit and the fee move together or not at "
    "all: 402 `insufficient_funds` records a failed conversion and moves nothing.",
    rate_class=RateClass.MONEY,
)
GET_CONVERSION = Route(
    method="GET",
    path="/v1/conversions/{conversion_id}",
    operation_id="getConversion",
    summary="A conversion of the caller's",
    response_model=ConversionResponse,
    error_statuses=(404,),
    rate_class=RateClass.READ,
)
WITHDRAW = Route(
    method="POST",
    path="/v1/withdrawals",
    operation_id="createWithdrawal",
    summary="Pay out to a linked bank account",
    request_model=WithdrawalRequest,
    response_model=WithdrawalResponse,
    response_status=202,
    error_statuses=(402, 403, 404, 422),
    idempotency_key=True,
    idempotency_key_required=True,
    description="The funds are reserved at once (`pending`); the payout follows "
    "asynchronously and the withdrawal becomes `succeeded`, or `failed` with the funds "
    "returned. A card is refused (400 `funding_source_not_a_bank_account`). In the sandbox, "
    "bank account 000111111116 fails (`no_account`) and 000111111113 is closed "
    "(`account_closed`); others are paid. A withdrawal that would take the last 24 hours' "
    "withdrawals over the `withdrawal_24h` limit of the caller's KYC level (counted in USD, "
    "`GET /v1/users/me/limits`) is a 422 `limit_exceeded` whose message starts with the limit's "
    "name; a frozen account is a 403 `account_frozen`.",
    rate_class=RateClass.MONEY,
)
GET_WITHDRAWAL = Route(
    method="GET",
    path="/v1/withdrawals/{withdrawal_id}",
    operation_id="getWithdrawal",
    summary="A withdrawal of the caller's and its status",
    response_model=WithdrawalResponse,
    error_statuses=(404,),
    rate_class=RateClass.READ,
)

ROUTES = RouteTable(
    "wallets",
    (LIST_WALLETS, TOPUP, CREATE_QUOTE, CONVERT, GET_CONVERSION, WITHDRAW, GET_WITHDRAWAL),
)
