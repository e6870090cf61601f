"""The regulatory reports as CSV: their kinds, where each is kept, and cells that a spreadsheet
cannot mistake for a formula.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by
Excel, LibreOffice and Google Sheets (CSV injection: a user's note or name such as
`=HYPERLINK(...)` would run on an analyst's machine). Such a text cell is prefixed with a single
quote, as OWASP recommends; numbers are written as numbers, so a negative amount stays one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

__all__ = [
    "FORMULA_PREFIXES",
    "REPORT_CONTENT_TYPE",
    "REPORT_KINDS",
    "render_csv",
    "report_key",
    "safe_cell",
]

REPORT_KINDS = ("daily-transactions", "large-transactions", "flagged-activity")
REPORT_CONTENT_TYPE = "text/csv"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def report_key(kind: str, day: date) -> str:
    """Where a day's report of `kind` lives: `reports/<kind>/YYYY/MM/YYYY-MM-DD.csv`."""
    if kind not in REPORT_KINDS:
        raise ValueError(f"unknown report kind {kind!r}")
    return f"reports/{kind}/{day:%Y/%m}/{day.isoformat()}.csv"


def safe_cell(value: object) -> str | int | Decimal:
    """A value as a CSV cell: numbers (integers and decimals) as they are, None as empty, text
    defused of formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite():
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def render_csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The header and the rows as CSV (RFC 4180: quoting, CRLF line ends), every cell safe.

    CRLF is also what makes the writer quote a cell holding a lone carriage return; with `\\n`
    line ends it would not, and a reader would cut the cell there."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(column) for column in columns])
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"a row of {len(row)} cells under {len(columns)} columns")
        writer.writerow([safe_cell(value) for value in row])
    return out.getvalue()
