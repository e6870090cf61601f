"""debit-wallet: reserve an approved payment's funds with a pending ledger transfer from the
payer's wallet to clearing; an overdraft fails the payment with `insufficient_funds`."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.consumer import handle
from shared.services.payments import debit_payment

ACCEPTED_TYPES = frozenset({"payment.approved"})


def _debit(conn, payment, context, runtime) -> list[str]:
    return debit_payment(
        conn,
        payment.payment_id,
        ledger=runtime.ledger,
        timeout_seconds=runtime.settings.payment_debit_timeout_seconds,
        context=context,
    )


@functions_framework.cloud_event
def debit_wallet(event: CloudEvent) -> None:
    handle("debit-wallet", event, ACCEPTED_TYPES, _debit)
