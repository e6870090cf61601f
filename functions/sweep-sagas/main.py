"""sweep-sagas: on a schedule, release expired reservations, compensate payments, refunds and
withdrawals that stopped moving, so that no money stays in clearing or reserved for a payout,
decline held payments whose review waited too long, close payment requests that expired,
prune Idempotency-Keys past their retention, and shred the records of erased users whose
retention period ended (their retention keys are destroyed)."""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import publish_after_commit, require_ping
from shared.services.context import EventContext
from shared.services.idempotency import purge_expired
from shared.services.payment_requests import expire_request, expired_request_ids
from shared.services.payments import stuck_payment_ids, time_out_payment
from shared.services.personal_data import shred_expired
from shared.services.refunds import stuck_refund_ids, time_out_refund
from shared.services.reviews import expire_review, expired_review_ids
from shared.services.withdrawals import stuck_withdrawal_ids, time_out_withdrawal

# Per run, of each kind: what is left waits for the next ping.
SAGAS_PER_RUN_MAX = 100
REQUESTS_PER_RUN_MAX = 100
REVIEWS_PER_RUN_MAX = 100
RESERVATIONS_PER_RUN_MAX = 500
IDEMPOTENCY_KEYS_PER_RUN_MAX = 1_000
logger = logging.getLogger("paystream.sweep-sagas")

# Each kind of saga: how to find the ones that stopped moving, and how to compensate one.
_SAGAS = (
    ("payments", stuck_payment_ids, time_out_payment),
    ("refunds", stuck_refund_ids, time_out_refund),
    ("withdrawals", stuck_withdrawal_ids, time_out_withdrawal),
)


@functions_framework.cloud_event
def sweep_sagas(event: CloudEvent) -> None:
    require_ping(event, "sweep-sagas")
    runtime = platform()
    now = utc_now()
    stuck_seconds = runtime.settings.saga_stuck_seconds
    with runtime.engine.begin() as conn:
        expired = runtime.ledger.expire_pending_transfers(conn, now, limit=RESERVATIONS_PER_RUN_MAX)
    with runtime.reader.connect() as conn:
        work = [
            (kind, compensate, find(conn, now=now, stuck_seconds=stuck_seconds, limit=SAGAS_PER_RUN_MAX))
            for kind, find, compensate in _SAGAS
        ]
        due = expired_request_ids(conn, now=now, limit=REQUESTS_PER_RUN_MAX)
        overdue_reviews = expired_review_ids(
            conn, now=now, max_age_seconds=runtime.settings.review_max_age_seconds, limit=REVIEWS_PER_RUN_MAX
        )
    context = EventContext(producer="sweep-sagas", now=now, correlation_id=event["id"])
    for _, compensate, ids in work:
        for saga_id in ids:
            # One transaction per saga: one that cannot be compensated does not hold up the rest.
            with runtime.engine.begin() as conn:
                recorded = compensate(conn, saga_id, ledger=runtime.ledger, context=context)
            publish_after_commit(runtime, recorded)
    for payment_id in overdue_reviews:
        # Declined for want of a reviewer: its hold is voided and the payer told.
        with runtime.engine.begin() as conn:
            recorded = expire_review(conn, payment_id, ledger=runtime.ledger, context=context)
        publish_after_commit(runtime, recorded)
    for request_id in due:
        with runtime.engine.begin() as conn:
            recorded = expire_request(conn, request_id, context)
        publish_after_commit(runtime, recorded)
    with runtime.engine.begin() as conn:
        purge_expired(conn, now=now, limit=IDEMPOTENCY_KEYS_PER_RUN_MAX)
    with runtime.engine.begin() as conn:
        shredded = shred_expired(conn, privacy=runtime.privacy, documents=runtime.kyc_documents, now=now)
    if shredded:
        logger.info(
            "sweep-sagas: the retention period of %d erased users ended; their records are shredded", len(shredded)
        )
    timed_out = {kind: len(ids) for kind, _, ids in work if ids}
    if expired or timed_out or due or overdue_reviews:
        logger.warning(
            "sweep-sagas: released %d reservations, timed out %s, expired %d requests and %d reviews",
            len(expired),
            timed_out or "nothing",
            len(due),
            len(overdue_reviews),
        )
