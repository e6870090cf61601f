"""settle: post a debited payment's (or refund's) pending transfer and credit the receiver,
completing it; a completed refund moves its payment to partially_refunded or refunded."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from schemas.events import RefundDebited
from shared.consumer import handle
from shared.services.payments import settle_payment
from shared.services.refunds import settle_refund
from shared.topology import route_for

# What its queue receives (shared.topology.ROUTES declares it).
ACCEPTED_TYPES = frozenset(route_for("settle").event_types)


def _settle(conn, payload, context, runtime) -> list[str]:
    if isinstance(payload, RefundDebited):
        return settle_refund(conn, payload.refund_id, ledger=runtime.ledger, context=context)
    return settle_payment(conn, payload.payment_id, ledger=runtime.ledger, context=context)


@functions_framework.cloud_event
def settle(event: CloudEvent) -> None:
    handle("settle", event, ACCEPTED_TYPES, _settle)
