"""relay-outbox: on a schedule, publish the events a crash or an outage left in the outbox."""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import platform
from shared.consumer import relay, require_ping

RELAY_BATCH_MAX = 500
logger = logging.getLogger("paystream.relay-outbox")


@functions_framework.cloud_event
def relay_outbox(event: CloudEvent) -> None:
    require_ping(event, "relay-outbox")
    published, failed = relay(platform(), limit=RELAY_BATCH_MAX)
    if published or failed:
        logger.info("relay-outbox: published %d, failed %d", published, failed)
    if failed:
        raise RuntimeError(f"{failed} outbox events were not accepted by the bus")
