"""debit-wallet: reserve the money a saga moves with a pending ledger transfer into clearing:
an approved payment's from the payer's wallet, a requested refund's from the payee's. An
overdraft fails the payment or the refund with `insufficient_funds`."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from schemas.events import RefundRequested
from shared.consumer import handle
from shared.services.payments import debit_payment
from shared.services.refunds import debit_refund
from shared.topology import route_for

# What its queue receives (shared.topology.ROUTES declares it).
ACCEPTED_TYPES = frozenset(route_for("debit-wallet").event_types)


def _debit(conn, payload, context, runtime) -> list[str]:
    timeout_seconds = runtime.settings.payment_debit_timeout_seconds
    if isinstance(payload, RefundRequested):
        return debit_refund(
            conn, payload.refund_id, ledger=runtime.ledger, timeout_seconds=timeout_seconds, context=context
        )
    return debit_payment(
        conn, payload.payment_id, ledger=runtime.ledger, timeout_seconds=timeout_seconds, context=context
    )


@functions_framework.cloud_event
def debit_wallet(event: CloudEvent) -> None:
    handle("debit-wallet", event, ACCEPTED_TYPES, _debit)
