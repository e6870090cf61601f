"""archive-audit: on a schedule, export each ended day's audit records to the archive bucket as
gzipped JSON Lines, with the chain's head hash as of the day's last record in the object's
metadata. A day already exported as it is now is not written again, so any frequency is safe."""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import platform
from shared.clock import utc_now
from shared.consumer import require_ping
from shared.services.audit import archive_day, archive_due_days

logger = logging.getLogger("paystream.archive-audit")


@functions_framework.cloud_event
def archive_audit(event: CloudEvent) -> None:
    require_ping(event, "archive-audit")
    runtime = platform()
    settings = runtime.settings
    days = archive_due_days(
        utc_now(), days_back=settings.audit_archive_days_back, settle_seconds=settings.audit_archive_settle_seconds
    )
    for day in days:
        archived = archive_day(runtime.audit_chain, runtime.archive, day)
        if archived.written:
            logger.info("archive-audit: %d records of %s written to %s", archived.records, day, archived.key)
