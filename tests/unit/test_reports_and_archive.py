"""The pure parts of the reports and the audit export: CSV cells no spreadsheet runs, and an
export whose bytes depend on its records only."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.audit_archive import archive_body, archive_key, archive_metadata
from shared.domain.reports import FORMULA_PREFIXES, REPORT_KINDS, render_csv, report_key, safe_cell

cells = st.one_of(st.none(), st.integers(min_value=-(10**15), max_value=10**15), st.text(max_size=30))


@given(st.lists(st.tuples(cells, cells, cells), max_size=20))
def test_no_text_cell_of_a_report_starts_like_a_formula_and_every_value_reads_back(rows):
    # WHEN any rows are rendered
    text = render_csv(("a", "b", "c"), rows)

    # THEN no text cell starts with a formula character, and each reads back as it was (a
    # defused cell with its one quote)
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == ["a", "b", "c"] and len(parsed) == len(rows) + 1
    for written, read in zip(rows, parsed[1:], strict=True):
        for value, cell in zip(written, read, strict=True):
            if isinstance(value, int):
                assert cell == str(value)  # a negative amount stays a number
            elif value is None:
                assert cell == ""
            elif value.startswith(FORMULA_PREFIXES):
                assert cell == "'" + value
            else:
                assert cell == value


def test_the_formula_characters_are_defused_and_rows_must_fit_the_columns():
    assert [safe_cell(v) for v in ("=1+1", "+1", "-x", "@SUM(A1)", "\tx", "plain", -5, True)] == [
        "'=1+1",
        "'+1",
        "'-x",
        "'@SUM(A1)",
        "'\tx",
        "plain",
        -5,
        "true",
    ]
    with pytest.raises(ValueError):
        render_csv(("a", "b"), [("only one",)])


def test_reports_and_exports_live_under_their_kind_and_day():
    assert report_key("flagged-activity", date(2026, 12, 5)) == "reports/flagged-activity/2026/12/2026-12-05.csv"
    assert archive_key(date(2026, 12, 5)) == "audit/2026/12/05/records.jsonl.gz"
    assert set(REPORT_KINDS) == {"daily-transactions", "large-transactions", "flagged-activity"}
    with pytest.raises(ValueError):
        report_key("monthly", date(2026, 12, 5))


records = st.lists(
    st.fixed_dictionaries({"seq": st.integers(1, 10**9), "hash": st.text(max_size=64), "event": st.text(max_size=80)}),
    max_size=10,
)


@given(records)
def test_an_export_is_the_same_bytes_every_time_and_holds_its_records_as_json_lines(lines):
    first, second = archive_body(lines), archive_body([dict(reversed(list(line.items()))) for line in lines])

    assert first == second  # key order and time do not matter: mtime 0, sorted keys
    assert first[4:8] == b"\x00\x00\x00\x00"
    assert len(gzip.decompress(first).splitlines()) == len(lines)
    metadata = archive_metadata(date(2026, 1, 2), lines)
    assert metadata["records"] == str(len(lines))
    assert metadata["head-hash"] == (str(lines[-1]["hash"]) if lines else "")
