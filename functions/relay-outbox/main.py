"""relay-outbox: on a schedule, publish the events a crash or an outage left in the outbox."""

from __future__ import annotations

import logging
import threading

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import platform
from shared.consumer import relay, require_ping
from shared.observability.queues import sample_queues

RELAY_BATCH_MAX = 500
logger = logging.getLogger("paystream.relay-outbox")
# One relay at a time per process: a ping that comes while a slow one still publishes would
# only send the same rows again and add to the load that made it slow.
_RUNNING = threading.Lock()


@functions_framework.cloud_event
def relay_outbox(event: CloudEvent) -> None:
    require_ping(event, "relay-outbox")
    if not _RUNNING.acquire(blocking=False):
        logger.info("relay-outbox: the previous run is still publishing; skipping this ping")
        return
    try:
        runtime = platform()
        sample_queues(runtime.settings)
        published, failed = relay(runtime, limit=RELAY_BATCH_MAX)
    finally:
        _RUNNING.release()
    if published or failed:
        logger.info("relay-outbox: published %d, failed %d", published, failed)
    if failed:
        raise RuntimeError(f"{failed} outbox events were not accepted by the bus")
