"""sweep-sagas: on a schedule, release expired reservations and compensate payments that
stopped moving, so that no money stays in clearing."""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import publish_after_commit, require_ping
from shared.services.payments import EventContext, stuck_payment_ids, time_out_payment

# Per run: what is left waits for the next ping.
PAYMENTS_PER_RUN_MAX = 100
RESERVATIONS_PER_RUN_MAX = 500
logger = logging.getLogger("paystream.sweep-sagas")


@functions_framework.cloud_event
def sweep_sagas(event: CloudEvent) -> None:
    require_ping(event, "sweep-sagas")
    runtime = platform()
    now = utc_now()
    with runtime.engine.begin() as conn:
        expired = runtime.ledger.expire_pending_transfers(conn, now, limit=RESERVATIONS_PER_RUN_MAX)
    with runtime.reader.connect() as conn:
        stuck = stuck_payment_ids(
            conn, now=now, stuck_seconds=runtime.settings.saga_stuck_seconds, limit=PAYMENTS_PER_RUN_MAX
        )
    context = EventContext(producer="sweep-sagas", now=now, correlation_id=event["id"])
    for payment_id in stuck:
        # One transaction per payment: one that cannot be compensated does not hold up the rest.
        with runtime.engine.begin() as conn:
            recorded = time_out_payment(conn, payment_id, ledger=runtime.ledger, context=context)
        publish_after_commit(runtime, recorded)
    if expired or stuck:
        logger.warning("sweep-sagas: released %d reservations, timed out %d payments", len(expired), len(stuck))
