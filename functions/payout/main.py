"""payout: pay a withdrawal out to its bank account through the gateway (idempotent on the
withdrawal id), then post its reservation or void it and return the funds."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.consumer import handle
from shared.services.withdrawals import pay_out_withdrawal
from shared.topology import route_for

# What its queue receives (shared.topology.ROUTES declares it).
ACCEPTED_TYPES = frozenset(route_for("payout").event_types)


def _pay_out(conn, withdrawal, context, runtime) -> list[str]:
    return pay_out_withdrawal(
        conn,
        withdrawal.withdrawal_id,
        ledger=runtime.ledger,
        gateway=runtime.gateway,
        privacy=runtime.privacy,
        context=context,
    )


@functions_framework.cloud_event
def payout(event: CloudEvent) -> None:
    handle("payout", event, ACCEPTED_TYPES, _pay_out)
