"""A day's archive: the audit chain's export and the three reports, stored together in the
archive bucket. The scheduled `archive-audit` and `reconcile` runs store them for ended days;
`POST /v1/admin/archive` stores them now for any day, and `GET /v1/admin/archive` shows what is
stored."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from schemas.audit import ArchivedObject, DayArchive
from shared.adapters.archive_store import DIGEST_METADATA_KEY, ArchiveStore
from shared.adapters.audit_chain import AuditChain
from shared.domain.audit_archive import archive_key
from shared.domain.reports import REPORT_KINDS, report_key
from shared.services.audit import archive_day
from shared.services.reports import ReportOptions, store_reports

__all__ = ["archive_the_day", "stored_archive"]

_AUDIT = "audit"


def archive_the_day(
    conn: Connection, chain: AuditChain, store: ArchiveStore, day: date, options: ReportOptions
) -> DayArchive:
    """Export `day`'s audit records and store its three reports; what is stored, and whether
    each object was written by this call."""
    exported = archive_day(chain, store, day)
    written = {exported.key: exported.written}
    written.update(store_reports(conn, store, day, options))
    archive = stored_archive(store, day)
    if archive is None:  # just written: a store that loses objects is broken
        raise RuntimeError(f"the archive of {day} is not in {store.bucket} after writing it")
    return archive.model_copy(
        update={"objects": [obj.model_copy(update={"written": written.get(obj.key)}) for obj in archive.objects]}
    )


def stored_archive(store: ArchiveStore, day: date) -> DayArchive | None:
    """The objects stored for `day`, None when there is none."""
    objects = []
    for kind, key in [(_AUDIT, archive_key(day)), *[(kind, report_key(kind, day)) for kind in REPORT_KINDS]]:
        metadata = store.metadata_of(key)
        if metadata is None:
            continue
        audit = kind == _AUDIT
        objects.append(
            ArchivedObject(
                kind=kind,
                key=key,
                sha256=metadata.get(DIGEST_METADATA_KEY, ""),
                records=int(metadata.get("records", "0")) if audit else None,
                head_hash=metadata.get("head-hash", "") if audit else None,
                written=None,
            )
        )
    return DayArchive(date=day, bucket=store.bucket, objects=objects) if objects else None
