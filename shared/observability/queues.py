"""Queue depths: every consumer's queue and dead-letter queue, sampled on relay-outbox's
schedule (every 10 s), so that the "any DLQ not empty" monitor works wherever Paystream runs."""

from __future__ import annotations

import logging
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.observability.metrics import metrics_enabled, queue_sampled
from shared.topology import ROUTES

__all__ = ["sample_queues"]

logger = logging.getLogger("paystream.observability")

_dead_letters: Any = None
_lock = threading.Lock()


def _queues(settings: Any) -> Any:
    global _dead_letters
    with _lock:
        if _dead_letters is None:
            from shared.adapters.aws import aws_client
            from shared.dead_letters import DeadLetters

            _dead_letters = DeadLetters(
                aws_client("sqs", endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)
            )
        return _dead_letters


def sample_queues(settings: Any) -> None:
    """Send the depth of every queue and DLQ (nothing when metrics are off). An unreachable
    endpoint is logged, never raised: sampling must not fail the relay it rides on."""
    if not metrics_enabled():
        return
    queues = _queues(settings)
    try:
        for route in ROUTES:
            queue_sampled(queue=route.queue_name, queue_kind="queue", depth=queues.depth(route.queue_name))
            queue_sampled(queue=route.queue_name, queue_kind="dlq", depth=queues.depth(route.dlq_name))
    except (BotoCoreError, ClientError) as error:
        logger.warning("queue depths not sampled: %s", error)
