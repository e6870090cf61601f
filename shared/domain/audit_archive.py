"""The daily export of the audit chain: which object holds a day, and its exact bytes.

A day's export is its records (those whose event time falls on that UTC day, in chain order)
as JSON Lines, gzipped. Each line keeps what verification needs: the seq, the prev_hash, the
hash and the event's canonical JSON exactly as it was hashed, so a record can be checked
against its neighbours from the export alone.

The bytes are a function of the records only: keys sorted, no whitespace, and a gzip header
with no file name and a modification time of 0. Exporting a day twice therefore gives the same
object, byte for byte, and the store can tell that it has it already.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

__all__ = [
    "ARCHIVE_CONTENT_TYPE",
    "ARCHIVE_GZIP_LEVEL",
    "archive_body",
    "archive_key",
    "archive_lines",
    "archive_metadata",
]

ARCHIVE_CONTENT_TYPE = "application/x-ndjson"
# Fixed, so that the same records always compress to the same bytes.
ARCHIVE_GZIP_LEVEL = 9
_PREFIX = "audit"


def archive_key(day: date) -> str:
    """Where a day's export lives: `audit/YYYY/MM/DD/records.jsonl.gz`."""
    return f"{_PREFIX}/{day:%Y/%m/%d}/records.jsonl.gz"


def archive_lines(records: Iterable[Mapping[str, object]]) -> bytes:
    """The records as JSON Lines (sorted keys, no insignificant whitespace, one per line)."""
    return b"".join(
        json.dumps(dict(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
        for record in records
    )


def archive_body(records: Iterable[Mapping[str, object]]) -> bytes:
    """The gzipped JSON Lines of a day, the same bytes for the same records (mtime 0)."""
    return gzip.compress(archive_lines(records), compresslevel=ARCHIVE_GZIP_LEVEL, mtime=0)


def archive_metadata(day: date, records: Sequence[Mapping[str, object]]) -> dict[str, str]:
    """The object's metadata: the day, how many records, the first and last seq, and the
    chain's head hash as of the day's last record (its hash: everything before it in the chain
    is fixed by it)."""
    last = records[-1] if records else None
    return {
        "day": day.isoformat(),
        "records": str(len(records)),
        "first-seq": str(records[0]["seq"]) if records else "0",
        "last-seq": str(last["seq"]) if last else "0",
        "head-hash": str(last["hash"]) if last else "",
    }
