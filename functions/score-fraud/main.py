"""score-fraud: check a requested payment against frozen accounts and the payer's KYC limits,
then assess it (hard limits, weighted rules, sanctions) and approve, hold for review or decline
it."""

from __future__ import annotations

import logging

import functions_framework
import redis
from cloudevents.http import CloudEvent

from shared.consumer import handle
from shared.domain.fraud import assess
from shared.services.limits import screen_payment
from shared.services.payments import score_payment
from shared.services.scoring import RulesCache, default_rules, read_facts
from shared.services.velocity import count_payments_in_window
from shared.topology import route_for

# What its queue receives (shared.topology.ROUTES declares it).
ACCEPTED_TYPES = frozenset(route_for("score-fraud").event_types)
logger = logging.getLogger("paystream.score-fraud")
_rules_cache: RulesCache | None = None


def _rules(conn, settings):
    global _rules_cache
    if _rules_cache is None or _rules_cache.ttl_seconds != settings.fraud_thresholds_cache_seconds:
        _rules_cache = RulesCache(settings.fraud_thresholds_cache_seconds)
    return _rules_cache.get(conn, default_rules(settings))


def _score(conn, payment, context, runtime) -> list[str]:
    # Limits first: a payment over one is declined before it is scored (shared.services.limits).
    screening = screen_payment(conn, payment, rates=runtime.fx_rates.current(), ledger=runtime.ledger, context=context)
    if screening.refused is not None:
        return screening.refused
    rules = _rules(conn, runtime.settings)
    try:
        payments_in_window = count_payments_in_window(
            runtime.redis,
            payer_id=payment.payer_id,
            payment_id=payment.payment_id,
            now=context.now,
            window_seconds=rules.velocity_window_seconds,
        )
    except redis.RedisError as error:
        # The policy when the cache is down: hold the payment for review, never approve blind.
        logger.warning("velocity unavailable for payment %s (%s): holding it", payment.payment_id, error)
        payments_in_window = None
    facts = read_facts(
        conn,
        payment,
        rules=rules,
        rates=runtime.fx_rates.current(),
        payments_in_window=payments_in_window,
        now=context.now,
    )
    return score_payment(
        conn,
        payment.payment_id,
        assess(facts, rules),
        context,
        ledger=runtime.ledger,
        hold_timeout_seconds=runtime.settings.review_hold_timeout_seconds,
    )


@functions_framework.cloud_event
def score_fraud(event: CloudEvent) -> None:
    handle("score-fraud", event, ACCEPTED_TYPES, _score)
