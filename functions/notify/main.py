"""notify: tell the people a payment, refund, payment request, top-up, conversion, withdrawal,
sign-up or identity check concerns, in the app and by email (SNS)."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.consumer import handle
from shared.services import notifications
from shared.topology import route_for

# What its queue receives (shared.topology.ROUTES declares it).
ACCEPTED_TYPES = frozenset(route_for("notify").event_types)


@functions_framework.cloud_event
def notify(event: CloudEvent) -> None:
    handle("notify", event, ACCEPTED_TYPES, _notify)


def _notify(conn, payload, context, runtime) -> list[str]:
    # The event handled, as delivered: not the request's own CloudEvent, which is Knative's
    # wrapper when its IntegrationSource delivers.
    notifications.notify(
        conn,
        event_id=context.cause_id,
        event_type=context.cause_type,
        payload=payload,
        notifier=runtime.notifier,
        privacy=runtime.privacy,
        now=context.now,
    )
    return []
