"""The routes of `transactions`: the caller's history, one entry's timeline, statements."""

from __future__ import annotations

from schemas.api import StatementQuery, TransactionList, TransactionQuery, TransactionResponse
from schemas.routing import RateClass, Route, RouteTable

__all__ = ["GET_STATEMENT", "GET_TRANSACTION", "LIST_TRANSACTIONS", "ROUTES"]

LIST_TRANSACTIONS = Route(
    method="GET",
    path="/v1/transactions",
    operation_id="listTransactions",
    summary="The caller's history, newest first, filtered by currency, type, status and dates",
    response_model=TransactionList,
    query_model=TransactionQuery,
    rate_class=RateClass.READ,
)
GET_TRANSACTION = Route(
    method="GET",
    path="/v1/transactions/{transaction_id}",
    operation_id="getTransaction",
    summary="One transaction with its event timeline",
    response_model=TransactionResponse,
    error_statuses=(404,),
    rate_class=RateClass.READ,
)
GET_STATEMENT = Route(
    method="GET",
    path="/v1/statements",
    operation_id="getStatement",
    summary="A CSV statement of one wallet over a date range, with its balances",
    description="Rows are the posted movements (completed or refunded payments, completed "
    "refunds and conversions, succeeded top-ups and withdrawals; never payment requests) by "
    "the time they were made; a conversion counts in both its currencies (debited in one, "
    "credited in the other). Each row has the balance after it; the first row is the opening "
    "balance and the last the closing balance, which for a range ending now equals the "
    "wallet's posted balance.",
    response_model=None,
    response_content_type="text/csv",
    query_model=StatementQuery,
    rate_class=RateClass.READ,
)

ROUTES = RouteTable("transactions", (LIST_TRANSACTIONS, GET_TRANSACTION, GET_STATEMENT))
