"""CSV for people who open it in a spreadsheet: the one way the platform writes its reports as CSV."""
from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any, Iterable, Sequence


def safe_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: text it would take for a formula (``=``, ``+``, ``-``, ``@``,
    a tab or carriage return first) gets a leading quote (OWASP's CSV injection advice); numbers,
    dates and ids are written as they are, nothing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, (int, uuid.UUID)):
        return str(value)
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A header row, then the rows, CRLF-terminated as RFC 4180 has it, every cell ``safe_cell``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue()
