"""The audit trail for operators: an entity's records, the chain's verification and its daily
export to the archive bucket. The admin routes, the `paystream audit` commands and the
scheduled `archive-audit` function call these, so each answers the same everywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from schemas.audit import AuditQuery, AuditRecordList, AuditRecordResponse, AuditVerification
from shared.adapters.archive_store import ArchiveStore
from shared.adapters.audit_chain import RECORDS_LIMIT_MAX, AuditChain, AuditRecord
from shared.domain.audit_archive import (
    ARCHIVE_CONTENT_TYPE,
    archive_body,
    archive_key,
    archive_metadata,
)

__all__ = [
    "ArchivedDay",
    "archive_day",
    "archive_due_days",
    "day_records",
    "entity_records",
    "record_line",
    "record_view",
    "verify_chain",
]

# A day's records are read this many at a time; a day holds at most this many pages
# (ten million records, far beyond a day of this platform: a bound, not a target).
_DAY_PAGES_MAX = 10_000


def record_view(record: AuditRecord) -> AuditRecordResponse:
    """A record as an operator reads it: its place in the chain and its event."""
    return AuditRecordResponse(
        seq=record.seq,
        hash=record.hash,
        prev_hash=record.prev_hash,
        event_id=record.event_id,
        event_type=record.event_type,
        subject=record.subject,
        time=record.time,
        event_json=record.event_json,
        event=json.loads(record.event_json),
    )


def entity_records(chain: AuditChain, query: AuditQuery) -> AuditRecordList:
    """A page of the records that name `query.entity_id`, oldest first."""
    records, has_more = chain.records_of_entity(query.entity_id, limit=query.limit, after_seq=query.starting_after)
    return AuditRecordList(data=[record_view(record) for record in records], has_more=has_more)


def verify_chain(chain: AuditChain, *, from_seq: int, to_seq: int | None, now: datetime) -> AuditVerification:
    """Walk the chain from `from_seq` to `to_seq` (None: the head) and report the first broken link."""
    head_seq, head_hash = chain.head()
    verification = chain.verify(from_seq=from_seq, to_seq=to_seq)
    return AuditVerification(
        ok=verification.ok,
        from_seq=from_seq,
        to_seq=to_seq,
        checked=verification.length if verification.ok else 0,
        head_seq=head_seq,
        head_hash=head_hash,
        first_broken_seq=verification.first_broken_seq,
        reason=verification.reason,
        verified_at=now,
    )


def day_records(chain: AuditChain, day: date) -> Iterator[AuditRecord]:
    """Every record whose event time falls on the UTC `day`, in chain order."""
    after: int | None = None
    for _ in range(_DAY_PAGES_MAX):
        records, has_more = chain.records_of_day(day, limit=RECORDS_LIMIT_MAX, after_seq=after)
        yield from records
        if not has_more or not records:
            return
        after = records[-1].seq
    raise RuntimeError(f"the audit records of {day} exceed {_DAY_PAGES_MAX} pages")


def record_line(record: AuditRecord) -> dict[str, object]:
    """A record as one line of an export: everything needed to check it against its neighbours."""
    return {
        "seq": record.seq,
        "event_id": record.event_id,
        "event_type": record.event_type,
        "subject": record.subject,
        "time": record.time,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "event": record.event_json,
    }


@dataclass(frozen=True)
class ArchivedDay:
    """The export of one day: where it is, what it holds, and whether this run wrote it."""

    day: date
    key: str
    records: int
    head_hash: str
    written: bool


def archive_day(chain: AuditChain, store: ArchiveStore, day: date) -> ArchivedDay:
    """Export `day`'s records to the archive as gzipped JSON Lines, with the hash of its last
    record (the chain's head as of that record) in the object's metadata. Idempotent: the same
    records give the same bytes, which the store does not write again."""
    lines = [record_line(record) for record in day_records(chain, day)]
    metadata = archive_metadata(day, lines)
    key = archive_key(day)
    written = store.put(
        key, archive_body(lines), content_type=ARCHIVE_CONTENT_TYPE, content_encoding="gzip", metadata=metadata
    )
    return ArchivedDay(day=day, key=key, records=len(lines), head_hash=metadata["head-hash"], written=written)


def archive_due_days(now: datetime, *, days_back: int, settle_seconds: int) -> list[date]:
    """The days a scheduled run exports: the `days_back` most recent days that ended at least
    `settle_seconds` ago, oldest first."""
    last = (now - timedelta(seconds=settle_seconds)).date() - timedelta(days=1)
    return [last - timedelta(days=offset) for offset in reversed(range(days_back))]
