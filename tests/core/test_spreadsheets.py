"""The platform's one CSV writer: formulas are defused, values keep their plain form."""
from __future__ import annotations

import datetime as dt
import uuid

from exchange.core.spreadsheets import csv_text, safe_cell


def test_text_a_spreadsheet_would_run_is_quoted():
    for risky in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(risky) == "'" + risky
    assert safe_cell("Demo Buyer") == "Demo Buyer"


def test_numbers_dates_and_ids_are_written_as_they_are():
    ident = uuid.UUID(int=7)
    assert [safe_cell(v) for v in (None, -5, dt.date(2026, 11, 27), dt.datetime(2026, 11, 27, 8, tzinfo=dt.timezone.utc),
                                   ident)] == ["", "-5", "2026-11-27", "2026-11-27T08:00:00+00:00", str(ident)]


def test_a_header_then_rows_with_crlf():
    assert csv_text(("a", "b"), [(1, "=x"), (None, "y,z")]) == "a,b\r\n1,'=x\r\n,\"y,z\"\r\n"
