"""transactions: the caller's history, newest first, and one entry with its event timeline."""

from __future__ import annotations

import flask
import functions_framework

from schemas.api import TimelineEvent, TransactionList, TransactionQuery, TransactionResponse
from shared.adapters.database import as_utc
from shared.bootstrap import platform
from shared.entrypoint import caller, client_router
from shared.http import parse_query
from shared.services import history

# Risk details stay with operators: the timeline a user sees leaves them out.
PRIVATE_EVENT_FIELDS = frozenset({"fraud_score", "reasons"})

router = client_router("transactions")


def _transaction(row, events=None) -> TransactionResponse:
    return TransactionResponse.model_validate(
        {**row._mapping, "amount": row.amount_minor, "events": events}
    )


@router.route("GET", "/v1/transactions")
def list_transactions(request: flask.Request):
    principal = caller(request)
    query = parse_query(request, TransactionQuery)
    where = history.HistoryFilter(
        currency=query.currency,
        type=query.type,
        status=query.status,
        created_from=query.created_from,
        created_to=query.created_to,
    )
    with platform().reader.connect() as conn:
        rows, has_more = history.list_transactions(
            conn,
            user_id=principal.user_id,
            limit=query.limit,
            starting_after=query.starting_after,
            ending_before=query.ending_before,
            where=where,
        )
    return 200, TransactionList(data=[_transaction(row) for row in rows], has_more=has_more)


@router.route("GET", "/v1/transactions/<transaction_id>")
def get_transaction(request: flask.Request, transaction_id: str):
    principal = caller(request)
    with platform().reader.connect() as conn:
        row = history.get_transaction(conn, user_id=principal.user_id, transaction_id=transaction_id)
        events = [
            TimelineEvent(
                id=event.id,
                type=event.type,
                occurred_at=as_utc(event.occurred_at),
                data={k: v for k, v in event.data.items() if k not in PRIVATE_EVENT_FIELDS},
            )
            for event in history.timeline(conn, transaction_id)
        ]
    return 200, _transaction(row, events)


@functions_framework.http
def transactions(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
