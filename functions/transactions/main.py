"""transactions: the caller's history, newest first, and one entry with its event timeline."""

from __future__ import annotations

from decimal import Decimal

import flask
import functions_framework

from schemas.api import (
    TimelineEvent,
    TransactionList,
    TransactionResponse,
)
from schemas.routes import transactions as routes
from shared.adapters.database import as_utc
from shared.bootstrap import platform
from shared.domain.money import Money
from shared.domain.reports import render_csv
from shared.entrypoint import client_router
from shared.http import Principal, response_of_row
from shared.services import history
from shared.services.checks import require_currency

# Risk details stay with operators: the timeline a user sees leaves them out.
PRIVATE_EVENT_FIELDS = frozenset({"fraud_score", "reasons"})

router = client_router(routes.ROUTES)


def _transaction(row, events=None) -> TransactionResponse:
    return response_of_row(TransactionResponse, row, events=events)


@router.handles(routes.LIST_TRANSACTIONS)
def list_transactions(request: flask.Request, principal: Principal, query):
    if query.currency is not None:
        require_currency(query.currency)
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


@router.handles(routes.GET_TRANSACTION)
def get_transaction(request: flask.Request, principal: Principal, transaction_id: str):
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


STATEMENT_COLUMNS = (
    "date",
    "id",
    "type",
    "direction",
    "description",
    "counterparty_id",
    "amount_minor",
    "amount",
    "balance_minor",
    "balance",
)


@router.handles(routes.GET_STATEMENT)
def get_statement(request: flask.Request, principal: Principal, query):
    require_currency(query.currency)
    with platform().reader.connect() as conn:
        found = history.statement(
            conn,
            user_id=principal.user_id,
            currency=query.currency,
            created_from=query.created_from,
            created_to=query.created_to,
        )

    def money(minor: int) -> Decimal:
        # A number, not text: a spreadsheet reads "-12.50" as minus twelve and a half, and
        # render_csv neutralises only text cells that could start a formula.
        return Decimal(Money(minor, found.currency).major_text())

    balance = found.opening_balance_minor
    rows: list[list[object]] = [
        [query.created_from.isoformat(), "", "opening_balance", "", "", "", "", "", balance, money(balance)]
    ]
    for row in found.rows:
        signed = history.signed_amount_minor(row, found.currency)
        balance += signed
        rows.append(
            [
                row.created_at.isoformat(),
                row.id,
                row.type,
                "credit" if signed > 0 else "debit",
                row.description,
                row.counterparty_id or "",
                signed,
                money(signed),
                balance,
                money(balance),
            ]
        )
    closing = found.closing_balance_minor
    rows.append([query.created_to.isoformat(), "", "closing_balance", "", "", "", "", "", closing, money(closing)])
    name = f"statement-{found.currency}-{query.created_from.date()}-{query.created_to.date()}.csv"
    return flask.Response(
        render_csv(STATEMENT_COLUMNS, rows),
        status=200,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@functions_framework.http
def transactions(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
