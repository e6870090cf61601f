"""verify-kyc: decide an uploaded identity document by the sandbox verifier's rules (verified,
rejected, or sent to support for review), and move its owner's KYC level and status with it."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.consumer import PoisonEvent, handle
from shared.services import kyc
from shared.topology import route_for

# What its queue receives (shared.topology.ROUTES declares it).
ACCEPTED_TYPES = frozenset(route_for("verify-kyc").event_types)


def _verify(conn, payload, context, runtime) -> list[str]:
    try:
        return kyc.verify_document(conn, payload.document_id, context=context, privacy=runtime.privacy)
    except kyc.KycDocumentMissing as missing:
        # The event and its document are written in one transaction: no retry can find it.
        raise PoisonEvent(description=str(missing)) from None


@functions_framework.cloud_event
def verify_kyc(event: CloudEvent) -> None:
    handle("verify-kyc", event, ACCEPTED_TYPES, _verify)
