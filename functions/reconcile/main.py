"""reconcile: once a day, reconcile yesterday (the ledger balances per currency; the transaction
history and the audit chain agree with the ledger), record any difference as flagged activity
with its metric, then store yesterday's three reports in the archive bucket."""

from __future__ import annotations

import logging
from datetime import timedelta

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import require_ping
from shared.services.reconciliation import emit_differences, reconcile_day
from shared.services.reports import ReportOptions, store_reports

logger = logging.getLogger("paystream.reconcile")


@functions_framework.cloud_event
def reconcile(event: CloudEvent) -> None:
    require_ping(event, "reconcile")
    runtime = platform()
    now = utc_now()
    day = now.date() - timedelta(days=1)
    with runtime.engine.begin() as conn:
        result = reconcile_day(conn, runtime.audit_chain, day, now=now)
    emit_differences(result)
    if not result.ok:
        logger.warning(
            "reconcile: %d differences on %s (%d new): %s",
            len(result.findings),
            day,
            result.recorded,
            ", ".join(sorted({finding.finding for finding in result.findings})),
        )
    options = ReportOptions(runtime.fx_rates.current(), runtime.settings.report_large_transaction_usd)
    with runtime.reader.connect() as conn:
        store_reports(conn, runtime.archive, day, options)
