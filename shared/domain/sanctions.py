"""Sanctions screening: names and countries against a list in the shape of OFAC's SDN files.

How names are matched. A name is reduced to a key, and two names match when their keys are
equal:

- Unicode compatibility form, accents dropped ("José Müller" -> "jose muller"), case folded;
- every character that is not a letter or a digit separates words ("O'Brien-Smith" -> "o brien
  smith"); so do the comma of the SDN's "SURNAME, Given names" form;
- honorifics and titles ("mr", "dr", "sheikh", ...) are dropped;
- the words are sorted, so word order does not matter ("KIM, Jong Un" = "Jong Un Kim").

Each entry is screened under its primary name and every alias (alt.csv). A key needs at least
two words: a lone given name or surname would match half the platform. This is exact matching on
a normal form, not fuzzy matching: a misspelt name passes, and the list's own aliases are what
catch variants, as OFAC publishes them for exactly that purpose.

Countries: a user whose country is under a comprehensive sanctions programme (the list's
`countries.csv`: programme and ISO country) matches by country, whatever their name.

The module is pure: it parses text it is given and reads no file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "NAME_KEY_LENGTH_MAX",
    "SanctionedCountry",
    "SanctionsEntry",
    "name_key",
    "digest_of_key",
    "screening_key",
    "parse_alternates",
    "parse_countries",
    "parse_sdn",
]

# Keys longer than this are cut (the column's width); no real name comes near it.
NAME_KEY_LENGTH_MAX = 200
# A key of fewer words than this is too weak to screen on.
NAME_WORDS_MIN = 2
# The SDN files write "-0-" for an empty field.
_EMPTY = "-0-"
_TITLES = frozenset(
    {"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "sheikh", "shaykh", "haji", "hajji", "general", "colonel"}
)
_SEPARATORS = re.compile(r"[^0-9a-z]+")


def name_key(name: str) -> str | None:
    """The normal form of a person's or an entity's name, or None when too short to screen."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(character for character in decomposed if not unicodedata.combining(character))
    words = [word for word in _SEPARATORS.split(plain.casefold()) if word and word not in _TITLES]
    if len(words) < NAME_WORDS_MIN:
        return None
    return " ".join(sorted(words))[:NAME_KEY_LENGTH_MAX]


def screening_key(name: str) -> str | None:
    """What is stored and compared to screen a name: the SHA-256 of its normal form
    (`name_key`), so that no table holds a person's name in clear, and screening, a join of
    equal keys, needs no secret (score-fraud screens every payee). None: too short to screen."""
    key = name_key(name)
    return None if key is None else hashlib.sha256(key.encode()).hexdigest()


def digest_of_key(key: str) -> str:
    """The screening key of a normal form already computed (a list entry's)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class SanctionsEntry:
    """One name of one listed party: its primary name or an alias."""

    entry_id: int
    name: str
    key: str
    entry_type: str
    programs: str


@dataclass(frozen=True)
class SanctionedCountry:
    country: str
    program: str


def _field(value: str) -> str:
    value = value.strip()
    return "" if value == _EMPTY else value


def _rows(text: str) -> Iterator[list[str]]:
    for row in csv.reader(io.StringIO(text)):
        if row and any(cell.strip() for cell in row):
            yield row


def parse_sdn(text: str) -> list[SanctionsEntry]:
    """The primary names of sdn.csv: ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign,
    Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks (no header row, as OFAC ships it).
    Rows whose name is too short to screen are skipped; a malformed row is a ValueError."""
    entries = []
    for number, row in enumerate(_rows(text), start=1):
        if len(row) < 4 or not row[0].strip().isdigit():
            raise ValueError(f"sdn.csv row {number}: expected ent_num, SDN_Name, SDN_Type, Program, ...")
        key = name_key(row[1])
        if key is None:
            continue
        entries.append(
            SanctionsEntry(
                entry_id=int(row[0]),
                name=_field(row[1]),
                key=key,
                entry_type=_field(row[2]) or "entity",
                programs=_field(row[3]),
            )
        )
    return entries


def parse_alternates(text: str, primaries: Iterable[SanctionsEntry]) -> list[SanctionsEntry]:
    """The aliases of alt.csv (ent_num, alt_num, alt_type, alt_name, alt_remarks), each as an
    entry of the primary it belongs to. An alias of an unknown entry is a ValueError."""
    by_id = {entry.entry_id: entry for entry in primaries}
    aliases = []
    for number, row in enumerate(_rows(text), start=1):
        if len(row) < 4 or not row[0].strip().isdigit():
            raise ValueError(f"alt.csv row {number}: expected ent_num, alt_num, alt_type, alt_name, ...")
        primary = by_id.get(int(row[0]))
        if primary is None:
            raise ValueError(f"alt.csv row {number}: no sdn.csv entry {row[0].strip()}")
        key = name_key(row[3])
        if key is None:
            continue
        aliases.append(
            SanctionsEntry(
                entry_id=primary.entry_id,
                name=_field(row[3]),
                key=key,
                entry_type=primary.entry_type,
                programs=primary.programs,
            )
        )
    return aliases


def parse_countries(text: str) -> list[SanctionedCountry]:
    """countries.csv: program, ISO 3166-1 alpha-2 country, one a line (header `program,country`)."""
    countries = []
    for number, row in enumerate(_rows(text), start=1):
        if number == 1 and row[0].strip().lower() == "program":
            continue
        if len(row) != 2 or not re.fullmatch(r"[A-Z]{2}", row[1].strip()):
            raise ValueError(f"countries.csv row {number}: expected program,country (ISO alpha-2)")
        countries.append(SanctionedCountry(country=row[1].strip(), program=row[0].strip()))
    return countries
