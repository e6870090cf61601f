"""settle: post a debited payment's pending transfer and credit the payee, completing it."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.consumer import handle
from shared.services.payments import settle_payment

ACCEPTED_TYPES = frozenset({"payment.debited"})


def _settle(conn, payment, context, runtime) -> list[str]:
    return settle_payment(conn, payment.payment_id, ledger=runtime.ledger, context=context)


@functions_framework.cloud_event
def settle(event: CloudEvent) -> None:
    handle("settle", event, ACCEPTED_TYPES, _settle)
