"""Sanctions screening: load the list, screen a user's names and countries at sign-up and KYC,
and record a match on the user with a `sanctions.matched` event so that support sees it.
score-fraud screens every payment's payee itself (shared.services.scoring), against the same
tables. The matching is described in shared.domain.sanctions and docs/operators.md.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.events import UserSanctionsMatched
from shared.adapters.tables import sanctioned_countries, sanctions_entries, users
from shared.domain.sanctions import (
    SanctionedCountry,
    SanctionsEntry,
    digest_of_key,
    parse_alternates,
    parse_countries,
    parse_sdn,
    screening_key,
)
from shared.ids import new_id
from shared.sanctions import BUNDLED_LIST_DIR
from shared.services.context import EventContext

__all__ = [
    "LIST_FILES",
    "SanctionsList",
    "SanctionsMatch",
    "load_list",
    "replace_list",
    "screen",
    "screen_and_record",
]

# The files of a list, in a folder or under a URL prefix.
LIST_FILES = ("sdn.csv", "alt.csv", "countries.csv")
# A list file larger than this is refused rather than read into memory (OFAC's sdn.csv is ~5 MB).
LIST_FILE_BYTES_MAX = 64 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 30
# Rows inserted per statement when a list is loaded.
INSERT_BATCH = 1000
MATCH_TEXT_LENGTH_MAX = 500


@dataclass(frozen=True)
class SanctionsList:
    entries: tuple[SanctionsEntry, ...]
    countries: tuple[SanctionedCountry, ...]


@dataclass(frozen=True)
class SanctionsMatch:
    """What a screening matched: `kind` is `name` or `country`."""

    kind: Literal["name", "country"]
    entry_ids: tuple[int, ...]
    programs: tuple[str, ...]

    def text(self) -> str:
        entries = ", ".join(str(entry_id) for entry_id in self.entry_ids)
        described = f"{self.kind} match; entries [{entries}]; programs {', '.join(self.programs)}"
        return described[:MATCH_TEXT_LENGTH_MAX]


def _read(source: str, name: str) -> str:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(f"{source.rstrip('/')}/{name}", timeout=FETCH_TIMEOUT_SECONDS) as answer:  # noqa: S310
            data = answer.read(LIST_FILE_BYTES_MAX + 1)
    else:
        data = (Path(source) / name).read_bytes()
    if len(data) > LIST_FILE_BYTES_MAX:
        raise ValueError(f"{name} is larger than {LIST_FILE_BYTES_MAX} bytes")
    return data.decode("utf-8-sig", errors="replace")


def load_list(source: str | Path = BUNDLED_LIST_DIR) -> SanctionsList:
    """Read and parse a list from a folder or a URL prefix holding LIST_FILES. OFAC's files are
    Latin-1 in places: undecodable bytes become replacement characters, never a crash."""
    source = str(source)
    primaries = parse_sdn(_read(source, "sdn.csv"))
    aliases = parse_alternates(_read(source, "alt.csv"), primaries)
    unique = {(entry.entry_id, entry.key): entry for entry in (*primaries, *aliases)}
    return SanctionsList(
        entries=tuple(unique.values()), countries=tuple(parse_countries(_read(source, "countries.csv")))
    )


def _batches(rows: list[dict], size: int) -> Iterable[list[dict]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def replace_list(conn: Connection, listed: SanctionsList, *, now: datetime) -> None:
    """Replace the stored list with `listed`, in the caller's transaction: screening sees the
    old list or the new one, never half of each."""
    conn.execute(sanctions_entries.delete())
    conn.execute(sanctioned_countries.delete())
    rows = [
        {
            "entry_id": entry.entry_id,
            "name_key": digest_of_key(entry.key),
            "name": entry.name[:350],
            "entry_type": entry.entry_type[:40],
            "programs": entry.programs[:200],
            "loaded_at": now,
        }
        for entry in listed.entries
    ]
    for batch in _batches(rows, INSERT_BATCH):
        conn.execute(sanctions_entries.insert(), batch)
    countries = {country.country: country for country in listed.countries}
    if countries:
        conn.execute(
            sanctioned_countries.insert(),
            [{"country": c.country, "program": c.program[:64], "loaded_at": now} for c in countries.values()],
        )


def screen(conn: Connection, *, names: Iterable[str], countries: Iterable[str]) -> SanctionsMatch | None:
    """Screen names and countries; the match, or None."""
    keys = sorted({key for key in (screening_key(name) for name in names) if key is not None})
    if keys:
        hits = conn.execute(
            sa.select(sanctions_entries.c.entry_id, sanctions_entries.c.programs)
            .where(sanctions_entries.c.name_key.in_(keys))
            .order_by(sanctions_entries.c.entry_id)
        ).all()
        if hits:
            return SanctionsMatch(
                kind="name",
                entry_ids=tuple(sorted({hit.entry_id for hit in hits})),
                programs=tuple(sorted({hit.programs for hit in hits})),
            )
    wanted = sorted({country for country in countries if country})
    if wanted:
        programs: list[str] = list(
            conn.execute(
                sa.select(sanctioned_countries.c.program)
                .where(sanctioned_countries.c.country.in_(wanted))
                .order_by(sanctioned_countries.c.program)
            )
            .scalars()
            .all()
        )
        if programs:
            return SanctionsMatch(kind="country", entry_ids=(), programs=tuple(programs))
    return None


def screen_and_record(
    conn: Connection,
    *,
    user_id: str,
    names: Iterable[str],
    countries: Iterable[str],
    screened_at: Literal["sign_up", "kyc"],
    context: EventContext,
) -> list[str]:
    """Screen a user at `screened_at` (`sign_up` or `kyc`); on a match, record it on the user
    (the first match's time is kept) and emit `sanctions.matched`. The event ids."""
    match = screen(conn, names=names, countries=countries)
    if match is None:
        return []
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(
            sanctions_matched_at=sa.func.coalesce(users.c.sanctions_matched_at, context.now),
            sanctions_match=match.text(),
        )
    )
    screening_id = new_id("scr")
    return [
        context.record(
            conn,
            event_type="sanctions.matched",
            subject=screening_id,
            payload=UserSanctionsMatched(
                screening_id=screening_id,
                user_id=user_id,
                screened_at=screened_at,
                match_kind=match.kind,
                entry_ids=list(match.entry_ids),
                programs=list(match.programs),
            ),
        )
    ]
